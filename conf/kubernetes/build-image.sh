#!/usr/bin/env bash
# Build the tsbridge container image, linux/amd64 + linux/arm64, without a daemon (buildah, from
# Debian: apt-get install buildah). `make build` makes both binaries (build/bin/tsbridge{,-arm64}).
#   make build && conf/kubernetes/build-image.sh            -> one image per architecture
#        (localhost/tsbridge:<version>-amd64, -arm64), the manifest list localhost/tsbridge:<version>
#        naming both, and docker archives build/tsbridge-image.tar (amd64), build/tsbridge-image-arm64.tar
#   conf/kubernetes/build-image.sh --stage-only             -> only the build contexts: build/image
#                                                              (amd64) and build/image-arm64
#   TSBRIDGE_IMAGE_PUSH=docker://REGISTRY/tsbridge:0.1.0 conf/kubernetes/build-image.sh
#        -> the manifest list and both images pushed; prints REGISTRY/tsbridge@sha256:... (the list's
#           digest: each node pulls its own architecture)
# Load an archive on a node (its architecture's): ctr -n k8s.io images import build/tsbridge-image.tar
# Pin the image by digest in the DaemonSets (`image: REGISTRY/tsbridge@sha256:...`): this script prints
# the one to use. A tag can be moved to other bytes, and this image writes a binary root runs.
# TSBRIDGE_IMAGE_CONTEXT (default build/image; the arm64 tree goes to the same path + "-arm64") is
# emptied first, and only when it is missing, empty or a tree this script staged (never "/" or a
# directory with anything else in it); both are checked before either is touched.
# TSBRIDGE_BIN (absolute or relative to the repository root; default build/bin/tsbridge, as the tests)
# names the binary; the arm64 one is next to it, as <TSBRIDGE_BIN>-arm64.
# Works offline: FROM scratch pulls nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$root" && realpath -ms -- "${TSBRIDGE_BIN:-build/bin/tsbridge}")
bin_arm64=$bin-arm64
sysroot_arm64=/usr/aarch64-linux-gnu
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
ctx_arm64=$ctx-arm64
for c in "$ctx" "$ctx_arm64"; do
  if [ "$c" = / ] || { [ -e "$c" ] && ! { [ -d "$c" ] && [ -z "$(ls -A -- "$c")" ]; } && ! staged_tree "$c"; }; then
    echo "TSBRIDGE_IMAGE_CONTEXT=$ctx: $c exists and is not a tree this script staged:" \
      "refusing to delete it (give a new or empty directory)" >&2
    exit 1
  fi
done

[ -x "$bin" ] || { echo "$bin missing: run make build" >&2; exit 1; }
[ -x "$bin_arm64" ] || { echo "$bin_arm64 missing: run make build (not --host-only)" >&2; exit 1; }
command -v aarch64-linux-gnu-readelf >/dev/null && [ -d "$sysroot_arm64/lib" ] ||
  { echo "the arm64 tree needs binutils-aarch64-linux-gnu and libc6-arm64-cross (make deps)" >&2; exit 1; }
version=$("$bin" --version | awk 'NR==1 {print $2}')
tag=${TSBRIDGE_IMAGE:-localhost/tsbridge:$version}

# stage TREE BINARY: the binary, /tmp, and /run (where it unpacks its native module; the DaemonSet
# mounts a memory emptyDir there); the caller adds the libraries
stage() {
  rm -rf -- "$1"
  mkdir -p "$1/usr/local/bin" "$1/tmp" "$1/run" "$1/licenses"
  cp "$2" "$1/usr/local/bin/tsbridge"
  chmod 1777 "$1/tmp"
  # what the binary embeds; both binaries come from one bundle with one license list (build/build.mjs),
  # and only the host's can run here
  "$bin" licenses >"$1/licenses/tsbridge-embedded.txt"
}
# copy_lib TREE FROM TO: one library, and the copyright file of the Debian package it came from
copy_lib() {
  mkdir -p "$1$(dirname "$3")"
  cp -L "$2" "$1$3"
  local pkg
  pkg=$({ dpkg -S "$2" 2>/dev/null || dpkg -S "$(realpath "$2")"; } | head -n1 | cut -d: -f1)
  cp "/usr/share/doc/$pkg/copyright" "$1/licenses/$pkg.copyright"
}

# amd64: the dynamic loader and every library the binary needs, at the same paths as on the build
# machine (the Bun-compiled binary: glibc's libc, libm, libpthread, libdl and ld-linux; no libstdc++)
stage "$ctx" "$bin"
for lib in $(ldd "$bin" | awk '/=>/ {print $3; next} $1 ~ /^\// {print $1}'); do
  copy_lib "$ctx" "$lib" "$lib"
done
# arm64: the same libraries from Debian's libc6-arm64-cross, where an arm64 Debian has them: the
# loader at the binary's PT_INTERP path, the rest in /lib/aarch64-linux-gnu (ld.so's search path)
stage "$ctx_arm64" "$bin_arm64"
interp=$(aarch64-linux-gnu-readelf -l "$bin_arm64" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
copy_lib "$ctx_arm64" "$sysroot_arm64/lib/$(basename "$interp")" "$interp"
for lib in $(aarch64-linux-gnu-readelf -d "$bin_arm64" | awk '/NEEDED/ {gsub(/[][]/, "", $5); print $5}'); do
  [ "$lib" = "$(basename "$interp")" ] && continue
  copy_lib "$ctx_arm64" "$sysroot_arm64/lib/$lib" "/lib/aarch64-linux-gnu/$lib"
done
echo "staged $(du -sh "$ctx" | cut -f1) in $ctx (amd64), $(du -sh "$ctx_arm64" | cut -f1) in $ctx_arm64 (arm64)"
[ "${1:-}" = "--stage-only" ] && exit 0

if ! command -v buildah >/dev/null; then
  echo "buildah not installed (apt-get install buildah), or use --stage-only with docker" >&2
  exit 1
fi
# FROM scratch + COPY: nothing runs at build time, so the arm64 image needs no emulator
for arch in amd64 arm64; do
  c=$ctx; [ $arch = arm64 ] && c=$ctx_arm64
  buildah bud --quiet --isolation chroot --arch $arch --os linux \
    -f "$root/conf/kubernetes/Containerfile" -t "$tag-$arch" "$c" >/dev/null
done
# the manifest list under the plain tag (replacing a list or single-arch image of an earlier run)
buildah manifest rm "$tag" >/dev/null 2>&1 || buildah rmi "$tag" >/dev/null 2>&1 || true
buildah manifest create "$tag" >/dev/null
for arch in amd64 arm64; do buildah manifest add "$tag" "containers-storage:$tag-$arch" >/dev/null; done
# docker-archive holds one architecture: one per arch, each tagged with the plain tag, so that
# `ctr images import`, `docker load` and `kind load image-archive` on a node give the name the DaemonSet uses
rm -f "$root/build/tsbridge-image.tar" "$root/build/tsbridge-image-arm64.tar"
buildah push --quiet "$tag-amd64" "docker-archive:$root/build/tsbridge-image.tar:$tag"
buildah push --quiet "$tag-arm64" "docker-archive:$root/build/tsbridge-image-arm64.tar:$tag"
echo "images $tag-amd64, $tag-arm64; manifest list $tag;" \
  "archives build/tsbridge-image.tar (amd64), build/tsbridge-image-arm64.tar (arm64)"
if [ -n "${TSBRIDGE_IMAGE_PUSH:-}" ]; then
  # the digest the registry stores for the manifest list as pushed (with both images): the one to pin
  buildah manifest push --all --quiet --digestfile "$root/build/tsbridge-image.digest" "$tag" "$TSBRIDGE_IMAGE_PUSH"
  ref=${TSBRIDGE_IMAGE_PUSH#docker://}
  case ${ref##*/} in *:*) ref=${ref%:*} ;; esac # the tag, not a registry's :port
  echo "pushed; pin it in conf/kubernetes/*.yaml as  image: $ref@$(cat "$root/build/tsbridge-image.digest")"
else
  # a registry may compress the layers again on push: push with TSBRIDGE_IMAGE_PUSH for its digest
  echo "to pin by digest, push with TSBRIDGE_IMAGE_PUSH=docker://REGISTRY/tsbridge:$version" \
    "(prints REGISTRY/tsbridge@sha256:...)"
fi
