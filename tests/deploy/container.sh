#!/usr/bin/env bash
# deploy/container: the Dockerfile linted (npm's dockerfile-utils: any message fails), its shape
# (multi-stage on Debian 12, non-root, HEALTHCHECK on /healthz, STOPSIGNAL SIGTERM), the shipped
# config checked by ferry, and its runtime package list against the binary: every shared
# library `ldd ferry` loads must come from a package the runtime stage installs (the packages of
# ferry's own DT_NEEDED libraries named explicitly, the rest through their Depends).
# The runtime root itself is built by tests/deploy/container_root.sh (deploy.container_root).
#   tests/deploy/container.sh FERRY_BINARY
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary=$1
dockerfile="$top/deploy/container/Dockerfile"
skips=()

# The runtime stage's packages: the `apt-get install` line after the last FROM.
runtime=$(awk '/^FROM /{stage++} {print stage "\t" $0}' "$dockerfile" | awk -F'\t' -v n="$(grep -c '^FROM ' "$dockerfile")" '$1==n {print $2}')
pkgs=$(echo "$runtime" | grep -o 'apt-get install [^&]*' | tr ' ' '\n' | grep -v -e '^-' -e '^\\$' -e '^apt-get$' -e '^install$' -e '^$' | sort -u)
[[ -n $pkgs ]] || fail "no apt-get install line in the runtime stage"
echo "runtime packages: $(echo $pkgs)"

# Shape.
grep -qE '^FROM debian:bookworm AS build$' "$dockerfile" || fail "build stage is not FROM debian:bookworm AS build"
[[ $(grep '^FROM ' "$dockerfile" | tail -1) == "FROM debian:bookworm-slim" ]] || fail "runtime stage is not debian:bookworm-slim"
grep -q 'deploy/install-deps.sh' "$dockerfile" || fail "build stage does not run install-deps.sh"
user=$(echo "$runtime" | sed -n 's/^USER //p')
[[ $user =~ ^[1-9][0-9]*(:[0-9]+)?$ ]] || fail "runtime USER '$user' is not a numeric non-root user"
echo "$runtime" | grep -A1 '^HEALTHCHECK' | grep -q '/healthz' || fail "no HEALTHCHECK on /healthz"
echo "$runtime" | grep -qx 'STOPSIGNAL SIGTERM' || fail "no STOPSIGNAL SIGTERM"
while read -r src; do
  [[ -e $top/$src ]] || fail "COPY source $src does not exist"
done < <(echo "$runtime" | awk '$1=="COPY" && $2 !~ /^--from/ {print $2}')
cfg="$top/deploy/container/ferry.yaml"
grep -Eq '^  address: 0\.0\.0\.0:9901' "$cfg" || fail "the container config's admin is not on 0.0.0.0:9901"
sed "s|/usr/local/share/ferry/demo|$top/deploy/demo|g" "$cfg" > "$tmp/ferry.yaml"
"$binary" --check "$tmp/ferry.yaml" >/dev/null || fail "ferry --check rejects deploy/container/ferry.yaml"
echo "ok: Dockerfile shape, container config"

# Libraries -> packages.
command -v dpkg >/dev/null && command -v apt-cache >/dev/null || skip container "no dpkg/apt-cache"
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances $pkgs 2>/dev/null | grep -v '^ ' | sed 's/:.*//' | sort -u)
needed=$(objdump -p "$binary" 2>/dev/null | awk '/NEEDED/ {print $2}')
# name -> real path of every library ldd resolves; one dpkg -S for all of them (it is slow),
# asked for both /lib and /usr/lib spellings (usrmerge).
# Sanitizer runtimes (make test-asan's build) are not what the image ships: left out.
ldd "$binary" | awk '$2=="=>" && $3 ~ /^\// && $1 !~ /^lib(asan|ubsan|tsan|lsan)\./ {print $1, $3}' |
while read -r lib path; do
  echo "$lib $(realpath "$path")"; done > "$tmp/libs"
[[ -s $tmp/libs ]] || fail "ldd found no libraries in $binary"
awk '{p=$2; print p; if (p ~ /^\/usr\//) print substr(p, 5); else print "/usr" p}' "$tmp/libs" |
  xargs dpkg -S 2>/dev/null | sed 's/:[a-z0-9]*: / /; s/: / /' > "$tmp/owners" || true
missing=0
while read -r lib real; do
  pkg=$(awk -v a="$real" -v b="${real#/usr}" -v c="/usr$real" '$2==a || $2==b || $2==c {print $1; exit}' "$tmp/owners")
  [[ -n $pkg ]] || { echo "FAIL: no package owns $real"; missing=1; continue; }
  if echo "$needed" | grep -qx "$lib"; then
    echo "$pkgs" | grep -qx "$pkg" || { echo "FAIL: $lib ($pkg) is not in the runtime stage's apt-get install"; missing=1; }
  else
    echo "$closure" | grep -qx "$pkg" || { echo "FAIL: $lib ($pkg) is pulled by no runtime package"; missing=1; }
  fi
done < "$tmp/libs"
[[ $missing -eq 0 ]] || exit 1
echo "ok: every library of ldd $(basename "$binary") comes from the runtime packages"

if npm_tools; then
  out=$("$tools_cache/node_modules/.bin/dockerfile-utils" lint "$dockerfile" 2>&1) || fail "dockerfile-utils lint: $out"
  [[ -z $out ]] || fail "dockerfile-utils lint: $out"
  echo "ok: dockerfile-utils lint"
else
  skip dockerfile-lint "npm or its registry not available (npm install of dockerfile-utils failed)"
fi
