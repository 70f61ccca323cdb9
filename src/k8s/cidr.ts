// Pod CIDRs as the node spec and the flags give them: validated, canonical, at most one per family.
import * as ipaddr from 'ipaddr.js';

export interface Cidr { family: 4 | 6; cidr: string; addr: ipaddr.IPv4 | ipaddr.IPv6; prefix: number }

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
const parseIp = (ip: string): ipaddr.IPv4 | ipaddr.IPv6 => remember(`ip ${ip}`, () => ipaddr.parse(ip));

export function parseCidr(text: string): Cidr {
  return remember(`cidr ${text}`, () => parseCidrNow(text));
}

function parseCidrNow(text: string): Cidr {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(text.trim());
  } catch {
    throw new Error(`"${text}" is not a CIDR`);
  }
  const [addr, prefix] = parsed;
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  // host-local wants the network address; "10.244.1.7/24" is a typo, not a range
  const net = family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(text.trim()) : ipaddr.IPv6.networkAddressFromCIDR(text.trim());
  if (net.toString() !== addr.toString()) throw new Error(`pod CIDR "${text}" has host bits set (network is ${net.toString()}/${prefix})`);
  return { family, cidr: `${addr.toString()}/${prefix}`, addr, prefix };
}

/** "10.244.1.0/24,fd00:10:244:1::/64" or a list; IPv4 first, like the node spec orders dual stack. */
export function parsePodCidrs(input: string | string[], what = 'pod CIDR'): string[] {
  const parts = (Array.isArray(input) ? input : [input]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (!parts.length) throw new Error(`no ${what} given`);
  const cidrs = parts.map(parseCidr);
  for (const f of [4, 6] as const) {
    if (cidrs.filter((c) => c.family === f).length > 1) throw new Error(`more than one IPv${f} ${what}: ${parts.join(', ')}`);
  }
  return cidrs.sort((a, b) => a.family - b.family).map((c) => c.cidr);
}

/** The kernel's spelling of an address ("fd00:0::2" -> "fd00::2"), so addresses compare as strings. */
export function canonicalIp(ip: string): string {
  return parseIp(ip).toString();
}

export function familyOf(ip: string): 4 | 6 {
  return parseIp(ip).kind() === 'ipv4' ? 4 : 6;
}

/** True when every address of `inner` is in `outer`. */
export function contains(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  return o.family === i.family && o.prefix <= i.prefix && overlaps(outer, inner);
}

/** The network an address with its prefix lies in: "192.168.1.7", 24 -> "192.168.1.0/24". */
export function networkOf(address: string, prefix: number): string {
  return remember(`net ${address}/${prefix}`, () => networkOfNow(address, prefix));
}

function networkOfNow(address: string, prefix: number): string {
  const a = ipaddr.parse(address);
  const net = a.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${a.toString()}/${prefix}`) : ipaddr.IPv6.networkAddressFromCIDR(`${a.toString()}/${prefix}`);
  return `${net.toString()}/${prefix}`;
}

/** The host route of one address: "10.0.0.1" -> "10.0.0.1/32". */
export const hostCidr = (ip: string): string => `${canonicalIp(ip)}/${familyOf(ip) === 4 ? 32 : 128}`;

/** True when the two CIDRs share any address. */
export function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (x.family !== y.family) return false;
  const shorter = x.prefix <= y.prefix ? x : y;
  const other = shorter === x ? y : x;
  return x.family === 4
    ? (other.addr as ipaddr.IPv4).match(shorter.addr as ipaddr.IPv4, shorter.prefix)
    : (other.addr as ipaddr.IPv6).match(shorter.addr as ipaddr.IPv6, shorter.prefix);
}
