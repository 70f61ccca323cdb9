#!/usr/bin/env bash
# Build the tsbridge container image without a daemon (buildah, from Debian: apt-get install buildah):
#   make build && conf/kubernetes/build-image.sh            -> image localhost/tsbridge:<version>
#                                                              and build/tsbridge-image.tar (docker archive)
#   conf/kubernetes/build-image.sh --stage-only             -> only the build context in build/image
# Load the archive on a node: ctr -n k8s.io images import build/tsbridge-image.tar
# or push it:                 buildah push localhost/tsbridge:0.1.0 docker://REGISTRY/tsbridge:0.1.0
# Works offline: FROM scratch pulls nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/build/bin/tsbridge
ctx=${TSBRIDGE_IMAGE_CONTEXT:-$root/build/image}
version=$("$bin" --version | awk 'NR==1 {print $2}')
tag=${TSBRIDGE_IMAGE:-localhost/tsbridge:$version}

[ -x "$bin" ] || { echo "build/bin/tsbridge missing: run make build" >&2; exit 1; }
rm -rf "$ctx"
# /run: where the binary unpacks its native modules (the DaemonSet mounts a memory emptyDir there)
mkdir -p "$ctx/usr/local/bin" "$ctx/tmp" "$ctx/run"
cp "$bin" "$ctx/usr/local/bin/tsbridge"
# the dynamic loader and every library the binary needs, at the same paths as on the build machine
for lib in $(ldd "$bin" | awk '/=>/ {print $3; next} $1 ~ /^\// {print $1}'); do
  mkdir -p "$ctx$(dirname "$lib")"
  cp -L "$lib" "$ctx$lib"
done
chmod 1777 "$ctx/tmp"
echo "staged $(du -sh "$ctx" | cut -f1) in $ctx"
[ "${1:-}" = "--stage-only" ] && exit 0

command -v buildah >/dev/null || { echo "buildah not installed (apt-get install buildah), or use --stage-only with docker" >&2; exit 1; }
buildah bud --quiet --isolation chroot -f "$root/conf/kubernetes/Containerfile" -t "$tag" "$ctx"
rm -f "$root/build/tsbridge-image.tar"
# docker-archive: `ctr images import`, `docker load` and `kind load image-archive` all read it with its tag
buildah push --quiet "$tag" "docker-archive:$root/build/tsbridge-image.tar:$tag"
echo "image $tag, archive build/tsbridge-image.tar"
