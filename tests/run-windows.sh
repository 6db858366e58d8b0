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

echo "== Windows (Wine): unit tests and the IOCP conformance suite"
(cd "$win_build" && ctest --output-on-failure -j"$jobs" --timeout 300)

echo "== Windows (Wine): integration tests against ferry.exe"
(cd "$linux_build" && FERRY_TEST_BINARY="wine $win_build/ferry.exe" \
   ctest --output-on-failure -j"$jobs" --timeout 300 -L integration -E '^(epoll\.|DefaultConfig)')

echo "== Windows (Wine): ferry.exe as a service (install, sc start, serve, sc stop, uninstall)"
bash "$top/tests/deploy/windows_service.sh" "$win_build/ferry.exe"
