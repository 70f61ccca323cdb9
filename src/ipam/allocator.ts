// host-local's allocation strategy over any Store: one address per range set, round-robin from
// the set's last reservation so a crash-looping container does not get its old IP straight back.
import { CniError, ErrCode } from '../cni/errors';
import { inRange, IpRange, ParsedRange, RangeSet, toParsedRange } from './config';
import { Family, IP, ipEqual, ipToString, parseIP } from '../ip/addr';
import { canonicalIP, lastOf, networkOf } from '../ip/cidr';
import { Store } from './store';

export interface Allocation {
  ip: string;
  /** The subnet's prefix length (the result's address is `${ip}/${prefix}`). */
  prefix: number;
  gateway?: string;
  family: Family;
  rangeSetIndex: number;
}

/** "start-end,start-end", as the reference names a range set in its errors. */
export const rangeSetText = (set: IpRange[]): string => set.map((r) => `${r.rangeStart}-${r.rangeEnd}`).join(',');

/** Never handed out: the gateway, the network address and, for IPv4, the broadcast address. */
function isExcluded(r: ParsedRange, ip: IP): boolean {
  return (
    (r.gateway !== undefined && ipEqual(ip, r.gateway)) ||
    ipEqual(ip, networkOf(r.subnet)) ||
    (ip.family === 4 && ipEqual(ip, lastOf(r.subnet)))
  );
}

/** Every address of the set once, starting just after `last` when the set holds it, else at the first range's start. */
function* candidates(ranges: ParsedRange[], last: IP | undefined): Generator<[ParsedRange, IP]> {
  const total = ranges.reduce((n, r) => n + (r.end.value - r.start.value + 1n), 0n);
  let ri = 0;
  let cur = ranges[0].start.value;
  const at = last ? ranges.findIndex((r) => inRange(r, last)) : -1;
  if (last && at >= 0) {
    ri = at;
    cur = last.value;
    [ri, cur] = step(ranges, ri, cur);
  }
  for (let k = 0n; k < total; k++) {
    yield [ranges[ri], { family: ranges[ri].start.family, value: cur }];
    [ri, cur] = step(ranges, ri, cur);
  }
}

function step(ranges: ParsedRange[], ri: number, cur: bigint): [number, bigint] {
  if (cur !== ranges[ri].end.value) return [ri, cur + 1n];
  const next = (ri + 1) % ranges.length;
  return [next, ranges[next].start.value];
}

function setContains(ranges: ParsedRange[], ip: IP): boolean {
  return ranges.some((r) => inRange(r, ip));
}

function allocation(r: ParsedRange, ip: IP, rangeSetIndex: number): Allocation {
  return {
    ip: ipToString(ip),
    prefix: r.subnet.prefix,
    family: ip.family,
    rangeSetIndex,
    ...(r.gateway ? { gateway: ipToString(r.gateway) } : {}),
  };
}

/**
 * One address from range set `index` for the attachment: `requested` ("ip" or "ip/prefix", in the set) if given, else
 * the next free one.
 */
export function allocateInSet(
  store: Store,
  index: number,
  set: RangeSet,
  containerId: string,
  ifname: string,
  requested?: string,
): Allocation {
  const ranges = set.map(toParsedRange);
  const setText = rangeSetText(set);
  // The spec forbids a second address per attachment in one set; the reference checks this only
  // when no IP was requested, we check it always.
  for (const held of store.findByAttachment(containerId, ifname)) {
    if (setContains(ranges, parseIP(held))) {
      throw new CniError(
        ErrCode.AddressInUse,
        `${held} has been allocated to ${containerId}, duplicate allocation is not allowed`,
      );
    }
  }

  if (requested !== undefined) {
    const ip = parseIP(canonicalIP(requested.trim(), 'requested IP'));
    const r = ranges.find((x) => inRange(x, ip));
    if (!r) throw new CniError(ErrCode.InvalidConfig, `${requested} not in range set ${setText}`);
    if (r.gateway && ipEqual(ip, r.gateway)) {
      throw new CniError(ErrCode.AddressInUse, `requested ip ${requested} is subnet's gateway`);
    }
    if (isExcluded(r, ip)) {
      throw new CniError(
        ErrCode.InvalidConfig,
        `requested ip ${requested} is the network or broadcast address of ` +
          `${ipToString(r.subnet.ip)}/${r.subnet.prefix}`,
      );
    }
    if (!store.reserve(containerId, ifname, ipToString(ip), index)) {
      throw new CniError(
        ErrCode.AddressInUse,
        `requested IP address ${requested} is not available in range set ${setText}`,
      );
    }
    return allocation(r, ip, index);
  }

  const lastText = store.lastReservedIP(index);
  const last = lastText === undefined ? undefined : parseIP(lastText);
  for (const [r, ip] of candidates(ranges, last)) {
    if (isExcluded(r, ip)) continue;
    if (store.reserve(containerId, ifname, ipToString(ip), index)) return allocation(r, ip, index);
  }
  throw new CniError(ErrCode.RangeExhausted, `no IP addresses available in range set: ${setText}`);
}

/** How many addresses of the set could still be handed out (for STATUS: 0 means an ADD would fail). */
export function freeAddressCount(store: Store, set: RangeSet): bigint {
  const ranges = set.map(toParsedRange);
  const total = ranges.reduce((n, r) => n + (r.end.value - r.start.value + 1n), 0n);
  const blocked = new Set<string>();
  for (const r of ranges) {
    const never = [
      networkOf(r.subnet),
      ...(r.gateway ? [r.gateway] : []),
      ...(r.subnet.ip.family === 4 ? [lastOf(r.subnet)] : []),
    ];
    for (const ip of never) if (setContains(ranges, ip)) blocked.add(ipToString(ip));
  }
  for (const text of store.reservedIPs()) if (setContains(ranges, parseIP(text))) blocked.add(text);
  return total - BigInt(blocked.size);
}

/**
 * One address per range set. Requested IPs go to the first set holding them; one that no set
 * holds (or a second one for the same set) fails the call before anything is reserved. If a set
 * fails, what this call reserved is released again.
 */
export function allocateAll(
  store: Store,
  sets: RangeSet[],
  containerId: string,
  ifname: string,
  requested: string[],
): Allocation[] {
  const parsedSets = sets.map((set) => set.map(toParsedRange));
  const pending = [...new Set(requested.map((s) => canonicalIP(s.trim(), 'requested IP')))];
  const perSet = parsedSets.map((ranges) => {
    const at = pending.findIndex((s) => setContains(ranges, parseIP(s)));
    return at < 0 ? undefined : pending.splice(at, 1)[0];
  });
  if (pending.length > 0) {
    throw new CniError(ErrCode.InvalidConfig, `failed to allocate all requested IPs: ${pending.join(' ')}`);
  }

  const done: Allocation[] = [];
  try {
    sets.forEach((set, i) => {
      done.push(allocateInSet(store, i, set, containerId, ifname, perSet[i]));
    });
  } catch (e) {
    for (const a of done) {
      try {
        store.release(a.ip);
      } catch {
        // report the allocation failure, not the cleanup's
      }
    }
    if (!(e instanceof CniError)) throw e;
    throw new CniError(e.code, `failed to allocate for range ${done.length}: ${e.message}`, e.details);
  }
  return done;
}
