#!/usr/bin/env bash
# profile: where ferry's CPU goes in one scenario, with perf (linux-perf; the software clock:
# hardware counters are not available in this VM). One nginx backend (100 B), ferry with 2
# workers, wrk for PROFILE_SECONDS (default 10) with `perf record -g` on ferry's PID meanwhile;
# prints the top of `perf report` (self time, then by caller) and ferry's CPU us per request.
#
#   bash tests/bench/profile.sh BUILD_DIR [S1|S2|S3|S4]  (PROFILE_IO=io_uring|epoll, PROFILE_OUT=dir)
#
# S2 is a new connection per request (`Connection: close`), S1 keep-alive; S3 and S4 are
# keep-alive GETs of a 64 KiB and a 1 MiB file (nginx sendfile), with 32 and 8 connections as in
# make bench. Only loopback; every process started here is ended by its PID.
set -euo pipefail
build=$(realpath "${1:-build}")
scenario=${2:-S2}
secs=${PROFILE_SECONDS:-10}
io=${PROFILE_IO:-io_uring}
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init profile
out=${PROFILE_OUT:-$dir}
[[ $out == "$dir" ]] && keep_dir=1  # perf.data stays there
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
bp=$(port); fp=$(port); fa=$(port)
cat >"$dir/nginx.conf" <<NGX
$(nginx_main nginx)
events { worker_connections 4096; }
http {
  access_log off;
  $(nginx_temps)
  keepalive_requests 1000000;
  sendfile on;
  server {
    listen 127.0.0.1:$bp;
    location / { return 200 "$(head -c 100 /dev/zero | tr '\0' a)"; }
    location /f/ { alias $dir/www/; }
  }
}
NGX
mkdir -p "$dir/www"
chmod 755 "$dir" "$dir/www"  # nginx workers may run as another user
head -c 65536 /dev/zero | tr '\0' b >"$dir/www/64k"
head -c 1048576 /dev/zero | tr '\0' c >"$dir/www/1m"
nginx -c "$dir/nginx.conf" & pids+=($!)
cat >"$dir/ferry.yaml" <<YML
workers: 2
access_log: false
log_level: warn
admin: { address: 127.0.0.1:$fa }
listeners:
  - name: web
    address: 127.0.0.1:$fp
    routes: [ { match: { path_prefix: / }, cluster: c } ]
clusters:
  - { name: c, endpoints: [127.0.0.1:$bp], max_idle_per_worker: 256 }
YML
"$build/ferry" -c "$dir/ferry.yaml" --io "$io" >"$dir/ferry.log" 2>&1 & ferry_pid=$!; pids+=($ferry_pid)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$fa/ready" >/dev/null 2>&1 && break; sleep 0.05; done
headers=()
[[ $scenario == S2 ]] && headers=(-H "Connection: close")
path=/ conns=64
[[ $scenario == S3 ]] && path=/f/64k conns=32
[[ $scenario == S4 ]] && path=/f/1m conns=8
wrk -t1 -c$conns -d2s "${headers[@]}" "http://127.0.0.1:$fp$path" >/dev/null  # warm-up
t0=$(ticks "$ferry_pid")
perf record -q -g -F 999 -p "$ferry_pid" -o "$out/perf.data" -- sleep "$secs" 2>/dev/null & perf_pid=$!
wrk -t1 -c$conns -d"${secs}s" "${headers[@]}" "http://127.0.0.1:$fp$path" >"$dir/wrk.txt"
wait "$perf_pid" || true
t1=$(ticks "$ferry_pid")
reqs=$(awk '/requests in/ {print $1}' "$dir/wrk.txt")
echo "scenario $scenario io $io: $reqs requests in ${secs}s; ferry CPU $(awk -v a="$t0" -v b="$t1" -v r="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", (b-a)/hz*1e6/r}') us/request"
perf report -i "$out/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -40
echo "perf data: $out/perf.data"
