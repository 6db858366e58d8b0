#!/usr/bin/env bash
# Builds the libFuzzer target (tests/fuzz/http_parser_fuzz.cpp) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in its own build directory, then runs its bounded ctest
# (-runs=20000 over the seed corpus in tests/fuzz/corpus/).
#   tests/fuzz/run.sh [BUILD_DIR]      (default: build-fuzz at the top of the tree)
# For a longer session: BUILD_DIR/tests/http_parser_fuzz -max_total_time=600 DIR tests/fuzz/corpus
set -euo pipefail
top=$(realpath "$(dirname "$0")/../..")
build=$(realpath -m "${1:-$top/build-fuzz}")
CC=clang CXX=clang++ cmake -S "$top" -B "$build" -DFERRY_FUZZ=ON \
  -DFERRY_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target http_parser_fuzz
cd "$build" && ctest --output-on-failure -R '^http_parser_fuzz$'
