#!/usr/bin/env bash
# tcp_splice: the CPU a TCP listener (`protocol: tcp`) spends moving a volume of bytes, with the
# relay splicing in the kernel (the default on Linux) and with it copying through buffers
# (FERRY_SPLICE=0), on io_uring and on epoll. One connection: tcp_volume's client sends
# TCP_BYTES (default 1 GiB) through ferry to tcp_volume's backend, which answers with the count.
# Prints ferry's CPU seconds (utime+stime, /proc/PID/stat) and the wall time of each run.
# Settings: TCP_BYTES, TCP_ROUNDS (default 3), TCP_IO ("io_uring epoll").
# Only loopback; every process started here is ended by its PID.
set -euo pipefail
build=$(realpath "${1:-build}")
bytes=${TCP_BYTES:-1073741824}
rounds=${TCP_ROUNDS:-3}
ios=${TCP_IO:-"io_uring epoll"}
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init tcp

hz=$(getconf CLK_TCK)

run_one() {  # io splice -> "cpu_s wall_s"
  local io=$1 splice=$2 fp fa bp ferry_pid backend_pid t0 t1 w0 w1
  rm -f "$dir/bport"
  "$build/tests/tcp_volume" backend "$dir/bport" >"$dir/backend.out" & backend_pid=$!; pids+=($backend_pid)
  for _ in $(seq 100); do [[ -s $dir/bport ]] && break; sleep 0.05; done
  bp=$(cat "$dir/bport"); fp=$(port); fa=$(port)
  cat >"$dir/ferry.yaml" <<YML
workers: 1
access_log: false
log_level: warn
admin: { address: 127.0.0.1:$fa }
listeners:
  - { name: t, address: 127.0.0.1:$fp, protocol: tcp, cluster: c }
clusters:
  - { name: c, endpoints: [127.0.0.1:$bp] }
YML
  FERRY_SPLICE=$splice "$build/ferry" -c "$dir/ferry.yaml" --io "$io" >"$dir/ferry.log" 2>&1 & ferry_pid=$!
  pids+=($ferry_pid)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$fa/ready" >/dev/null 2>&1 && break; sleep 0.05; done
  if ! kill -0 "$ferry_pid" 2>/dev/null; then
    echo "tcp_splice: ferry did not start:" >&2; cat "$dir/ferry.log" >&2; exit 1
  fi
  t0=$(ticks "$ferry_pid"); w0=$(date +%s.%N)
  if ! "$build/tests/tcp_volume" client "$fp" "$bytes" >"$dir/client.out"; then
    echo "tcp_splice: the volume did not arrive whole ($(cat "$dir/client.out"))" >&2; exit 1
  fi
  w1=$(date +%s.%N)
  if ! t1=$(ticks "$ferry_pid" 2>/dev/null); then
    echo "tcp_splice: ferry ended during the run:" >&2; cat "$dir/ferry.log" >&2; exit 1
  fi
  kill "$ferry_pid"; wait "$ferry_pid" 2>/dev/null || true
  wait "$backend_pid" 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" -v hz="$hz" -v w0="$w0" -v w1="$w1" 'BEGIN {printf "%.2f %.2f\n", (b-a)/hz, w1-w0}'
}

echo "| io | relay | ferry CPU s per $((bytes >> 20)) MiB (median, min-max of $rounds) | wall s (median) |"
echo "|---|---|---|---|"
for io in $ios; do
  declare -A cpu=() wall=()
  for r in $(seq "$rounds"); do
    for splice in 1 0; do  # alternating, so drift in the machine's load hits both alike
      read -r c w < <(run_one "$io" "$splice")
      cpu[$splice]+="$c "; wall[$splice]+="$w "
    done
  done
  for splice in 1 0; do
    med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {printf "%s", a[int((NR+1)/2)]}'; }
    mm() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {printf "%s-%s", a[1], a[NR]}'; }
    echo "| $io | $([[ $splice == 1 ]] && echo splice || echo buffers) | $(echo "${cpu[$splice]}" | med) ($(echo "${cpu[$splice]}" | mm)) | $(echo "${wall[$splice]}" | med) |"
  done
  unset cpu wall
done
