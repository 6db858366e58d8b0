#!/usr/bin/env bash
# deploy/systemd: `make install`'s script into a temporary prefix, then the installed unit
# through systemd-analyze verify (any output fails) and security --offline (2.0 or better), the
# io_uring calls in its syscall filter, its stop timeout against the config's drain, and its
# ExecStartPre (ferry --check) on the installed config. Then `make install DESTDIR=...` itself
# (the Makefile's recipe, without rebuilding): every file under the staging root, no staging
# path written into the unit or the config. The unit's start under systemd itself is tests/deploy/notify_test.cpp's sd_notify
# protocol (no systemd as PID 1 here).
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
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top" -o build install DESTDIR="$stage" \
  BUILD="$(cd "$(dirname "$binary")" && pwd)" >/dev/null || fail "make install DESTDIR=$stage failed"
for f in usr/local/bin/ferry usr/local/lib/systemd/system/ferry.service etc/ferry/ferry.yaml \
         usr/local/share/ferry/demo/a/index.html usr/local/share/ferry/demo/b/index.html \
         usr/local/share/doc/ferry/README.md; do
  [[ -f $stage/$f ]] || fail "make install DESTDIR= did not put /$f under the staging root"
done
cmp -s "$binary" "$stage/usr/local/bin/ferry" || fail "the staged binary is not the one built"
! grep -rqF "$stage" "$stage/usr/local/lib/systemd/system/ferry.service" "$stage/etc/ferry/ferry.yaml" ||
  fail "make install wrote the staging root into the unit or the config"
grep -qxF "ExecStart=/usr/local/bin/ferry -c /etc/ferry/ferry.yaml" \
  "$stage/usr/local/lib/systemd/system/ferry.service" || fail "the staged unit's ExecStart is not the installed paths"
echo "ok: make install DESTDIR= ($(find "$stage" -type f | wc -l) files under the staging root)"
