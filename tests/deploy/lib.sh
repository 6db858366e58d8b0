# Shared by tests/deploy/*.sh: skips that are counted, temporary directories that go away.
# skip NAME REASON: prints "SKIP NAME: REASON" and exits 77 (ctest's SKIP_RETURN_CODE).
skip() { echo "SKIP $1: $2"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Tools fetched from npm for the checks live here, outside the tree: one folder per content of
# tests/deploy/package.json, so worktrees with different tool lists never reinstall under each
# other's running checks.
tools_cache=${FERRY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry-deploy-tools}/$(
  sha256sum "$top/tests/deploy/package.json" | cut -c1-12)
# npm_tools: installs tests/deploy/package.json's pinned packages into the cache once (quiet,
# no audit); returns non-zero when npm is missing or the registry cannot be reached.
npm_tools() {
  command -v npm >/dev/null || return 1
  mkdir -p "$tools_cache"
  # One install at a time (ctest runs these checks in parallel); released when the shell exits.
  exec 9>"$tools_cache/.lock"
  flock 9
  if ! cmp -s "$top/tests/deploy/package.json" "$tools_cache/package.json" ||
     [[ ! -d "$tools_cache/node_modules" ]]; then
    cp "$top/tests/deploy/package.json" "$tools_cache/package.json"
    (cd "$tools_cache" && timeout 240 npm install --no-audit --no-fund --loglevel=error \
       >"$tools_cache/npm.log" 2>&1) || { rm -f "$tools_cache/package.json"; return 1; }
  fi
  flock -u 9
  # ES modules resolve packages from the script's folder up: scripts run from $tmp find them.
  ln -sfn "$tools_cache/node_modules" "$tmp/node_modules"
}
# drain_seconds CONFIG: how long a graceful stop of ferry with this config may take, in whole
# seconds rounded up: drain_delay (default off) + drain_timeout (default 30s), read from the
# YAML with the durations as ferry spells them (100ms, 5s, 1m, 1h, or a sum like 1m30s).
drain_seconds() {
  python3 - "$1" <<'PY'
import math, re, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1])) or {}
def secs(v, default):
    if v is None or v is False or v == "off":
        return default
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(v))
    if not parts or "".join(n + u for n, u in parts) != str(v):
        sys.exit(f"drain_seconds: cannot read the duration {v!r}")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * unit[u] for n, u in parts)
print(math.ceil(secs(cfg.get("drain_delay"), 0) + secs(cfg.get("drain_timeout"), 30)))
PY
}
