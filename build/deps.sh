#!/usr/bin/env bash
# Install what a fresh machine lacks: Debian packages for the kernel tests and the reference
# plugins we compare against, then the npm dependencies. Idempotent and quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."
# gcc-aarch64-linux-gnu: the arm64 addon; qemu-user-static + libc6-arm64-cross: the arm64 binary's
# test runs it under qemu-aarch64-static -L /usr/aarch64-linux-gnu (no binfmt needed)
pkgs=(iproute2 iptables nftables iputils-ping containernetworking-plugins gcc make binutils
  gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-arm64-cross qemu-user-static)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund </dev/null
fi
# Bun's linux-aarch64 runtime for build/bin/tsbridge-arm64: its own pinned lock (build/arm64), because
# npm refuses a package for another CPU in the root tree; --force is what lets it in, and only here.
arm=build/arm64
if [ ! -d $arm/node_modules ] || [ $arm/package-lock.json -nt $arm/node_modules/.package-lock.json ]; then
  npm ci --prefix $arm --force --no-audit --no-fund </dev/null 2>&1 | grep -v 'using --force' || true
  [ -x $arm/node_modules/@oven/bun-linux-aarch64/bin/bun ] || { echo "deps: npm ci in $arm failed" >&2; exit 1; }
fi
