#!/usr/bin/env bash
# Builds the test VM: Debian 12's stock kernel (the package linux-image-amd64 depends on, 6.1) and an
# initramfs with busybox-static, the tsbridge binary, iproute2, nft, iptables(-nft), the reference
# plugins and the shared libraries `ldd` lists for them, the kernel modules the tests need (bridge with
# VLAN filtering, 8021q, veth, nf_tables, xtables) and a small /init that runs test/vm/guest/*.sh.
# Output: build/vm/vmlinuz, build/vm/initramfs.cpio. Needs root only for apt-get; idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/vm
# the binary under test: TSBRIDGE_BIN (absolute or relative to the repository root), as test/helpers/paths.ts
bin=$(cd "$root" && realpath -ms -- "${TSBRIDGE_BIN:-build/bin/tsbridge}")
[ -x "$bin" ] || { echo "vm: $bin missing: run make build first" >&2; exit 2; }

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx cpio || need+=(busybox-static)
for p in iproute2 nftables iptables containernetworking-plugins; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "vm: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}" </dev/null >/dev/null
fi

# the one kernel package linux-image-amd64 names (a glob would download every kernel)
mkdir -p "$out/dl"
kernel_pkg() { apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
kpkg=$(kernel_pkg)
[ -n "$kpkg" ] || { apt-get update -qq </dev/null; kpkg=$(kernel_pkg); }
[ -n "$kpkg" ] || { echo "vm: cannot find the kernel package of linux-image-amd64" >&2; exit 2; }
kver=${kpkg#linux-image-}
if [ ! -f "$out/kernel/lib/modules/$kver/modules.dep" ]; then
  rm -rf "$out/kernel" "$out/dl"/*.deb
  (cd "$out/dl" && apt-get download "$kpkg" </dev/null 2>/dev/null)
  dpkg-deb -x "$out"/dl/"$kpkg"_*.deb "$out/kernel"
  # the package ships no modules.dep (its postinst runs depmod): make it with busybox's depmod
  /bin/busybox depmod -b "$out/kernel" "$kver"
  rm -f "$out"/dl/*.deb
fi
cp "$out/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"

stage=$out/rootfs
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,etc,proc,sys,dev,run,tmp,var/lib,opt/cni/bin,usr/lib/cni,lib64,tests}
cp /bin/busybox "$stage/bin/busybox"
ln -s ../bin/busybox "$stage/sbin/modprobe" # the kernel's request_module() runs /sbin/modprobe

# modules: the wanted ones and everything modules.dep says they need
mdir=$out/kernel/lib/modules/$kver
wanted=(crc32c_generic libcrc32c bridge veth 8021q br_netfilter
  nf_tables nft_chain_nat nft_nat nft_masq nft_ct nft_compat nft_reject_inet nft_fib_inet nft_redir
  nf_nat nf_conntrack nft_meta_bridge nf_conntrack_bridge nft_reject_bridge
  ip_tables ip6_tables iptable_nat iptable_raw iptable_filter iptable_mangle ip6table_nat ip6table_raw ip6table_filter
  ip6table_mangle xt_MASQUERADE xt_comment xt_conntrack xt_mark xt_addrtype xt_multiport xt_nat xt_tcpudp xt_set
  xt_CT xt_physdev sctp nf_nat_sctp)
python3 - "$mdir" "$stage" "${wanted[@]}" <<'PY'
import os, shutil, sys
mdir, stage, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
dep = {}
for line in open(os.path.join(mdir, 'modules.dep')):
    k, _, v = line.partition(':')
    dep[k.strip()] = v.split()
by_name = {os.path.basename(k).split('.ko')[0].replace('-', '_'): k for k in dep}
todo, seen = [by_name[w] for w in wanted if w in by_name], set()
while todo:
    m = todo.pop()
    if m in seen: continue
    seen.add(m); todo += dep.get(m, [])
kver = os.path.basename(mdir)
dst = os.path.join(stage, 'lib/modules', kver)
for m in seen:
    os.makedirs(os.path.join(dst, os.path.dirname(m)), exist_ok=True)
    shutil.copy2(os.path.join(mdir, m), os.path.join(dst, m))
with open(os.path.join(dst, 'modules.dep'), 'w') as f:
    for k, v in dep.items():
        if k in seen: f.write(f"{k}: {' '.join(v)}\n")
for extra in ('modules.builtin', 'modules.order', 'modules.alias'):
    if os.path.exists(os.path.join(mdir, extra)): shutil.copy2(os.path.join(mdir, extra), os.path.join(dst, extra))
with open(os.path.join(stage, 'modules.list'), 'w') as f:
    f.write('\n'.join(w for w in wanted if w in by_name) + '\n')
print(f"vm: {len(seen)} modules", file=sys.stderr)
PY

# programs and the libraries they link
copy_with_libs() { # copy_with_libs SRC DST
  install -D -m 0755 "$1" "$stage$2"
  ldd "$1" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | while read -r lib; do
    [ -e "$stage$lib" ] || install -D -m 0755 "$lib" "$stage$lib"
  done
}
copy_with_libs "$bin" /opt/cni/bin/tsbridge
copy_with_libs "$(command -v ip)" /sbin/ip
copy_with_libs "$(command -v bridge)" /sbin/bridge
copy_with_libs "$(command -v nft)" /sbin/nft
copy_with_libs /usr/sbin/xtables-nft-multi /sbin/xtables-nft-multi
for t in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do
  ln -sf xtables-nft-multi "$stage/sbin/$t"
done
xt=/usr/lib/x86_64-linux-gnu/xtables
mkdir -p "$stage$xt" && cp -a "$xt"/. "$stage$xt/"
for p in bridge host-local portmap static; do install -m 0755 /usr/lib/cni/$p "$stage/usr/lib/cni/$p"; done
install -D -m 0644 /lib64/ld-linux-x86-64.so.2 "$stage/lib64/ld-linux-x86-64.so.2"
chmod 0755 "$stage/lib64/ld-linux-x86-64.so.2"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$stage/etc/passwd"
printf 'root:x:0:\n' > "$stage/etc/group"
printf '127.0.0.1 localhost\n' > "$stage/etc/hosts"

install -m 0755 "$root/test/vm/guest/init" "$stage/init"
install -m 0755 "$root"/test/vm/guest/*.sh "$stage/tests/"

(cd "$stage" && find . | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null) > "$out/initramfs.cpio"
echo "vm: kernel $kver, initramfs $(du -h "$out/initramfs.cpio" | cut -f1)" >&2
