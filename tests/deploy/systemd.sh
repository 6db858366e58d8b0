#!/usr/bin/env bash
# deploy/systemd: `make install`'s script into a temporary prefix, then the installed unit
# through systemd-analyze verify (any output fails) and security --offline (2.0 or better), the
# io_uring calls in its syscall filter, and its ExecStartPre (ferry --check) on the installed
# config. The unit's start under systemd itself is tests/deploy/notify_test.cpp's sd_notify
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
            ProtectSystem=strict SystemCallArchitectures=native \
            AmbientCapabilities=CAP_NET_BIND_SERVICE CapabilityBoundingSet=CAP_NET_BIND_SERVICE; do
  grep -qxF "$want" "$unit" || fail "the unit lacks $want"
done

# The unit's own ExecStartPre, as systemd would run it.
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
$pre || fail "ExecStartPre ($pre) rejects the installed config"
echo "ok: ExecStartPre: $pre"
