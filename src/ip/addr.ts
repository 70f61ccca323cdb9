// Addresses as (family, bigint), so range arithmetic is plain integer math. The one address parser
// and the one canonical text of tsbridge.
// Parsing is as strict as Go's net.ParseIP (the reference's parser): dotted-quad IPv4 without
// leading zeros or shorthands ("10.1", "010.0.0.1" are refused, not read as octal), IPv6 without
// zone, and an IPv4-mapped IPv6 address is IPv4. Text output is Go's net.IP.String(): host-local
// names its store files with it, the kernel, iptables-save and nft print the same, so canonical
// texts compare as strings everywhere.
import * as ipaddr from 'ipaddr.js';
import { CniError, ErrCode } from '../cni/errors';

export type Family = 4 | 6;
export interface IP {
  readonly family: Family;
  readonly value: bigint;
}

export const familyBits = (f: Family): number => (f === 4 ? 32 : 128);

/**
 * The family an address or CIDR text claims: IPv6 when it has a colon. Never throws, so it can sort
 * text not yet validated (a result's addresses, routes); parse when validity matters.
 */
export const familyOf = (text: string): Family => (text.includes(':') ? 6 : 4);

/** CniError 7 "invalid <what> "<text>"": the message config validation has always given. */
export function badAddress(what: string, s: string): CniError {
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
  const value =
    /^::\d/.test(s) && tail.includes('.') && s.indexOf(':', 2) === -1
      ? fromBytes(ipaddr.IPv4.parse(tail).toByteArray())
      : fromBytes(ipaddr.IPv6.parse(s).toByteArray());
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

/** The address; CniError 7 when `s` is not one. */
export function parseIP(s: string, what = 'IP address'): IP {
  const ip = tryParseIP(s);
  if (!ip) throw badAddress(what, s);
  return ip;
}

/** Go's net.IP.String(): dotted quad, or RFC 5952 (longest zero run of 2+ groups, first on ties). */
export function ipToString(ip: IP): string {
  if (ip.family === 4) {
    return [24n, 16n, 8n, 0n].map((sh) => String((ip.value >> sh) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let sh = 112n; sh >= 0n; sh -= 16n) groups.push(Number((ip.value >> sh) & 0xffffn));
  let bestAt = -1,
    bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

/** Canonical text of an address text, or undefined when it is none ("fd00:0::2" -> "fd00::2"). */
export function tryCanonicalIP(s: string): string | undefined {
  const ip = tryParseIP(s);
  return ip && ipToString(ip);
}

/**
 * For matching texts read back from the kernel or saved rules: canonical when an address, else as it is (matching
 * nothing canonical).
 */
export const canonicalOrAsIs = (s: string): string => tryCanonicalIP(s) ?? s;

/** True when `s` is the canonical text of an address (host-local names its records so; "1" or "0x1f" are not). */
export function isCanonicalIP(s: string): boolean {
  return tryCanonicalIP(s) === s;
}

export const ipEqual = (a: IP, b: IP): boolean => a.family === b.family && a.value === b.value;

/** Orders by family first (IPv4 before IPv6), then by value. */
export function compareIP(a: IP, b: IP): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}
