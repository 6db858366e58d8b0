#!/usr/bin/env bash
# deploy/compose: `docker-compose config -q` (Debian's docker-compose; any output fails), every
# bind-mounted file present, the configs of ferry and both backends pass ferry --check and agree
# with the compose addresses, each ferry service's stop_grace_period outlasts its config's
# drain, `promtool check config` on the Prometheus config with dashboards/ where the compose
# file mounts it (its alert rules must load), and Grafana's provisioning pointing at the compose
# services and mounts.
#   tests/deploy/compose.sh FERRY_BINARY
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary=$1
dir="$top/deploy/compose"

for f in ferry.yaml backend-a.yaml backend-b.yaml; do
  sed "s|/usr/local/share/ferry/demo|$top/deploy/demo|g" "$dir/$f" > "$tmp/$f"
  "$binary" --check "$tmp/$f" >/dev/null || fail "ferry --check rejects deploy/compose/$f"
done
for ep in $(sed -n 's/.*endpoints: \[\(.*\)\]/\1/p' "$dir/ferry.yaml" | tr -d ' ' | tr ',' ' '); do
  grep -q "ipv4_address: ${ep%:*}\$" "$dir/compose.yaml" || fail "endpoint $ep is no compose service's address"
done
grep -q 'url: http://prometheus:9090' "$top/dashboards/provisioning/datasources/ferry.yaml" ||
  fail "Grafana's datasource does not point at the compose service prometheus:9090"
grep -q "path: /var/lib/grafana/dashboards/ferry" "$top/dashboards/provisioning/dashboards/ferry.yaml" ||
  fail "Grafana's dashboard provider does not read the folder compose mounts"
# Docker sends SIGKILL after stop_grace_period: each ferry service's must outlast the drain of
# the config it runs (drain_delay + drain_timeout).
python3 - "$dir" <<'PY' > "$tmp/grace"
import os, re, sys, yaml
d = sys.argv[1]
compose = yaml.safe_load(open(os.path.join(d, "compose.yaml")))
for name, svc in compose["services"].items():
    if not str(svc.get("image", "")).startswith("ferry"):
        continue
    cfg = next(v.split(":")[0] for v in svc["volumes"] if v.split(":")[1].startswith("/etc/ferry/"))
    g = re.fullmatch(r"(\d+)s", str(svc.get("stop_grace_period", "")))
    print(name, os.path.join(d, cfg), g.group(1) if g else "unset")
PY
[[ $(wc -l < "$tmp/grace") -eq 3 ]] || fail "expected 3 ferry services in compose.yaml: $(cat "$tmp/grace")"
while read -r svc cfg grace; do
  drain=$(drain_seconds "$cfg")
  [[ $grace != unset && $grace -gt $drain ]] ||
    fail "service $svc: stop_grace_period ($grace s) is not above its config's drain ($drain s)"
done < "$tmp/grace"
echo "ok: configs, addresses, Grafana provisioning, stop_grace_period above the drain"

command -v docker-compose >/dev/null || skip compose "docker-compose not installed (Debian: docker-compose)"
out=$(cd "$dir" && docker-compose -f compose.yaml config -q 2>&1) || fail "docker-compose config: $out"
[[ -z $out ]] || fail "docker-compose config -q printed: $out"
# Every bind mount's source exists (a renamed file would start a container on an empty dir).
(cd "$dir" && docker-compose -f compose.yaml config) > "$tmp/resolved.yaml"
while read -r src; do
  [[ -e $src ]] || fail "compose mounts $src, which does not exist"
done < <(sed -n 's/^ *- \(\/[^:]*\):.*/\1/p; s/^ *source: \(\/.*\)/\1/p' "$tmp/resolved.yaml")
echo "ok: docker-compose config"

command -v promtool >/dev/null || skip prometheus-config "promtool not installed (Debian: prometheus)"
cp "$dir/prometheus.yml" "$tmp/prometheus.yml"
ln -s "$top/dashboards" "$tmp/ferry"  # as compose mounts it at /etc/prometheus/ferry
out=$(promtool check config "$tmp/prometheus.yml" 2>&1) || fail "promtool check config: $out"
echo "$out" | grep -qE "SUCCESS: [1-9][0-9]* rule files found" || fail "no alert rules loaded: $out"
echo "ok: promtool check config ($(echo "$out" | grep -o '[0-9]* rules found' | head -1))"
