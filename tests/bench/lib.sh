# shellcheck shell=bash
# tests/bench/lib.sh: what the benchmark scripts share. Sourced, not run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_init NAME             $dir, a scratch directory (/tmp/ferry-NAME-XXXXXX, with tmp/ for
#                               nginx), $pids, the processes to end; on exit each is ended by its
#                               PID and $dir removed (kept when keep_dir=1)
#   port                        a free TCP port on 127.0.0.1, none this script took before
#   nginx_main NAME [WORKERS]   the main block of an nginx.conf: workers (1), pid and error log
#                               in $dir named after NAME, in the foreground
#   nginx_temps                 the temp paths an nginx http {} block needs, in $dir/tmp
#   wait_port PORT [PATH]       until http://127.0.0.1:PORT/PATH answers (10 s at most)
#   ticks PID                   utime+stime of a process, in clock ticks
#
# Only loopback; nothing here ends a process it did not start.

bench_init() {
  dir=$(mktemp -d "/tmp/ferry-$1-XXXXXX")
  mkdir -p "$dir/tmp"
  pids=()
  keep_dir=${keep_dir:-0}
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ $keep_dir == 1 ]] || rm -rf "$dir"
}

bench_used_ports=" "
port() {
  local p
  while :; do
    p=$(shuf -i 20000-32000 -n 1)
    [[ $bench_used_ports == *" $p "* ]] && continue
    ss -Htan "sport = :$p" 2>/dev/null | grep -q . && continue
    bench_used_ports+="$p "
    echo "$p"
    return
  done
}

nginx_main() {
  printf 'worker_processes %s;\npid %s/%s.pid;\nerror_log %s/%s-error.log;\ndaemon off;\n' \
    "${2:-1}" "$dir" "$1" "$dir" "$1"
}

nginx_temps() {
  echo "client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;"
  echo "  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;"
}

wait_port() {
  local _
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/${2:-}" && return 0
    sleep 0.1
  done
  echo "$(basename "$0"): port $1 not up" >&2
  cat "$dir"/*.log >&2
  return 1
}

ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
