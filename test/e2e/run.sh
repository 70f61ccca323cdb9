#!/usr/bin/env bash
# Run the e2e scripts (default: ctr podman cri; or the names given), one after the other, each
# in its own throwaway node namespace; print each one's time and the total closing line
# "N passed, M failed". Needs build/bin/tsbridge and build/js (make e2e builds both).
set -uo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(ctr podman cri)
passed=0 failed=0 summary=()
for n in "${names[@]}"; do
  start=$SECONDS
  out=$(mktemp)
  bash "$dir/$n.sh" 2>&1 </dev/null | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep -E "^$n: [0-9]+ passed, [0-9]+ failed" "$out" | tail -n 1)
  rm -f "$out"
  p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  [ -n "$line" ] || { p=0 f=1; }
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1   # crashed before its checks failed
  passed=$((passed + p)) failed=$((failed + f))
  summary+=("$(printf '%-7s %3d passed, %d failed, %3d s' "$n" "$p" "$f" $((SECONDS - start)))")
done
echo "---- e2e summary ----"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
