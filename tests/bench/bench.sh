#!/usr/bin/env bash
# make bench: ferry side by side with HAProxy and NGINX (and going direct) in front of the same
# two NGINX backends, scenarios S1-S5 of issue #11, alternating the proxies, several rounds.
#
#   bash tests/bench/bench.sh [path/to/ferry]
#
# Settings (environment):
#   BENCH_ROUNDS=3          rounds; every round runs every scenario on every target once
#   BENCH_SECONDS=5         seconds per wrk run
#   BENCH_SCENARIOS="S1 S2 S3 S4 S5"
#   BENCH_TARGETS="ferry haproxy nginx direct"
#   BENCH_IO=auto           ferry's --io (auto, io_uring, epoll)
#   BENCH_IDLE_MIN=0.80     before each run, wait until the machine is this idle over 1 s ...
#   BENCH_IDLE_WAIT=10      ... for at most this many seconds (then run anyway, and say so)
#   BENCH_FOREIGN_MAX=0.10  a run in which processes outside the benchmark took more than this
#                           share of the machine's CPU is measured again ...
#   BENCH_RETRIES=1         ... at most this many times (the least disturbed attempt is kept)
#   BENCH_OUT=tests/bench/RESULTS.md   where the tables go (also printed)
#   BENCH_FERRY_B=path      a second ferry binary, target "ferry-b" (same config, own ports), for
#                           before/after comparisons within one run: BENCH_TARGETS="ferry ferry-b"
#
# Per run: requests/s, p50 and p99 latency (wrk --latency), the proxy's CPU microseconds per
# request (utime+stime of its processes, /proc/PID/stat), backend connections opened (the
# backends' own nginx stub_status "accepts", less our own status requests), wrk's errors, the
# machine's idle share before the run and the foreign CPU share during it. Tables: medians with
# min-max over the rounds, and ferry's ratios to each peer. CPU time per request is the figure
# to trust on a shared machine; requests/s moves with whatever else runs.
# Only loopback; every process started here is ended by its PID.
set -euo pipefail

ferry_bin=$(realpath "${1:-build/ferry}")
rounds=${BENCH_ROUNDS:-3}
secs=${BENCH_SECONDS:-5}
scenarios=${BENCH_SCENARIOS:-S1 S2 S3 S4 S5}
targets=${BENCH_TARGETS:-ferry haproxy nginx direct}
io=${BENCH_IO:-auto}
idle_min=${BENCH_IDLE_MIN:-0.80}
idle_wait=${BENCH_IDLE_WAIT:-10}
foreign_max=${BENCH_FOREIGN_MAX:-0.10}
retries=${BENCH_RETRIES:-1}
out=${BENCH_OUT:-tests/bench/RESULTS.md}
for tool in wrk haproxy nginx curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (deploy/install-deps.sh --bench)" >&2; exit 1; }
done
[[ -x $ferry_bin ]] || { echo "bench: no ferry binary at $ferry_bin" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init bench

# --- ports: free ones on 127.0.0.1, distinct ---------------------------------------------------
b1=$(port); b2=$(port); fp=$(port); fa=$(port); hp=$(port); np=$(port)

# --- backends: two nginx processes serving 100 B, 64 KiB and 1 MiB ------------------------------
mkdir -p "$dir/www"
chmod 755 "$dir" "$dir/www"  # nginx workers may run as another user
head -c 100 /dev/zero | tr '\0' a >"$dir/www/100"
head -c 65536 /dev/zero | tr '\0' b >"$dir/www/64k"
head -c 1048576 /dev/zero | tr '\0' c >"$dir/www/1m"
temps=$(nginx_temps)
for i in 1 2; do
  bp=$([[ $i == 1 ]] && echo "$b1" || echo "$b2")
  cat >"$dir/backend$i.conf" <<NGX
$(nginx_main "backend$i")
worker_rlimit_nofile 16384;
events { worker_connections 8000; }
http {
  access_log off;
  $temps
  sendfile on;
  tcp_nopush on;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$bp backlog=4096;
    root $dir/www;
    location = /stub { stub_status; }
  }
}
NGX
  nginx -c "$dir/backend$i.conf" & pids+=($!)
done

# --- the proxies, configured alike: 2 workers/threads, keep-alive to the backends -------------
cat >"$dir/ferry.yaml" <<YML
workers: 2
access_log: false
log_level: warn
admin: { address: 127.0.0.1:$fa }
listeners:
  - name: web
    address: 127.0.0.1:$fp
    idle_timeout: 120s
    routes: [ { match: { path_prefix: / }, cluster: c } ]
clusters:
  - name: c
    endpoints: [127.0.0.1:$b1, 127.0.0.1:$b2]
    # The pool: at most 256 connections per endpoint and worker, all kept when idle, so a run
    # opens at most workers x endpoints x 256 = 1,024 backend connections (issue #11, S5).
    max_idle_per_worker: 256
    max_connections: 256
YML
ferry_args=(-c "$dir/ferry.yaml")
[[ $io != auto ]] && ferry_args+=(--io "$io")
"$ferry_bin" "${ferry_args[@]}" >"$dir/ferry.log" 2>&1 & ferry_pid=$!; pids+=($ferry_pid)
fbp="" ferry_b_pid=""
if [[ -n ${BENCH_FERRY_B:-} ]]; then
  fbp=$(port); fba=$(port)
  sed -e "s/127.0.0.1:$fa\b/127.0.0.1:$fba/" -e "s/127.0.0.1:$fp\b/127.0.0.1:$fbp/" \
    "$dir/ferry.yaml" >"$dir/ferry-b.yaml"
  ferry_args[1]="$dir/ferry-b.yaml"
  "$BENCH_FERRY_B" "${ferry_args[@]}" >"$dir/ferry-b.log" 2>&1 & ferry_b_pid=$!; pids+=($ferry_b_pid)
fi

cat >"$dir/haproxy.cfg" <<HAP
global
  nbthread 2
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 30s
  timeout http-keep-alive 120s
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

cat >"$dir/nginx-proxy.conf" <<NGX
$(nginx_main nginx-proxy 2)
worker_rlimit_nofile 16384;
events { worker_connections 8000; }
http {
  access_log off;
  $temps
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  upstream c {
    server 127.0.0.1:$b1;
    server 127.0.0.1:$b2;
    keepalive 256;
  }
  server {
    listen 127.0.0.1:$np backlog=4096;
    location / {
      proxy_pass http://c;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffers 16 16k;
      proxy_max_temp_file_size 0;
    }
  }
}
NGX
nginx -c "$dir/nginx-proxy.conf" & ngx_pid=$!; pids+=($ngx_pid)

for p in "$b1" "$b2" "$fp" "$hp" "$np" $fbp; do wait_port "$p" 100; done

# --- measurements ----------------------------------------------------------------------------
hz=$(getconf CLK_TCK)
# utime+stime ticks of a process and its children processes (nginx workers).
proc_ticks() {
  local t=0 p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    [[ -r /proc/$p/stat ]] || continue
    t=$((t + $(ticks "$p")))
  done
  echo "$t"
}
# Busy (user+nice+system) and total ticks of the machine.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# Our processes' ticks (the proxies, backends and the current wrk).
our_ticks() {
  local t=0 p
  for p in "${pids[@]}" "$@"; do t=$((t + $(proc_ticks "$p"))); done
  echo "$t"
}
accepts() {
  local a=0 p
  for p in "$b1" "$b2"; do
    a=$((a + $(curl -s "http://127.0.0.1:$p/stub" | awk 'NR==3 {print $1}')))
  done
  echo "$a"
}
# Idle share of the machine over one second.
idle_share() {
  local a b
  a=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); d = y[2] - x[2];
    printf "%.2f", (d > 0 ? (y[1] - x[1]) / d : 0)}'
}
wait_idle() {
  local start=$SECONDS share
  while :; do
    share=$(idle_share)
    if awk -v s="$share" -v m="$idle_min" 'BEGIN {exit !(s >= m)}'; then echo "$share"; return; fi
    if ((SECONDS - start >= idle_wait)); then echo "$share"; return; fi
  done
}
to_ms() {  # wrk latency (e.g. 812.00us, 3.51ms, 1.02s) in milliseconds
  awk -v v="$1" 'BEGIN {n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
    else if (v ~ /s$/) n *= 1000; printf "%.3f", n}'
}

declare -A S_PATH S_CONNS S_CLOSE S_DESC
S_PATH=([S1]=/100 [S2]=/100 [S3]=/64k [S4]=/1m [S5]=/100)
S_CONNS=([S1]=64 [S2]=64 [S3]=32 [S4]=8 [S5]=1000)
S_CLOSE=([S1]=0 [S2]=1 [S3]=0 [S4]=0 [S5]=0)
S_DESC=([S1]="100 B GET, keep-alive, 64 conns" [S2]="100 B GET, new connection per request, 64 conns"
        [S3]="64 KiB GET, keep-alive, 32 conns" [S4]="1 MiB GET, keep-alive, 8 conns"
        [S5]="100 B GET, keep-alive, 1,000 conns")

target_port() { case $1 in ferry) echo "$fp" ;; ferry-b) echo "$fbp" ;; haproxy) echo "$hp" ;; nginx) echo "$np" ;; direct) echo "$b1" ;; esac; }
target_pid() { case $1 in ferry) echo "$ferry_pid" ;; ferry-b) echo "$ferry_b_pid" ;; haproxy) echo "$hap_pid" ;; nginx) echo "$ngx_pid" ;; direct) echo "" ;; esac; }

runs="$dir/runs.tsv"  # scenario target round rps p50 p99 cpu_us backend_conns errors idle foreign tries
: >"$runs"

# One wrk run; prints "rps p50 p99 cpu_us_per_req backend_conns errors foreign_share".
one_run() {
  local sc=$1 t=$2 port pid hdr=() out a0 a1 c0 c1 m0 m1 o0 o1 wpid reqs rps p50 p99 cpu errs foreign
  port=$(target_port "$t"); pid=$(target_pid "$t")
  [[ ${S_CLOSE[$sc]} == 1 ]] && hdr=(-H "Connection: close")
  a0=$(accepts)
  c0=0; [[ -n $pid ]] && c0=$(proc_ticks "$pid")
  read -r m0 t0 < <(machine_ticks); o0=$(our_ticks)
  wrk -t1 -c"${S_CONNS[$sc]}" -d"${secs}s" --latency "${hdr[@]}" \
    "http://127.0.0.1:$port${S_PATH[$sc]}" >"$dir/wrk.out" 2>&1 & wpid=$!
  # wrk's own CPU counts as ours: sample it just before it exits.
  local wt=0
  while kill -0 "$wpid" 2>/dev/null; do
    wt=$(proc_ticks "$wpid" 2>/dev/null || echo "$wt")
    sleep 0.2
  done
  wait "$wpid" || true
  read -r m1 t1 < <(machine_ticks); o1=$(our_ticks)
  c1=0; [[ -n $pid ]] && c1=$(proc_ticks "$pid")
  a1=$(accepts)
  out=$(cat "$dir/wrk.out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
  errs=$(awk '/Socket errors/ {gsub(/,/, ""); s += $4 + $6 + $8 + $10} /Non-2xx/ {s += $5} END {print s + 0}' <<<"$out")
  cpu="-"
  [[ -n $pid && ${reqs:-0} -gt 0 ]] && cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  foreign=$(awk -v m=$((m1 - m0)) -v o=$((o1 - o0 + wt)) -v t=$((t1 - t0)) \
    'BEGIN {f = t > 0 ? (m - o) / t : 0; if (f < 0) f = 0; printf "%.2f", f}')
  # 2 status requests (one per backend) per accepts() call come in between.
  echo "${rps:-0} $p50 $p99 $cpu $((a1 - a0 - 2)) $errs $foreign"
}

echo "bench: ferry $("$ferry_bin" --version 2>/dev/null | head -1) io=$io; $rounds rounds x ${secs}s; scenarios $scenarios; targets $targets" >&2
for r in $(seq "$rounds"); do
  for sc in $scenarios; do
    # Alternate the order of the targets from round to round.
    order=($targets)
    ((r % 2 == 0)) && order=($(printf '%s\n' "${order[@]}" | tac))
    for t in "${order[@]}"; do
      best="" best_f=9 tries=0 idle=""
      while :; do
        idle=$(wait_idle)
        res=$(one_run "$sc" "$t")
        tries=$((tries + 1))
        f=$(awk '{print $7}' <<<"$res")
        if awk -v a="$f" -v b="$best_f" 'BEGIN {exit !(a < b)}'; then best=$res; best_f=$f; fi
        awk -v f="$f" -v m="$foreign_max" 'BEGIN {exit !(f <= m)}' && break
        ((tries > retries)) && break
      done
      read -r rps p50 p99 cpu conns errs foreign <<<"$best"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$t" "$r" "$rps" "$p50" "$p99" \
        "$cpu" "$conns" "$errs" "$idle" "$foreign" "$tries" >>"$runs"
      printf 'round %s %-3s %-8s %10s req/s  p50 %7s ms  p99 %7s ms  cpu %6s us/req  backend conns %6s  errors %s  idle %s foreign %s (try %s)\n' \
        "$r" "$sc" "$t" "$rps" "$p50" "$p99" "$cpu" "$conns" "$errs" "$idle" "$foreign" "$tries" >&2
    done
  done
done

# --- tables ---------------------------------------------------------------------------------
report=$(awk -F'\t' -v targets="$targets" -v scen="$scenarios" -v rounds="$rounds" -v secs="$secs" \
  -v io="$io" -v fmax="$foreign_max" '
function median(list,   n, a, i, j, t) {
  n = split(list, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  if (n == 0) return "-"
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function lo(list,   n, a, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
function hi(list,   n, a, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
function cell(list, fmt) { if (list == "" || list ~ /-/) return "-"; return sprintf(fmt " (" fmt "-" fmt ")", median(list), lo(list), hi(list)) }
function ratio(a, b) { return (a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
{
  k = $1 SUBSEP $2
  rps[k] = rps[k] " " $4; p50[k] = p50[k] " " $5; p99[k] = p99[k] " " $6
  if ($7 != "-") cpu[k] = cpu[k] " " $7
  conns[k] = conns[k] " " $8; errs[k] += $9; foreign[k] = foreign[k] " " $11
  if ($11 + 0 > fmax + 0) disturbed[k]++
  kr = $1 SUBSEP $2 SUBSEP $3
  RPS[kr] = $4; CPU[kr] = $7; P99[kr] = $6
}
# ferry / peer per round (the two ran back to back): "median (min-max)" of what (RPS, CPU, P99).
function paired(sc, peer, what,   r, a, b, list) {
  list = ""
  for (r = 1; r <= rounds; r++) {
    a = (what == "rps") ? RPS[sc, "ferry", r] : (what == "cpu") ? CPU[sc, "ferry", r] : P99[sc, "ferry", r]
    b = (what == "rps") ? RPS[sc, peer, r] : (what == "cpu") ? CPU[sc, peer, r] : P99[sc, peer, r]
    if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) continue
    list = list " " sprintf("%.2f", a / b)
  }
  return list == "" ? "-" : cell(list, "%.2f")
}
END {
  nt = split(targets, T, " "); ns = split(scen, S, " ")
  printf "Medians of %d rounds (min-max), %d s per run, ferry io=%s. Runs in which processes outside the benchmark took more than %.0f%% of the machine (after retries) are counted under \"disturbed\".\n\n", rounds, secs, io, fmax * 100
  print "| scenario | target | req/s | p50 ms | p99 ms | proxy CPU us/req | backend conns opened | errors | foreign CPU share | disturbed |"
  print "|---|---|---|---|---|---|---|---|---|---|"
  for (s = 1; s <= ns; s++) for (t = 1; t <= nt; t++) {
    k = S[s] SUBSEP T[t]
    if (!(k in rps)) continue
    printf "| %s | %s | %s | %s | %s | %s | %s | %d | %s | %d |\n", S[s], T[t], cell(rps[k], "%.0f"), cell(p50[k], "%.2f"),
      cell(p99[k], "%.2f"), cell(cpu[k], "%.1f"), cell(conns[k], "%d"), errs[k], cell(foreign[k], "%.2f"), disturbed[k]
  }
  print ""
  print "ferry'"'"'s ratios (of medians): req/s (higher is better), CPU per request and p99 (lower is better)."
  print ""
  print "| scenario | req/s vs HAProxy | req/s vs NGINX | req/s vs direct | CPU/req vs HAProxy | CPU/req vs NGINX | p99 vs HAProxy | p99 vs NGINX |"
  print "|---|---|---|---|---|---|---|---|"
  for (s = 1; s <= ns; s++) {
    f = S[s] SUBSEP "ferry"; h = S[s] SUBSEP "haproxy"; n = S[s] SUBSEP "nginx"; d = S[s] SUBSEP "direct"
    if (!(f in rps)) continue
    printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", S[s],
      ratio(median(rps[f]), (h in rps) ? median(rps[h]) : "-"), ratio(median(rps[f]), (n in rps) ? median(rps[n]) : "-"),
      ratio(median(rps[f]), (d in rps) ? median(rps[d]) : "-"),
      ratio((f in cpu) ? median(cpu[f]) : "-", (h in cpu) ? median(cpu[h]) : "-"),
      ratio((f in cpu) ? median(cpu[f]) : "-", (n in cpu) ? median(cpu[n]) : "-"),
      ratio(median(p99[f]), (h in rps) ? median(p99[h]) : "-"), ratio(median(p99[f]), (n in rps) ? median(p99[n]) : "-")
  }
  print ""
  print "ferry'"'"'s ratios round by round (each round runs the targets back to back, so a machine whose speed drifts over the run moves both sides of a ratio alike): median (min-max) over the rounds."
  print ""
  print "| scenario | req/s vs HAProxy | req/s vs NGINX | req/s vs direct | CPU/req vs HAProxy | CPU/req vs NGINX | p99 vs HAProxy | p99 vs NGINX |"
  print "|---|---|---|---|---|---|---|---|"
  for (s = 1; s <= ns; s++) {
    if (!((S[s] SUBSEP "ferry") in rps)) continue
    printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", S[s], paired(S[s], "haproxy", "rps"),
      paired(S[s], "nginx", "rps"), paired(S[s], "direct", "rps"), paired(S[s], "haproxy", "cpu"),
      paired(S[s], "nginx", "cpu"), paired(S[s], "haproxy", "p99"), paired(S[s], "nginx", "p99")
  }
}' "$runs")

{
  echo "# ferry benchmark results"
  echo
  echo "Written by \`make bench\` (tests/bench/bench.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?'),"
  echo "$(nproc) cores, kernel $(uname -r); wrk -t1; backends: two nginx (1 worker each); HAProxy $(haproxy -v 2>/dev/null | awk 'NR==1 {print $3}') (nbthread 2, http-reuse always);"
  echo "NGINX $(nginx -v 2>&1 | sed 's/.*nginx\///') proxy (2 workers, upstream keepalive 256); ferry (2 workers, max_idle_per_worker 256, max_connections 256)."
  echo
  echo "Scenarios: $(for sc in $scenarios; do printf '%s %s; ' "$sc" "${S_DESC[$sc]}"; done)"
  echo
  echo "$report"
  echo
  echo "Command: \`BENCH_ROUNDS=$rounds BENCH_SECONDS=$secs BENCH_IO=$io make bench\`"
} >"$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
