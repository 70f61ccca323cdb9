#!/bin/bash
# Exec recorder installed as "tsbridge" in the e2e CNI bin dir: runs the real binary with the
# very environment and stdin the client gave, passes its stdout, stderr and exit status through,
# and appends what was exchanged to the log (@REAL@ and @LOG@ are filled in by lib.sh).
in=$(mktemp) out=$(mktemp)
cat >"$in"
@REAL@ "$@" <"$in" >"$out"
rc=$?
{
  printf '=== %s pid %s rc %s\n' "$(date +%T.%3N)" "$$" "$rc"
  env | grep '^CNI_' | sort
  printf 'stdin:  %s\n' "$(cat "$in")"
  printf 'stdout: %s\n' "$(cat "$out")"
} >>@LOG@ 2>/dev/null
cat "$out"
rm -f "$in" "$out"
exit "$rc"
