#!/usr/bin/env bash
# Build build/cnitool (test/cnitool/main.go) offline against Debian's libcni source: GOPATH mode
# over /usr/share/gocode, no module download. Installs golang-go and golang-github-appc-cni-dev
# when missing. Rebuilds only when main.go is newer than the binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/cnitool
src=$root/test/cnitool
missing=()
for p in golang-go golang-github-appc-cni-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "cnitool: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
fi
if [ -x "$out" ] && [ "$out" -nt "$src/main.go" ]; then exit 0; fi
mkdir -p "$root/build/gocache"
cd "$src"
GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= GOCACHE="$root/build/gocache" CGO_ENABLED=0 \
  go build -trimpath -o "$out.tmp" .
mv "$out.tmp" "$out"
echo "built $out" >&2
