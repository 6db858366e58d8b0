#!/usr/bin/env bash
# deploy/systemd: `make install`'s script into a temporary prefix, then the installed unit
# through systemd-analyze verify (any output fails) and security --offline (2.0 or better), the
# io_uring calls in its syscall filter, its stop timeout against the config's drain, and its
# ExecStartPre (ferry --check) on the installed config. Then `make install DESTDIR=...` itself
# (the Makefile's recipe, without rebuilding): every file under the staging root, no staging
# path written into the unit or the config. Last, the unit's sandbox against ferry's real
# system calls (strace). There is no systemd as PID 1 here: the unit is never started; its
# sd_notify protocol is tests/deploy/notify_test.cpp's.
#   tests/deploy/systemd.sh FERRY_BINARY
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary=$1
command -v systemd-analyze >/dev/null || skip systemd "systemd-analyze not installed (Debian: systemd)"

prefix="$tmp/usr/local" sysconf="$tmp/etc"
PREFIX=$prefix SYSCONFDIR=$sysconf UNITDIR="$tmp/lib/systemd/system" \
  bash "$top/deploy/install.sh" "$binary" >/dev/null
unit="$tmp/lib/systemd/system/ferry.service"
[[ -x $prefix/bin/ferry && -f $sysconf/ferry/ferry.yaml && -f $prefix/share/ferry/demo/a/index.html ]] ||
  fail "install.sh left out a file"
grep -q "ExecStart=$prefix/bin/ferry -c $sysconf/ferry/ferry.yaml" "$unit" ||
  fail "the unit's ExecStart does not name the installed binary and config"

# A second install keeps an edited config.
echo "# edited" >> "$sysconf/ferry/ferry.yaml"
PREFIX=$prefix SYSCONFDIR=$sysconf UNITDIR="$tmp/lib/systemd/system" \
  bash "$top/deploy/install.sh" "$binary" >/dev/null
grep -q "^# edited" "$sysconf/ferry/ferry.yaml" || fail "install.sh overwrote an existing config"

out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify printed: $out"
echo "ok: systemd-analyze verify"

sec=$(systemd-analyze security --offline=true --threshold=20 "$unit" 2>&1) ||
  fail "systemd-analyze security above 2.0: $(echo "$sec" | grep -E '✗|Overall')"
echo "$sec" | grep "Overall exposure level"

filter=$(grep '^SystemCallFilter=' "$unit" | grep -v '=~' | tr ' =' '\n\n')
for call in io_uring_setup io_uring_enter io_uring_register; do
  echo "$filter" | grep -qx "$call" || fail "SystemCallFilter does not allow $call"
  ! grep '^SystemCallFilter=~' "$unit" | grep -qw "$call" || fail "SystemCallFilter denies $call"
done
for want in Type=notify 'ExecReload=/bin/kill -HUP $MAINPID' DynamicUser=yes PrivateTmp=yes \
            ProtectSystem=strict SystemCallArchitectures=native NoNewPrivileges=yes \
            'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
            AmbientCapabilities=CAP_NET_BIND_SERVICE CapabilityBoundingSet=CAP_NET_BIND_SERVICE; do
  grep -qxF "$want" "$unit" || fail "the unit lacks $want"
done
# systemd sends SIGKILL after TimeoutStopSec: it must outlast ferry's drain (delay + timeout).
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$unit")
drain=$(drain_seconds "$sysconf/ferry/ferry.yaml")
[[ -n $stop && $stop -gt $drain ]] ||
  fail "TimeoutStopSec (${stop:-unset} s) is not above the config's drain ($drain s)"
echo "ok: TimeoutStopSec=${stop}s, above the drain of $drain s"

# The unit's own ExecStartPre, as systemd would run it.
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
$pre || fail "ExecStartPre ($pre) rejects the installed config"
echo "ok: ExecStartPre: $pre"

# `make install DESTDIR=stage` as a packager runs it (default PREFIX and SYSCONFDIR): -o build
# keeps make from rebuilding; BUILD points it at the binary under test.
stage="$tmp/stage"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top" -o build install \
  DESTDIR="$stage" BUILD="$(cd "$(dirname "$binary")" && pwd)" >/dev/null ||
  fail "make install DESTDIR=$stage failed"
for f in usr/local/bin/ferry usr/local/lib/systemd/system/ferry.service etc/ferry/ferry.yaml \
         usr/local/share/ferry/demo/a/index.html usr/local/share/ferry/demo/b/index.html \
         usr/local/share/doc/ferry/README.md; do
  [[ -f $stage/$f ]] || fail "make install DESTDIR= did not put /$f under the staging root"
done
cmp -s "$binary" "$stage/usr/local/bin/ferry" || fail "the staged binary is not the one built"
! grep -rqF "$stage" "$stage/usr/local/lib/systemd/system/ferry.service" "$stage/etc/ferry/ferry.yaml" ||
  fail "make install wrote the staging root into the unit or the config"
grep -qxF "ExecStart=/usr/local/bin/ferry -c /etc/ferry/ferry.yaml" \
  "$stage/usr/local/lib/systemd/system/ferry.service" ||
  fail "the staged unit's ExecStart is not the installed paths"
echo "ok: make install DESTDIR= ($(find "$stage" -type f | wc -l) files under the staging root)"

# The sandbox against what ferry really calls (no systemd as PID 1 here to start the unit):
# ferry under strace -f, one life per I/O backend (io_uring, and epoll, its fallback): start,
# a request proxied to a backend and one served from a static root, SIGHUP reload, SIGTERM,
# with a NOTIFY_SOCKET so sd_notify's calls are made too. Every system call it made must pass
# the unit's SystemCallFilter, every socket family its RestrictAddressFamilies.
command -v strace >/dev/null || skip syscall-filter "strace not installed (Debian: strace)"
ldd "$binary" | grep -q 'lib[at]san\.' &&
  skip syscall-filter "a sanitizer build (its runtime makes calls the release binary does not)"
strace -f -qq -o /dev/null true 2>/dev/null || skip syscall-filter "strace cannot trace here (ptrace refused)"
# On any exit: ferry first (a tracer killed alone detaches and leaves it running), found as the
# tracer's child when the test had not got its PID yet; then the tracers and the backend.
pids=() tracers=()
cleanup() {
  local t p
  for t in "${tracers[@]}"; do pids=($(pgrep -P "$t" || true) "${pids[@]}"); done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/www"
echo "backend" > "$tmp/www/index.html"
python3 -u -m http.server --bind 127.0.0.1 --directory "$tmp/www" 0 > "$tmp/backend.log" 2>&1 &
pids+=($!)
deadline=$((SECONDS + 20))
until port=$(grep -o 'port [0-9]*' "$tmp/backend.log" | grep -o '[0-9]*'); do
  (( SECONDS < deadline )) || fail "the test backend did not start: $(cat "$tmp/backend.log")"
  sleep 0.1
done
# wait_for FILE PATTERN WHAT: until FILE holds PATTERN, at most 30 s.
wait_for() {
  local deadline=$((SECONDS + 30))
  until grep -q "$2" "$1"; do
    (( SECONDS < deadline )) || fail "$3 within 30 s: $(tail -5 "$1")"
    sleep 0.1
  done
}
for io in io_uring epoll; do
  cat > "$tmp/trace-$io.yaml" <<YAML
workers: 2
io: $io
access_log: true
admin: { address: 127.0.0.1:0 }
listeners:
  - name: web
    address: 127.0.0.1:0
    routes: [{ name: all, match: { path_prefix: / }, cluster: backend }]
  - name: site
    address: 127.0.0.1:0
    static: { root: $top/deploy/demo/a }
clusters:
  - name: backend
    endpoints: [127.0.0.1:$port]
YAML
  log="$tmp/ferry-$io.log"
  NOTIFY_SOCKET="$tmp/no-manager" strace -f -qq -o "$tmp/trace-$io.strace" \
    "$binary" -c "$tmp/trace-$io.yaml" > "$log" 2>&1 &
  tracer=$!
  tracers+=("$tracer")
  pids+=("$tracer")
  wait_for "$log" "ferry serving .* on $io" "ferry under strace did not serve on $io"
  pid=$(pgrep -P "$tracer" -x ferry) || fail "no ferry process under strace"
  web=$(grep -o 'listener web on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
  site=$(grep -o 'listener site on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
  [[ $(curl -fsS --max-time 10 "http://127.0.0.1:$web/") == backend ]] ||
    fail "$io: no answer through the proxy: $(tail -5 "$log")"
  curl -fsS --max-time 10 "http://127.0.0.1:$site/" | grep -q "demo backend a" ||
    fail "$io: no answer from the static listener"
  kill -HUP "$pid"
  wait_for "$log" "reloaded " "$io: no reload after SIGHUP"
  kill -TERM "$pid"
  deadline=$((SECONDS + 30))
  while kill -0 "$tracer" 2>/dev/null; do
    (( SECONDS < deadline )) || fail "$io: ferry did not exit within 30 s of SIGTERM"
    sleep 0.1
  done
  wait "$tracer" || fail "$io: ferry exited with $? after SIGTERM: $(tail -5 "$log")"
  grep -q "sd_notify" "$log" || fail "$io: ferry never called sd_notify (NOTIFY_SOCKET was set)"
done
python3 "$top/tests/deploy/syscall_filter.py" "$unit" "$tmp"/trace-*.strace ||
  fail "the unit's sandbox refuses what ferry calls"
echo "ok: every system call and socket family of ferry's life (io_uring, epoll) passes the unit's filters"
