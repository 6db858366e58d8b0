#!/usr/bin/env bash
# The emulator CMake runs the Windows test binaries with (CMAKE_CROSSCOMPILING_EMULATOR in
# mingw-w64.cmake): wine, with one repair. Under load Wine now and then fails to start a process
# at all: it exits non-zero within a few hundredths of a second and the binary printed nothing
# (seen on 1 of the 438 Windows unit tests in 2 of about 20 runs of the Windows leg, a different
# test each time; WINEDEBUG=-all hides Wine's own message). A GoogleTest binary prints its banner
# before it runs anything, so an exit with nothing on stdout means the test never ran: only such
# a launch is made again, once, and said on stderr with Wine's exit status. A test that ran and
# failed is never run again.
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
for attempt in 1 2; do
  wine "$@" | tee "$out"
  status=${PIPESTATUS[0]}
  if [[ $status -eq 0 || -s $out ]]; then exit "$status"; fi
  echo "wine-test: wine exited with status $status before the binary printed anything" \
    "(launch $attempt of 2): $*" >&2
done
exit "$status"
