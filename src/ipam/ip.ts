// IP and CIDR values as (family, bigint) so range arithmetic is plain integer math.
// Parsing is as strict as Go's net.ParseIP/ParseCIDR (the reference's parser): dotted-quad IPv4
// without leading zeros, IPv6 without zone, and an IPv4-mapped IPv6 address is IPv4. Text output
// matches Go's net.IP.String(), because host-local names its files with it.
import * as ipaddr from 'ipaddr.js';
import { CniError, ErrCode } from '../cni/errors';

export type Family = 4 | 6;
export interface IP { readonly family: Family; readonly value: bigint }
/** `ip` keeps any host bits as written (Go's types.ParseCIDR does too); use networkOf() to clear them. */
export interface Cidr { readonly ip: IP; readonly prefix: number }

export const familyBits = (f: Family): number => (f === 4 ? 32 : 128);

function bad(what: string, s: string): CniError {
  return new CniError(ErrCode.InvalidConfig, `invalid ${what} ${JSON.stringify(s)}`);
}

function fromBytes(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** The address, or undefined when `s` is not one. */
export function tryParseIP(s: string): IP | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) {
    return { family: 4, value: fromBytes(ipaddr.IPv4.parse(s).toByteArray()) };
  }
  if (s.includes('%') || !ipaddr.IPv6.isValid(s)) return undefined;
  const tail = s.slice(s.lastIndexOf(':') + 1);
  if (tail.includes('.') && !ipaddr.IPv4.isValidFourPartDecimal(tail)) return undefined;
  // ipaddr.js reads the deprecated "::a.b.c.d" as ::ffff:a.b.c.d; Go keeps it as ::a.b.c.d.
  const value = /^::\d/.test(s) && tail.includes('.') && s.indexOf(':', 2) === -1
    ? fromBytes(ipaddr.IPv4.parse(tail).toByteArray())
    : fromBytes(ipaddr.IPv6.parse(s).toByteArray());
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

export function parseIP(s: string, what = 'IP address'): IP {
  const ip = tryParseIP(s);
  if (!ip) throw bad(what, s);
  return ip;
}

/** `a.b.c.d/n` or `v6/n`; an IPv4-mapped IPv6 CIDR is refused (Go: "IP and Mask version mismatch"). */
export function parseCidr(s: string, what = 'CIDR'): Cidr {
  const slash = s.indexOf('/');
  const prefixText = s.slice(slash + 1);
  if (slash < 0 || !/^\d{1,3}$/.test(prefixText)) throw bad(what, s);
  const addrText = s.slice(0, slash);
  const ip = tryParseIP(addrText);
  const prefix = Number(prefixText);
  if (!ip || (ip.family === 4 && addrText.includes(':')) || prefix > familyBits(ip.family)) throw bad(what, s);
  return { ip, prefix };
}

/** Go's net.IP.String(): dotted quad, or RFC 5952 (longest zero run of 2+ groups, first on ties). */
export function ipToString(ip: IP): string {
  if (ip.family === 4) {
    return [24n, 16n, 8n, 0n].map((sh) => String((ip.value >> sh) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let sh = 112n; sh >= 0n; sh -= 16n) groups.push(Number((ip.value >> sh) & 0xffffn));
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

/** True when `s` is the canonical text of an address (host-local names its records so; "1" or "0x1f" are not). */
export function isCanonicalIP(s: string): boolean {
  const ip = tryParseIP(s);
  return ip !== undefined && ipToString(ip) === s;
}

export const cidrToString = (c: Cidr): string => `${ipToString(c.ip)}/${c.prefix}`;

function hostMask(c: Cidr): bigint {
  return (1n << BigInt(familyBits(c.ip.family) - c.prefix)) - 1n;
}

export function networkOf(c: Cidr): IP {
  return { family: c.ip.family, value: c.ip.value & ~hostMask(c) };
}

/** The highest address of the subnet (the broadcast address for IPv4). */
export function lastOf(c: Cidr): IP {
  return { family: c.ip.family, value: c.ip.value | hostMask(c) };
}

export function contains(c: Cidr, ip: IP): boolean {
  return ip.family === c.ip.family && (ip.value & ~hostMask(c)) === networkOf(c).value;
}

export const ipEqual = (a: IP, b: IP): boolean => a.family === b.family && a.value === b.value;

/** Orders by family first (IPv4 before IPv6), then by value. */
export function compareIP(a: IP, b: IP): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** ip + n; throws when the result leaves the family's address space. */
export function addIP(ip: IP, n: bigint): IP {
  const value = ip.value + n;
  if (value < 0n || value >> BigInt(familyBits(ip.family)) !== 0n) {
    throw new CniError(ErrCode.InvalidConfig, `${ipToString(ip)} + ${n} is outside the IPv${ip.family} space`);
  }
  return { family: ip.family, value };
}

/** Canonical text of an address given as text ("10.0.0.5" or "10.0.0.5/24": the prefix is ignored, as the reference does for requested IPs). */
export function canonicalIP(s: string, what = 'IP address'): string {
  const slash = s.indexOf('/');
  return ipToString(slash < 0 ? parseIP(s, what) : parseCidr(s, what).ip);
}
