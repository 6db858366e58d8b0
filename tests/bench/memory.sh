#!/usr/bin/env bash
# make bench-memory: what an idle keep-alive client connection costs, and heap allocations per
# proxied request in steady state; ferry (io_uring and epoll) and HAProxy side by side.
#
#   bash tests/bench/memory.sh BUILD_DIR
#
# Settings: MEMORY_CONNECTIONS=10000 (idle connections), MEMORY_BURST=200 (opened per burst,
# back to back), MEMORY_SECONDS=5 (wrk run counted for allocations), MEMORY_OUT (the report,
# tests/bench/RESULTS-memory.md).
#
# Idle connections: tests/bench/conn_burst opens them in bursts as fast as it can, sends one GET
# on each, checks every one is answered (no reset, no silent close), then holds them idle. The
# proxy's RSS (VmRSS) before and while they are held, divided by their number, is the cost per
# connection; the heap part is the live bytes counted by the LD_PRELOAD counter
# (tests/bench/malloc_count.c), the rest of RSS is not heap (stacks, maps, io_uring rings); the
# kernel's share (socket structures, outside any RSS) is the growth of Slab in /proc/meminfo,
# which counts both ends of each loopback connection.
# Allocations per request: the counter's allocation calls over a wrk run after a warm-up run,
# divided by the requests.
set -euo pipefail

build=$(realpath "${1:-build}")
n=${MEMORY_CONNECTIONS:-10000}
burst=${MEMORY_BURST:-200}
secs=${MEMORY_SECONDS:-5}
out=${MEMORY_OUT:-tests/bench/RESULTS-memory.md}
ferry_bin=$build/ferry
burst_bin=$build/tests/conn_burst
counter_lib=$build/tests/libferry_malloc_count.so
for f in "$ferry_bin" "$burst_bin" "$counter_lib"; do
  [[ -e $f ]] || { echo "bench-memory: $f missing (make build)" >&2; exit 1; }
done
for tool in wrk haproxy nginx curl; do
  command -v "$tool" >/dev/null || { echo "bench-memory: $tool missing (deploy/install-deps.sh --bench)" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
((n * 2 + 1000 <= $(ulimit -n))) || echo "bench-memory: file limit $(ulimit -n) is low for $n connections" >&2

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init memory

b1=$(port); b2=$(port)

mkdir -p "$dir/www"
chmod 755 "$dir" "$dir/www"  # nginx workers may run as another user
head -c 100 /dev/zero | tr '\0' a >"$dir/www/100"
cat >"$dir/backend.conf" <<NGX
$(nginx_main backend)
worker_rlimit_nofile 19000;
events { worker_connections 18000; }
http {
  access_log off;
  $(nginx_temps)
  keepalive_requests 10000000;
  server { listen 127.0.0.1:$b1 backlog=4096; root $dir/www; }
  server { listen 127.0.0.1:$b2 backlog=4096; root $dir/www; }
}
NGX
nginx -c "$dir/backend.conf" & pids+=($!)

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
# allocations frees live_bytes, from the counter file
counters() { od -An -t d8 -N 24 -v "$1" | tr -s ' \n' ' ' | awk '{print $1, $2, $3}'; }

start_proxy() {  # name -> sets proxy_pid, proxy_port, count_file
  local name=$1
  proxy_port=$(port)
  count_file=$dir/$name.count
  case $name in
    ferry-*)
      cat >"$dir/$name.yaml" <<YML
workers: 2
access_log: false
log_level: warn
listeners:
  - name: web
    address: 127.0.0.1:$proxy_port
    idle_timeout: 300s
    routes: [ { match: { path_prefix: / }, cluster: c } ]
clusters:
  - name: c
    endpoints: [127.0.0.1:$b1, 127.0.0.1:$b2]
    max_idle_per_worker: 256
YML
      FERRY_MALLOC_COUNT_FILE=$count_file LD_PRELOAD=$counter_lib \
        "$ferry_bin" -c "$dir/$name.yaml" --io "${name#ferry-}" >"$dir/$name.log" 2>&1 &
      ;;
    haproxy)
      cat >"$dir/haproxy.cfg" <<HAP
global
  nbthread 2
  maxconn $hap_max
defaults
  mode http
  timeout connect 2s
  timeout client 300s
  timeout server 30s
  timeout http-keep-alive 300s
  http-reuse always
frontend web
  bind 127.0.0.1:$proxy_port
  default_backend c
backend c
  balance roundrobin
  server s1 127.0.0.1:$b1
  server s2 127.0.0.1:$b2
HAP
      FERRY_MALLOC_COUNT_FILE=$count_file LD_PRELOAD=$counter_lib \
        haproxy -f "$dir/haproxy.cfg" -db >"$dir/haproxy.log" 2>&1 &
      ;;
  esac
  proxy_pid=$!
  pids+=("$proxy_pid")
  wait_port "$proxy_port" 100
}

stop_proxy() {
  kill "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
}

# HAProxy reserves two descriptors per connection (client and server side) and will not start
# with maxconn above half the file limit: past that it holds fewer connections (said in the table).
hap_max=$((($(ulimit -n) - 400) / 2))
rows=()
alloc_rows=()
burst_rows=()
for name in ferry-io_uring ferry-epoll haproxy; do
  start_proxy "$name"
  # Warm up: connections, frames and pools reach their steady size.
  "$burst_bin" "127.0.0.1:$proxy_port" 500 --burst "$burst" --path /100 >/dev/null || true
  wrk -t1 -c32 -d2s "http://127.0.0.1:$proxy_port/100" >/dev/null
  sleep 1
  # Heap allocations per request.
  read -r a0 _ _ < <(counters "$count_file")
  reqs=$(wrk -t1 -c32 -d"${secs}s" "http://127.0.0.1:$proxy_port/100" | awk '/requests in/ {print $1}')
  read -r a1 _ _ < <(counters "$count_file")
  alloc_rows+=("| $name | $reqs | $((a1 - a0)) | $(awk -v a=$((a1 - a0)) -v r="$reqs" 'BEGIN {printf "%.4f", a / r}') |")
  # Idle connections.
  sleep 1
  r0=$(rss_kb "$proxy_pid"); s0=$(slab_kb); read -r _ _ h0 < <(counters "$count_file")
  count=$n
  [[ $name == haproxy && $count -gt $((hap_max - 100)) ]] && count=$((hap_max - 100))
  rm -f "$dir/hold.in"; mkfifo "$dir/hold.in"
  "$burst_bin" "127.0.0.1:$proxy_port" "$count" --burst "$burst" --inflight "$burst" --path /100 \
    --hold --timeout 120 \
    <"$dir/hold.in" >"$dir/hold.out" & hold_pid=$!
  exec 7>"$dir/hold.in"  # held open: conn_burst keeps its connections until this closes
  for _ in $(seq 1300); do grep -q '^holding' "$dir/hold.out" && break; sleep 0.1; done
  result=$(sed -n 1p "$dir/hold.out")
  held=$(awk '/^holding/ {print $2}' "$dir/hold.out")
  held=${held:-1}
  sleep 2  # completions and frees settle
  r1=$(rss_kb "$proxy_pid"); s1=$(slab_kb); read -r _ _ h1 < <(counters "$count_file")
  exec 7>&-
  wait "$hold_pid" 2>/dev/null || true
  still=$(awk '/^still_open/ {print $2}' "$dir/hold.out")
  rss_b=$(awk -v a="$r0" -v b="$r1" -v n="$held" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}')
  heap_b=$(awk -v a="$h0" -v b="$h1" -v n="$held" 'BEGIN {printf "%.0f", (b - a) / n}')
  other_b=$((rss_b - heap_b))
  slab_b=$(awk -v a="$s0" -v b="$s1" -v n="$held" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}')
  rows+=("| $name | $held | $still | $rss_b | $heap_b | $other_b | $slab_b |")
  echo "bench-memory: $name: $result; RSS $rss_b B/conn (heap $heap_b), kernel slab $slab_b B/conn (both ends)" >&2
  # The burst: as many connections as fast as conn_burst can open them, one request each.
  sleep 1
  burst_out=$("$burst_bin" "127.0.0.1:$proxy_port" "$count" --burst "$burst" --path /100 --timeout 120 | tr '\n' ' ' || true)
  burst_rows+=("| $name | $burst_out |")
  echo "bench-memory: $name burst: $burst_out" >&2
  stop_proxy
done

{
  echo "# ferry memory results"
  echo
  echo "Written by \`make bench-memory\` (tests/bench/memory.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?'), kernel $(uname -r)."
  echo "ferry: 2 workers, pooled keep-alive; HAProxy $(haproxy -v 2>/dev/null | awk 'NR==1 {print $3}'): nbthread 2, http-reuse always. Both under the LD_PRELOAD counter."
  echo
  echo "## Idle keep-alive client connections ($n opened with at most $burst waiting for an answer, each answered once, then held)"
  echo
  echo "| proxy | held | still open at the end | RSS B/conn | heap B/conn | RSS not heap B/conn | kernel slab B/conn (both ends) |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Burst: $n connections opened back to back in bursts of $burst, one GET each (HAProxy: its maxconn, $((hap_max - 100)), under this file limit)"
  echo
  echo "| proxy | conn_burst result |"
  echo "|---|---|"
  printf '%s\n' "${burst_rows[@]}"
  echo
  echo "## Heap allocations per proxied request (100 B GET, keep-alive, wrk -c32, ${secs} s after a warm-up)"
  echo
  echo "| proxy | requests | allocation calls | per request |"
  echo "|---|---|---|---|"
  printf '%s\n' "${alloc_rows[@]}"
  echo
  echo "Command: \`MEMORY_CONNECTIONS=$n make bench-memory\`"
} >"$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
