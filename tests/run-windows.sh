#!/usr/bin/env bash
# The Windows leg of `make test`: cross-builds ferry with mingw-w64 (third-party libraries from
# Debian's source packages), then under Wine runs the unit tests and the io conformance suite
# (IOCP), and the Linux integration suite against ferry.exe. Wine's server is started here once
# (so the first test does not spawn Wine's services into ctest's pipe) and stopped at the end.
#   tests/run-windows.sh LINUX_BUILD_DIR WINDOWS_BUILD_DIR
set -euo pipefail
linux_build=$(realpath "$1")
win_build=$(realpath -m "$2")
top=$(realpath "$(dirname "$0")/..")
jobs=$(nproc)

bash "$top/deploy/install-deps.sh" --windows
bash "$top/deploy/build-windows-deps.sh" "$win_build/deps"

export WINEDEBUG=-all WINEPREFIX="$win_build/wine" WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$WINEPREFIX"
wineserver -p
trap 'wineserver -k 2>/dev/null || true' EXIT
wine wineboot </dev/null >/dev/null 2>&1

cmake -S "$top" -B "$win_build" -DCMAKE_TOOLCHAIN_FILE="$top/cmake/mingw-w64.cmake" \
      -DFERRY_WIN_PREFIX="$win_build/deps" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$win_build" -j"$jobs"

# Every leg runs even when an earlier one failed (the service test says something of its own),
# each leg's result is reported at the end, and the script fails if any leg did.
results=()
failed=0
leg() {
  local name=$1
  shift
  echo "== Windows (Wine): $name"
  if "$@"; then
    results+=("passed  $name")
  else
    results+=("FAILED  $name (exit $?)")
    failed=1
  fi
}

leg "unit tests and the IOCP conformance suite" \
  bash -c 'cd "$1" && ctest --output-on-failure -j"$2" --timeout 300' _ "$win_build" "$jobs"

leg "integration tests against ferry.exe" \
  bash -c 'cd "$1" && FERRY_TEST_BINARY="wine $2/ferry.exe" \
    ctest --output-on-failure -j"$3" --timeout 300 -L integration -E "^(epoll\.|DefaultConfig)"' \
  _ "$linux_build" "$win_build" "$jobs"

leg "ferry.exe as a service (install, sc start, serve, sc stop, uninstall)" \
  bash "$top/tests/deploy/windows_service.sh" "$win_build/ferry.exe"

echo "== Windows (Wine): summary"
for r in "${results[@]}"; do echo "  $r"; done
exit "$failed"
