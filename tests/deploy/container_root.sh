#!/usr/bin/env bash
# make test-container: the container image's runtime stage without a container engine. A Debian
# 12 minbase root made by debootstrap (cached in ~/.cache/ferry-container-root: the first run
# downloads and unpacks it, about 8 minutes on the 2-core machine; later runs copy it), then
# tests/deploy/container_root.py replays the Dockerfile's runtime stage in a copy of it (its RUN
# lines in a chroot, its COPY lines from the tree and this build) and runs ferry there as the
# image's user: --version, --check, then the ENTRYPOINT/CMD in a private network namespace
# until the HEALTHCHECK passes and a request through the proxy answers, then STOPSIGNAL.
#   tests/deploy/container_root.sh FERRY_BINARY
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary=$(realpath "$1")
ldd "$binary" | grep -q 'lib[at]san\.' &&
  skip container-root "a sanitizer build (the image ships a release binary without sanitizer runtimes)"
[[ $(id -u) -eq 0 ]] || skip container-root "needs root (chroot, unshare)"
command -v debootstrap >/dev/null || skip container-root "debootstrap not installed (Debian: debootstrap)"
cache=${FERRY_CONTAINER_ROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry-container-root}
mkdir -p "$cache"
exec 8>"$cache/.lock"
flock 8
if [[ ! -f $cache/base/.done ]]; then
  # The archive this machine's apt already uses (no mirror is named here).
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
           awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
  [[ -n $mirror ]] || skip container-root "no Debian archive in this machine's apt sources"
  rm -rf "$cache/base" "$cache/base.tmp"
  start=$(date +%s)
  debootstrap --variant=minbase bookworm "$cache/base.tmp" "$mirror" > "$cache/debootstrap.log" 2>&1 ||
    fail "debootstrap failed: $(tail -5 "$cache/debootstrap.log")"
  # Package lists kept in the base: the Dockerfile's own `apt-get update` then only revalidates.
  cp /etc/resolv.conf "$cache/base.tmp/etc/resolv.conf"
  chroot "$cache/base.tmp" apt-get update -qq || fail "apt-get update in the root failed"
  mv "$cache/base.tmp" "$cache/base"
  touch "$cache/base/.done"
  echo "debootstrap: $(( $(date +%s) - start )) s"
fi
# The lock is kept to the end: runs share the cached .debs (the archives folder bind-mounted
# below), and two apt-gets on one archives folder refuse each other.
root="$tmp/root"
cp -a "$cache/base" "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$cache/archives/partial"
mount --bind "$cache/archives" "$root/var/cache/apt/archives"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc" "$root/var/cache/apt/archives" 2>/dev/null; rm -rf "$tmp"' EXIT
python3 "$top/tests/deploy/container_root.py" "$root" "$binary" "$top"
