// Address text in the one form iptables-save and nft print, so generated rules, saved rules and
// check results compare as strings. Validating here also keeps anything that is not an address
// out of the rule text we hand to iptables-restore / nft.
import * as ipaddr from 'ipaddr.js';
import { CniError, ErrCode } from '../cni/errors';
import type { Family } from './types';

function bad(what: string, v: string): CniError {
  return new CniError(ErrCode.FirewallFailure, `invalid ${what} for firewall rule: ${JSON.stringify(v)}`);
}

function parseFamily(ip: string, family: Family): ipaddr.IPv4 | ipaddr.IPv6 {
  // Strict forms only: no "10.1" shorthands, no IPv6 zones.
  if (family === 4 && ipaddr.IPv4.isValidFourPartDecimal(ip)) return ipaddr.IPv4.parse(ip);
  if (family === 6 && !ip.includes('%') && ipaddr.IPv6.isValid(ip)) return ipaddr.IPv6.parse(ip);
  throw bad(`IPv${family} address`, ip);
}

/** Canonical text of an address (RFC 5952 for IPv6, as nft and iptables print it). */
export function normIp(ip: string, family: Family): string {
  return parseFamily(ip, family).toString();
}

/** Canonical `network/prefix` of a CIDR, host bits cleared ("10.1.0.5/24" -> "10.1.0.0/24"). */
export function normSubnet(cidr: string, family: Family): string {
  const slash = cidr.indexOf('/');
  if (slash < 0) throw bad(`IPv${family} subnet`, cidr);
  const prefix = Number(cidr.slice(slash + 1));
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(cidr.slice(slash + 1)) || prefix > max) throw bad(`IPv${family} subnet`, cidr);
  const a = parseFamily(cidr.slice(0, slash), family);
  const net = a.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(`${a.toString()}/${prefix}`)
    : ipaddr.IPv6.networkAddressFromCIDR(`${a.toString()}/${prefix}`);
  return `${net.toString()}/${prefix}`;
}

/** A host address as iptables-save prints a single-address match: with /32 or /128. */
export function hostCidr(ip: string, family: Family): string {
  return `${normIp(ip, family)}/${family === 4 ? 32 : 128}`;
}

/** Normalizes an address or CIDR read back from iptables-save (missing prefix = host); null if unparsable. */
export function normSavedCidr(text: string, family: Family): string | null {
  try {
    return text.includes('/') ? normSubnet(text, family) : hostCidr(text, family);
  } catch {
    return null;
  }
}

/** Multicast is never masqueraded, as in the reference: pods talk multicast on the local network. */
export function multicastNet(family: Family): string {
  return family === 4 ? '224.0.0.0/4' : 'ff00::/8';
}

/** Canonical text of any address, for comparing saved rules with our IPs; garbage stays as it is. */
export function canonicalIp(text: string): string {
  try {
    return ipaddr.parse(text).toString();
  } catch {
    return text;
  }
}
