#!/usr/bin/env bash
# Boots the test VM (test/vm/build.sh) under QEMU (TCG: no KVM needed, no network device) and prints
# what its /init printed; the last line is "N passed, M failed[, K skipped]". Exit 1 on a failure,
# a missing summary (crash, hang past VM_TIMEOUT seconds) or a build error.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/vm
bash "$root/test/vm/build.sh" || { echo "vm: build failed"; echo "0 passed, 1 failed"; exit 1; }
log=$out/console.log
timeout "${VM_TIMEOUT:-900}" qemu-system-x86_64 -accel tcg -cpu max -m 2048 -smp 2 -nographic -no-reboot -nic none \
  -kernel "$out/vmlinuz" -initrd "$out/initramfs.cpio" \
  -append "console=ttyS0 quiet panic=-1 rdinit=/init" </dev/null >"$log" 2>&1
rc=$?
tr -d '\r' <"$log" | grep -E '^(ok|not ok|skip|#|vm:) ' || true
line=$(tr -d '\r' <"$log" | sed -n 's/^vm: \([0-9]* passed, [0-9]* failed.*\)$/\1/p' | tail -n 1)
if [ -z "$line" ]; then
  echo "vm: no summary (qemu exit $rc); last console lines:"; tr -d '\r' <"$log" | tail -n 20
  echo "0 passed, 1 failed"; exit 1
fi
echo "$line"
[[ "$line" == *" 0 failed"* ]]
