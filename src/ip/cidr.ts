// CIDRs: the one parser, text form, network and containment. `ip` keeps any host bits as written
// (Go's types.ParseCIDR does too: an address with its prefix is a CIDR); networkOf() clears them.
import { badAddress, familyBits, IP, ipToString, tryParseIP } from './addr';

export interface Cidr {
  readonly ip: IP;
  readonly prefix: number;
}

/** `a.b.c.d/n` or `v6/n`, or undefined; an IPv4-mapped IPv6 CIDR is refused (Go: "IP and Mask version mismatch"). */
export function tryParseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const prefixText = s.slice(slash + 1);
  if (slash < 0 || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const addrText = s.slice(0, slash);
  const ip = tryParseIP(addrText);
  const prefix = Number(prefixText);
  if (!ip || (ip.family === 4 && addrText.includes(':')) || prefix > familyBits(ip.family)) return undefined;
  return { ip, prefix };
}

/** The CIDR; CniError 7 "invalid <what> ..." when `s` is not one. */
export function parseCidr(s: string, what = 'CIDR'): Cidr {
  const c = tryParseCidr(s);
  if (!c) throw badAddress(what, s);
  return c;
}

/** The address part of an address-with-prefix text ("10.0.0.5/24" -> "10.0.0.5"); text without "/" as it is. */
export const bareAddress = (text: string): string => text.split('/')[0];

/**
 * Canonical text of an address given as text ("10.0.0.5" or "10.0.0.5/24": the prefix is ignored, as the reference does
 * for requested IPs).
 */
export function canonicalIP(s: string, what = 'IP address'): string {
  const slash = s.indexOf('/');
  const ip = slash < 0 ? tryParseIP(s) : tryParseCidr(s)?.ip;
  if (!ip) throw badAddress(what, s);
  return ipToString(ip);
}

export const cidrToString = (c: Cidr): string => `${ipToString(c.ip)}/${c.prefix}`;

/** The single-address CIDR of an address (/32 or /128): a host route, iptables-save's "-d 10.0.0.5/32". */
export const hostCidrOf = (ip: IP): Cidr => ({ ip, prefix: familyBits(ip.family) });

function hostMask(c: Cidr): bigint {
  return (1n << BigInt(familyBits(c.ip.family) - c.prefix)) - 1n;
}

export function networkOf(c: Cidr): IP {
  return { family: c.ip.family, value: c.ip.value & ~hostMask(c) };
}

/** The CIDR with its host bits cleared ("10.1.0.5/24" -> 10.1.0.0/24). */
export const subnetOf = (c: Cidr): Cidr => ({ ip: networkOf(c), prefix: c.prefix });

/** The highest address of the subnet (the broadcast address for IPv4). */
export function lastOf(c: Cidr): IP {
  return { family: c.ip.family, value: c.ip.value | hostMask(c) };
}

export function contains(c: Cidr, ip: IP): boolean {
  return ip.family === c.ip.family && (ip.value & ~hostMask(c)) === networkOf(c).value;
}

/** True when every address of `inner` is in `outer`. */
export const covers = (outer: Cidr, inner: Cidr): boolean => outer.prefix <= inner.prefix && contains(outer, inner.ip);

/** True when the two CIDRs share any address. */
export const overlaps = (a: Cidr, b: Cidr): boolean => contains(a, b.ip) || contains(b, a.ip);
