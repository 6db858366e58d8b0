#!/usr/bin/env bash
# Installs the Debian packages ferry builds, tests and benchmarks with. Idempotent: when every
# package is present it only checks (about a second) and installs nothing.
#   deploy/install-deps.sh          build and test packages
#   deploy/install-deps.sh --bench  also the peers of the benchmarks (haproxy, nginx, wrk)
#   deploy/install-deps.sh --windows  also the mingw-w64 cross compiler and Wine
#   deploy/install-deps.sh --build-only  only what building ferry needs (the container image)
set -euo pipefail

build=(g++ cmake make pkg-config libyaml-cpp-dev prometheus-cpp-dev libspdlog-dev libfmt-dev
       libgtest-dev libgmock-dev liburing-dev node-llhttp libre2-dev libcli11-dev libc-ares-dev)
test=(curl ca-certificates procps iproute2 clang-format python3-jsonschema python3-yaml dnsmasq-base python3-websockets)
bench=(wrk haproxy nginx-light)
windows=(g++-mingw-w64-x86-64-posix wine wine64 dpkg-dev unicode-data perl)
# deploy/ (tests/deploy/): sd_notify, and the tools that check the unit (strace: its syscall
# filter against what ferry calls), compose file, Prometheus config and container root.
# kubectl (its kustomize renders deploy/kubernetes/) may come from elsewhere; Debian's
# kubernetes-client is the fallback.
build+=(libsystemd-dev)
test+=(systemd docker-compose prometheus debootstrap strace)
command -v kubectl >/dev/null || test+=(kubernetes-client)

want=("${build[@]}" "${test[@]}")
for arg in "$@"; do
  case "$arg" in
    --bench) want+=("${bench[@]}") ;;
    --windows) want+=("${windows[@]}") ;;
    --build-only) want=("${build[@]}") ;;  # deploy/container/Dockerfile's build stage
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
# Packages with daemons (haproxy, nginx) must not start them here: the tests start their own.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
  $sudo chmod +x $policy
  made_policy=1
fi
trap '[[ $made_policy -eq 1 ]] && $sudo rm -f $policy' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
