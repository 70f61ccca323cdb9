// Pod CIDRs and node addresses as texts from the node spec, Node objects and the flags: parsed with
// src/ip (strict, as Go), canonical, at most one pod CIDR per family, and remembered per text.
import { Family, familyBits, IP, ipToString, tryParseIP } from '../ip/addr';
import { Cidr, cidrToString, covers, hostCidrOf, overlaps, subnetOf, tryParseCidr } from '../ip/cidr';

export interface PodCidr {
  readonly family: Family;
  readonly cidr: string;
  readonly net: Cidr;
}

/**
 * Parsed CIDRs and addresses, by their text: the route agent compares every node's CIDRs with every
 * other's on each sync (quadratic in nodes), and parsing there made a sync of 200 nodes take seconds
 * of blocked event loop. Two generations: the route plan starts a new one each time (memoGeneration),
 * an entry used in the last plan is carried over, the rest is dropped, so Node churn (new gateways,
 * CIDRs) does not make it grow. Without plans it is emptied past MEMO_MAX entries.
 */
const MEMO_MAX = 50_000;
let memoNow = new Map<string, unknown>();
let memoBefore = new Map<string, unknown>();
export function memoGeneration(): void {
  memoBefore = memoNow;
  memoNow = new Map();
}
/** Entries held now (for tests). */
export const memoSize = (): number => memoNow.size + memoBefore.size;
function remember<T>(key: string, make: () => T): T {
  let v = memoNow.get(key) as T | undefined;
  if (v === undefined) {
    v = (memoBefore.get(key) as T | undefined) ?? make(); // make() throws for bad input: nothing is remembered
    if (memoNow.size >= MEMO_MAX) memoGeneration();
    memoNow.set(key, v);
  }
  return v;
}

/** An address text, or undefined when it is none. */
export const addressOf = (text: string): IP | undefined =>
  remember(`ip ${text}`, () => tryParseIP(text) ?? null) ?? undefined;

/** A pod CIDR text; throws when it is none or has host bits set. */
export function parsePodCidr(text: string): PodCidr {
  return remember(`cidr ${text}`, () => parsePodCidrNow(text));
}

function parsePodCidrNow(text: string): PodCidr {
  const c = tryParseCidr(text.trim());
  if (!c) throw new Error(`"${text}" is not a CIDR`);
  // host-local wants the network address; "10.244.1.7/24" is a typo, not a range
  const net = subnetOf(c);
  if (net.ip.value !== c.ip.value)
    throw new Error(`pod CIDR "${text}" has host bits set (network is ${cidrToString(net)})`);
  return { family: c.ip.family, cidr: cidrToString(c), net };
}

/** "10.244.1.0/24,fd00:10:244:1::/64" or a list; IPv4 first, like the node spec orders dual stack. */
export function parsePodCidrs(input: string | string[], what = 'pod CIDR'): string[] {
  const parts = (Array.isArray(input) ? input : [input])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  if (!parts.length) throw new Error(`no ${what} given`);
  const cidrs = parts.map(parsePodCidr);
  for (const f of [4, 6] as const) {
    if (cidrs.filter((c) => c.family === f).length > 1)
      throw new Error(`more than one IPv${f} ${what}: ${parts.join(', ')}`);
  }
  return [...cidrs].sort((a, b) => a.family - b.family).map((c) => c.cidr);
}

/** True when the two CIDR texts (network addresses) share any address; throws when one is no CIDR. */
export const cidrsOverlap = (a: string, b: string): boolean => overlaps(parsePodCidr(a).net, parsePodCidr(b).net);

/** True when every address of CIDR text `inner` is in `outer`. */
export const cidrCovers = (outer: string, inner: string): boolean =>
  covers(parsePodCidr(outer).net, parsePodCidr(inner).net);

function needAddress(text: string): IP {
  const ip = addressOf(text);
  if (!ip) throw new Error(`"${text}" is not an IP address`);
  return ip;
}

/** The host route of an address text ("10.0.0.1" -> "10.0.0.1/32"); throws when it is none. */
export const hostCidrText = (text: string): string => cidrToString(hostCidrOf(needAddress(text)));

/** The network an address with its prefix lies in ("192.168.1.7", 24 -> "192.168.1.0/24"); throws when it is none. */
export function networkText(address: string, prefix: number): string {
  return remember(`net ${address}/${prefix}`, () => {
    const ip = needAddress(address);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > familyBits(ip.family))
      throw new Error(`invalid prefix ${prefix} for ${address}`);
    return cidrToString(subnetOf({ ip, prefix }));
  });
}

/** The kernel's spelling of an address text ("fd00:0::2" -> "fd00::2"); throws when it is none. */
export const canonicalAddress = (text: string): string => ipToString(needAddress(text));
