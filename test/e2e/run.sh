#!/usr/bin/env bash
# Run the e2e scripts (default: ctr podman cri; or the names given), one after the other, each
# in its own throwaway node namespace; print each one's time and the total closing line
# "N passed, M failed" (", K skipped" appended when K > 0). Needs the binary (TSBRIDGE_BIN, default
# build/bin/tsbridge) and build/js (make e2e builds both).
set -uo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(ctr podman cri)
passed=0 failed=0 skipped=0 summary=()
for n in "${names[@]}"; do
  start=$SECONDS
  out=$(mktemp)
  bash "$dir/$n.sh" 2>&1 </dev/null | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep -E "^$n: [0-9]+ passed, [0-9]+ failed" "$out" | tail -n 1)
  rm -f "$out"
  p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  s=0; [[ $line =~ ([0-9]+)\ skipped ]] && s=${BASH_REMATCH[1]}
  [ -n "$line" ] || { p=0 f=1; }
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1   # crashed before its checks failed
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  summary+=("$(printf '%-7s %3d passed, %d failed, %d skipped, %3d s' "$n" "$p" "$f" "$s" $((SECONDS - start)))")
done
echo "---- e2e summary ----"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
[ "$failed" -eq 0 ]
