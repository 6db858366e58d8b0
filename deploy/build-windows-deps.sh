#!/usr/bin/env bash
# Builds ferry's third-party libraries for Windows (mingw-w64, static) from Debian's source
# packages into PREFIX (default build-win/deps). Idempotent: a finished prefix is kept.
# The deb-src entries are derived from this machine's own apt sources, in a private apt state,
# so no mirror is named here and the system's apt configuration is not touched.
set -euo pipefail
prefix=$(realpath -m "${1:-build-win/deps}")
# The marker names what the prefix holds: a prefix built before a library was added is rebuilt.
stamp="yaml-cpp prometheus-cpp gtest spdlog fmt re2 cli11 c-ares"
[[ -f "$prefix/.done" && "$(cat "$prefix/.done")" == "$stamp" ]] && exit 0
work="$prefix/src"
rm -rf "$prefix"
mkdir -p "$work" "$prefix/include" "$prefix/apt/lists/partial" "$prefix/apt/sources"
src=/etc/apt/sources.list.d/debian.sources
if [[ -f $src ]]; then
  sed 's/^Types: deb$/Types: deb-src/' "$src" > "$prefix/apt/sources/debian-src.sources"
else
  sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > "$prefix/apt/sources/debian-src.list"
fi
apt_opts=(-o APT::Sandbox::User=root -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$prefix/apt/sources"
          -o "Dir::State::Lists=$prefix/apt/lists" -o Debug::NoLocking=1)
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" source -qq --download-only yaml-cpp prometheus-cpp re2 c-ares >/dev/null &&
   for d in *.dsc; do dpkg-source -x --no-check "$d" >/dev/null; done)

toolchain=$(realpath "$(dirname "$0")/../cmake/mingw-w64.cmake")
cm() { cmake -S "$1" -B "$2" -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release \
         -DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_SHARED_LIBS=OFF "${@:3}" >/dev/null &&
       cmake --build "$2" -j"$(nproc)" >/dev/null && cmake --install "$2" >/dev/null; }

cm "$(ls -d "$work"/yaml-cpp-*/)" "$work/yaml-build" -DYAML_CPP_BUILD_TESTS=OFF \
   -DYAML_CPP_BUILD_TOOLS=OFF -DYAML_CPP_BUILD_CONTRIB=OFF
cm "$(ls -d "$work"/prometheus-cpp-*/)" "$work/prom-build" -DENABLE_PULL=OFF -DENABLE_PUSH=OFF \
   -DENABLE_COMPRESSION=OFF -DENABLE_TESTING=OFF -DUSE_THIRDPARTY_LIBRARIES=OFF
cm /usr/src/googletest "$work/gtest-build" -Dgtest_disable_pthreads=OFF
# RE2 (route regexes): this Debian release's RE2 needs no Abseil. Debian's source leaves out the
# generated tables; they are made the way Debian's build makes them (REBUILD_TABLES), from
# unicode-data's files.
re2=$(ls -d "$work"/re2-*/)
(cd "$re2" && perl re2/make_perl_groups.pl > re2/perl_groups.cc &&
   python3 re2/make_unicode_groups.py > re2/unicode_groups.cc &&
   python3 re2/make_unicode_casefold.py > re2/unicode_casefold.cc)
cm "$re2" "$work/re2-build" -DRE2_BUILD_TESTING=OFF
# c-ares 1.18 uses BSD's INADDRSZ, which only Unix headers define (c-ares 1.19 fixed it).
cm "$(ls -d "$work"/c-ares-*/)" "$work/cares-build" -DCARES_STATIC=ON -DCARES_SHARED=OFF \
   -DCARES_BUILD_TOOLS=OFF -DCARES_BUILD_TESTS=OFF -DCARES_INSTALL=ON -DCMAKE_C_FLAGS=-DINADDRSZ=4
# CLI11 (the command line) is header-only, from Debian's headers.
cp -r /usr/include/CLI "$prefix/include/"
# spdlog and fmt header-only, from Debian's headers.
cp -r /usr/include/spdlog /usr/include/fmt "$prefix/include/"
rm -rf "$work" "$prefix/apt"
echo "$stamp" > "$prefix/.done"
