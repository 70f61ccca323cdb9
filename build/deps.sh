#!/usr/bin/env bash
# Install what a fresh machine lacks: Debian packages for the kernel tests and the reference
# plugins we compare against, then the npm dependencies. Idempotent and quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(iproute2 iptables nftables iputils-ping containernetworking-plugins gcc make binutils)
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
