// Address text of firewall rules, in the canonical form (src/ip) that iptables-save and nft print,
// so generated rules, saved rules and check results compare as strings. Validating here also keeps
// anything that is not an address of the rule's family out of the rule text we hand to
// iptables-restore / nft; a bad one is a firewall failure (106), not a config error.
import { CniError, ErrCode } from '../cni/errors';
import { Family, familyBits, familyOf, IP, ipToString, tryParseIP } from '../ip/addr';
import { cidrToString, subnetOf, tryParseCidr } from '../ip/cidr';

function bad(what: string, v: string): CniError {
  return new CniError(ErrCode.FirewallFailure, `invalid ${what} for firewall rule: ${JSON.stringify(v)}`);
}

/** Text of `family` only: an IPv4-mapped IPv6 text is neither an IPv4 nor (being IPv4) an IPv6 address here. */
const ofFamily = (ip: IP | undefined, text: string, family: Family): boolean =>
  ip?.family === family && familyOf(text) === family;

/** Canonical text of an address of `family`. */
export function normIp(text: string, family: Family): string {
  const ip = tryParseIP(text);
  if (!ip || !ofFamily(ip, text, family)) throw bad(`IPv${family} address`, text);
  return ipToString(ip);
}

/** Canonical `network/prefix` of a CIDR of `family`, host bits cleared ("10.1.0.5/24" -> "10.1.0.0/24"). */
export function normSubnet(text: string, family: Family): string {
  const c = tryParseCidr(text);
  if (!c || !ofFamily(c.ip, text, family)) throw bad(`IPv${family} subnet`, text);
  return cidrToString(subnetOf(c));
}

/** A host address as iptables-save prints a single-address match: with /32 or /128. */
export function hostCidr(ip: string, family: Family): string {
  return `${normIp(ip, family)}/${familyBits(family)}`;
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
