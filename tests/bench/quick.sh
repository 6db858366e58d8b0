#!/usr/bin/env bash
# bench-quick: a first speed read, not a test. ferry and HAProxy (nbthread 2, http-reuse always)
# in front of the same two nginx backends; wrk runs 10 s against each, alternating, twice.
# Prints requests/s, p99 latency, the proxy's CPU microseconds per request (from /proc) and
# the backend connections it opened (nginx stub_status accepts), then ferry/HAProxy ratios.
# Only loopback; every process started here is ended by its PID.
set -euo pipefail
ferry_bin=$(realpath "${1:-build/ferry}")
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-2}
conns=${BENCH_CONNECTIONS:-64}
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init bench

b1=$(port); b2=$(port); stat=$(port); fp=$(port); hp=$(port); fa=$(port)

cat > "$dir/nginx.conf" <<NGX
$(nginx_main nginx)
events { worker_connections 4096; }
http {
  access_log off;
  $(nginx_temps)
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$b1; location / { return 200 "s1\n"; } }
  server { listen 127.0.0.1:$b2; location / { return 200 "s2\n"; } }
  server { listen 127.0.0.1:$stat; location / { stub_status; } }
}
NGX
nginx -c "$dir/nginx.conf" & pids+=($!)

cat > "$dir/ferry.yaml" <<YML
workers: 2
access_log: false
log_level: warn
admin: { address: 127.0.0.1:$fa }
listeners:
  - name: web
    address: 127.0.0.1:$fp
    routes: [ { match: { path_prefix: / }, cluster: c } ]
clusters:
  - name: c
    endpoints: [127.0.0.1:$b1, 127.0.0.1:$b2]
    max_idle_per_worker: 256
YML
"$ferry_bin" -c "$dir/ferry.yaml" >"$dir/ferry.log" 2>&1 & ferry_pid=$!; pids+=($ferry_pid)

cat > "$dir/haproxy.cfg" <<HAP
global
  nbthread 2
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend web
  bind 127.0.0.1:$hp
  default_backend c
backend c
  balance roundrobin
  server s1 127.0.0.1:$b1
  server s2 127.0.0.1:$b2
HAP
haproxy -f "$dir/haproxy.cfg" -db >"$dir/haproxy.log" 2>&1 & hap_pid=$!; pids+=($hap_pid)

wait_port "$b1"; wait_port "$fp"; wait_port "$hp"

accepts() { curl -s "http://127.0.0.1:$stat/" | awk 'NR==3 {print $1}'; }
hz=$(getconf CLK_TCK)

printf '%-8s %5s %10s %10s %12s %14s\n' proxy round req/s p99 cpu_us/req backend_conns
declare -A sum_rps sum_cpu
for r in $(seq "$rounds"); do
  for name in ferry haproxy; do
    if [[ $name == ferry ]]; then p=$fp; pid=$ferry_pid; else p=$hp; pid=$hap_pid; fi
    a0=$(accepts); c0=$(ticks "$pid")
    out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$p/")
    c1=$(ticks "$pid"); a1=$(accepts)
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
    printf '%-8s %5s %10s %10s %12s %14s\n' "$name" "$r" "$rps" "$p99" "$cpu" $((a1 - a0 - 1))
    sum_rps[$name]=$(awk -v a="${sum_rps[$name]:-0}" -v b="$rps" 'BEGIN {print a + b}')
    sum_cpu[$name]=$(awk -v a="${sum_cpu[$name]:-0}" -v b="$cpu" 'BEGIN {print a + b}')
  done
done
awk -v fr="${sum_rps[ferry]}" -v hr="${sum_rps[haproxy]}" -v fc="${sum_cpu[ferry]}" -v hc="${sum_cpu[haproxy]}" \
  'BEGIN {printf "ratio ferry/haproxy: req/s %.2f, cpu per request %.2f (lower is better)\n", fr / hr, fc / hc}'
