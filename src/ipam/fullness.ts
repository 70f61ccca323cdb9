// How full a range set is, in words: STATUS logs it, `tsbridge doctor` reports it.

/** A range set with no free address, or under 10% free: worth a warning (and `doctor`), not a STATUS error. */
export function fullnessWarnings(usage: { free: bigint; size: bigint }[]): string[] {
  return usage.flatMap((u, i) => {
    if (u.free === 0n) return [`range set ${i} is exhausted (0 of ${u.size} addresses free): the next ADD on it fails`];
    if (u.free * 10n < u.size) return [`range set ${i} is nearly full (${u.free} of ${u.size} addresses free)`];
    return [];
  });
}
