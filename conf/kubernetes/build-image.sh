#!/usr/bin/env bash
# Build the tsbridge container image without a daemon (buildah, from Debian: apt-get install buildah):
#   make build && conf/kubernetes/build-image.sh            -> image localhost/tsbridge:<version>
#                                                              and build/tsbridge-image.tar (docker archive)
#   conf/kubernetes/build-image.sh --stage-only             -> only the build context in build/image
#   TSBRIDGE_IMAGE_PUSH=docker://REGISTRY/tsbridge:0.1.0 conf/kubernetes/build-image.sh
#                                                           -> also pushed; prints REGISTRY/tsbridge@sha256:...
# Load the archive on a node: ctr -n k8s.io images import build/tsbridge-image.tar
# Pin the image by digest in the DaemonSets (`image: REGISTRY/tsbridge@sha256:...`): this script prints
# the one to use. A tag can be moved to other bytes, and this image writes a binary root runs.
# TSBRIDGE_IMAGE_CONTEXT (default build/image) is emptied first, and only when it is missing, empty or
# a tree this script staged (never "/" or a directory with anything else in it).
# Works offline: FROM scratch pulls nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/build/bin/tsbridge
ctx=$(realpath -m -- "${TSBRIDGE_IMAGE_CONTEXT:-$root/build/image}")

# rm -rf only what this script made: a staged tree holds nothing but these top-level entries
staged_tree() {
  [ -f "$1/usr/local/bin/tsbridge" ] || return 1
  local e
  for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    case "${e##*/}" in usr|lib|lib32|lib64|libx32|run|tmp|licenses) ;; *) return 1 ;; esac
  done
}
if [ "$ctx" = / ] || { [ -e "$ctx" ] && ! { [ -d "$ctx" ] && [ -z "$(ls -A -- "$ctx")" ]; } && ! staged_tree "$ctx"; }; then
  echo "TSBRIDGE_IMAGE_CONTEXT=$ctx exists and is not a tree this script staged: refusing to delete it (give a new or empty directory)" >&2
  exit 1
fi

[ -x "$bin" ] || { echo "build/bin/tsbridge missing: run make build" >&2; exit 1; }
version=$("$bin" --version | awk 'NR==1 {print $2}')
tag=${TSBRIDGE_IMAGE:-localhost/tsbridge:$version}
rm -rf -- "$ctx"
# /run: where the binary unpacks its native modules (the DaemonSet mounts a memory emptyDir there)
mkdir -p "$ctx/usr/local/bin" "$ctx/tmp" "$ctx/run"
cp "$bin" "$ctx/usr/local/bin/tsbridge"
# the dynamic loader and every library the binary needs, at the same paths as on the build machine
# (the Bun-compiled binary: glibc's libc, libm, libpthread, libdl and ld-linux; no libstdc++)
for lib in $(ldd "$bin" | awk '/=>/ {print $3; next} $1 ~ /^\// {print $1}'); do
  mkdir -p "$ctx$(dirname "$lib")"
  cp -L "$lib" "$ctx$lib"
done
# notices: what the binary embeds (its own list) and the copyright files of the copied libraries' packages
mkdir -p "$ctx/licenses"
"$bin" licenses >"$ctx/licenses/tsbridge-embedded.txt"
for lib in $(ldd "$bin" | awk '/=>/ {print $3; next} $1 ~ /^\// {print $1}'); do
  pkg=$({ dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")"; } | head -n1 | cut -d: -f1)
  cp "/usr/share/doc/$pkg/copyright" "$ctx/licenses/$pkg.copyright"
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
if [ -n "${TSBRIDGE_IMAGE_PUSH:-}" ]; then
  # the digest the registry stores (its manifest as pushed): the one to pin
  buildah push --quiet --digestfile "$root/build/tsbridge-image.digest" "$tag" "$TSBRIDGE_IMAGE_PUSH"
  ref=${TSBRIDGE_IMAGE_PUSH#docker://}
  case ${ref##*/} in *:*) ref=${ref%:*} ;; esac # the tag, not a registry's :port
  echo "pushed; pin it in conf/kubernetes/*.yaml as  image: $ref@$(cat "$root/build/tsbridge-image.digest")"
else
  # a registry may compress the layers again on push: push with TSBRIDGE_IMAGE_PUSH for its digest
  echo "local image digest $(buildah images --digests --no-trunc --format '{{.Digest}}' "$tag" | head -n1);" \
    "to pin by digest, push with TSBRIDGE_IMAGE_PUSH=docker://REGISTRY/tsbridge:$version (prints REGISTRY/tsbridge@sha256:...)"
fi
