// host-local's `ipam` configuration, validated the way the reference's allocator.LoadIPAMConfig
// does (same defaults, same rejections), with every address already in canonical text.
import * as path from 'node:path';
import { CniError, ErrCode } from '../cni/errors';
import { isLegacyResult } from '../cni/version';
import { isObject, JsonObject, optArray, optInt, optString } from '../cni/json';
import type { Route } from '../cni/result';
import { compareIP, familyBits, familyOf, IP, ipToString, parseIP } from '../ip/addr';
import { canonicalIP, Cidr, cidrToString, contains, lastOf, networkOf, parseCidr } from '../ip/cidr';
import { addIP } from './range';

export interface IpRange {
  subnet: string; // canonical CIDR, network address
  rangeStart: string;
  rangeEnd: string;
  gateway?: string;
}
export type RangeSet = IpRange[];
export interface HostLocalConfig {
  ranges: RangeSet[];
  /** ipam.routes; priority/table/scope/mtu/advmss are the CNI 1.1 route fields. */
  routes: Route[];
  dataDir: string;
  resolvConf?: string;
  /** Requested IPs (env.ipArgs), canonical text; allocate() uses them unless given others. */
  requested: string[];
}

export interface HostLocalEnv {
  /** IPs asked for by CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips ("10.0.0.5" or "10.0.0.5/24"). */
  ipArgs?: string[];
  /** runtimeConfig.ipRanges (capability): range sets placed before the configured ones, as the reference does. */
  ipRanges?: unknown;
}

/**
 * ADD: a 0.1.0/0.2.0 result holds one address per family, so the config may have one range set per family (host-local's
 * rule).
 */
export function requireOnePerFamily(ranges: RangeSet[], cniVersion: string): void {
  if (!isLegacyResult(cniVersion)) return;
  for (const f of [4, 6] as const) {
    if (ranges.filter((set) => familyOf(set[0].subnet) === f).length > 1) {
      throw invalid(
        `CNI version ${cniVersion} does not support more than 1 address per family (use cniVersion 0.3.0 ` +
          `or later for more range sets)`,
      );
    }
  }
}

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function invalid(msg: string): CniError {
  return new CniError(ErrCode.InvalidConfig, msg);
}

/** The network name becomes a directory name under dataDir, so only CNI-valid names get through. */
export function validateNetworkName(name: string): void {
  if (!NAME_RE.test(name) || name.length > 255) {
    throw invalid(
      `invalid network name ${JSON.stringify(name)}: must match ${NAME_RE.source} (at most 255 characters)`,
    );
  }
}

/** A range with parsed values, used while validating (and by the allocator via toParsedRange). */
export interface ParsedRange {
  subnet: Cidr;
  start: IP;
  end: IP;
  gateway?: IP;
}

export function toParsedRange(r: IpRange): ParsedRange {
  return {
    subnet: parseCidr(r.subnet),
    start: parseIP(r.rangeStart),
    end: parseIP(r.rangeEnd),
    ...(r.gateway !== undefined ? { gateway: parseIP(r.gateway) } : {}),
  };
}

/** Is ip between the range's start and end (inclusive) and in its subnet? */
export const inRange = (r: ParsedRange, ip: IP): boolean =>
  contains(r.subnet, ip) && compareIP(ip, r.start) >= 0 && compareIP(ip, r.end) <= 0;

/** Two ranges of one family overlap when either holds an end of the other (the reference's test). */
function overlaps(a: ParsedRange, b: ParsedRange): boolean {
  return inRange(a, b.start) || inRange(a, b.end) || inRange(b, a.start) || inRange(b, a.end);
}

const rangeText = (r: ParsedRange): string => `${ipToString(r.start)}-${ipToString(r.end)}`;

// An empty string means "not set": Go's net.IP decodes "" as nil.
function optAddr(o: JsonObject, key: string, where: string): string | undefined {
  const v = optString(o, key, where);
  return v === undefined || v === '' ? undefined : v;
}

function parseRange(o: JsonObject, where: string): ParsedRange {
  const subnetText = optString(o, 'subnet', where);
  if (subnetText === undefined || subnetText === '') throw invalid(`${where}subnet is required`);
  const given = parseCidr(subnetText, `${where}subnet`);
  const bits = familyBits(given.ip.family);
  // Nothing to hand out once network, gateway and broadcast are gone (the reference refuses /31, /32, /127, /128).
  if (given.prefix > bits - 2) throw invalid(`${where}subnet: network ${subnetText} too small to allocate from`);
  const net = networkOf(given);
  if (net.value !== given.ip.value) {
    throw invalid(
      `${where}subnet: network ${subnetText} has host bits set; for a prefix of length ` +
        `${given.prefix} the network address is ${ipToString(net)}`,
    );
  }
  const subnet: Cidr = { ip: net, prefix: given.prefix };
  const cidr = cidrToString(subnet);

  const addr = (key: string): IP | undefined => {
    const text = optAddr(o, key, where);
    if (text === undefined) return undefined;
    const ip = parseIP(text, `${where}${key}`);
    if (!contains(subnet, ip)) throw invalid(`${where}${key} ${text} is not in network ${cidr}`);
    return ip;
  };
  const start = addr('rangeStart') ?? addIP(net, 1n);
  // Defaults: IPv4 stops before the broadcast address, IPv6 runs to the last address.
  const end = addr('rangeEnd') ?? addIP(lastOf(subnet), given.ip.family === 4 ? -1n : 0n);
  if (compareIP(start, end) > 0) {
    throw invalid(`${where}rangeStart ${ipToString(start)} is after rangeEnd ${ipToString(end)}`);
  }
  const gateway = addr('gateway') ?? addIP(net, 1n);
  return { subnet, start, end, gateway };
}

function parseRangeSet(v: unknown, i: number): ParsedRange[] {
  const where = `ipam.ranges[${i}]`;
  if (!Array.isArray(v)) throw invalid(`${where}: want a list of ranges`);
  if (v.length === 0) throw invalid(`invalid range set ${i}: empty range set`);
  const set = v.map((r, j) => {
    if (!isObject(r)) throw invalid(`${where}[${j}]: want an object`);
    return parseRange(r, `${where}[${j}].`);
  });
  if (set.some((r) => r.subnet.ip.family !== set[0].subnet.ip.family)) {
    throw invalid(`invalid range set ${i}: mixed address families`);
  }
  return set;
}

function parseRoute(v: unknown, i: number): Route {
  const where = `ipam.routes[${i}].`;
  if (!isObject(v)) throw invalid(`ipam.routes[${i}]: want an object`);
  const dstText = optString(v, 'dst', where);
  if (!dstText) throw invalid(`${where}dst is required`);
  // Go prints the route as written (host bits kept), in canonical address text.
  const dst = parseCidr(dstText, `${where}dst`);
  // CNI 1.1 fields, kept as upstream host-local/bridge keep them (1.1.1 dropped them)
  const extra: Omit<Route, 'dst' | 'gw'> = {};
  for (const [key, max] of [
    ['mtu', 0x7fffffff],
    ['advmss', 0x7fffffff],
    ['priority', 0xffffffff],
    ['table', 0xffffffff],
    ['scope', 255],
  ] as const) {
    const n = optInt(v, key, where, 0, max);
    if (n !== undefined) extra[key] = n;
  }
  const gwText = optAddr(v, 'gw', where);
  if (gwText === undefined) return { dst: cidrToString(dst), ...extra };
  const gw = parseIP(gwText, `${where}gw`);
  if (gw.family !== dst.ip.family) throw invalid(`${where}gw ${gwText} is not of the family of dst ${dstText}`);
  return { dst: cidrToString(dst), gw: ipToString(gw), ...extra };
}

function parseDataDir(ipam: JsonObject): string {
  const dir = optString(ipam, 'dataDir', 'ipam.');
  if (dir === undefined || dir === '') return DEFAULT_DATA_DIR;
  if (!path.isAbsolute(dir) || dir.split('/').includes('..') || dir.includes('\0')) {
    throw invalid(`invalid ipam.dataDir ${JSON.stringify(dir)}: must be an absolute path without ".." components`);
  }
  const norm = path.normalize(dir);
  const bare = norm.replace(/(.)\/+$/, '$1');
  // The store creates directories and files there as root: never at the root, in /dev, or on a
  // kernel pseudo-filesystem (writes there have side effects, or spin).
  if (bare === '/' || FORBIDDEN_ROOTS.some((r) => bare === r || bare.startsWith(r + '/'))) {
    throw invalid(`invalid ipam.dataDir ${JSON.stringify(dir)}: not a place for an IPAM store (/, /dev, /proc, /sys)`);
  }
  return norm;
}

const FORBIDDEN_ROOTS = ['/dev', '/proc', '/sys'];

const toIpRange = (r: ParsedRange): IpRange => ({
  subnet: cidrToString(r.subnet),
  rangeStart: ipToString(r.start),
  rangeEnd: ipToString(r.end),
  ...(r.gateway ? { gateway: ipToString(r.gateway) } : {}),
});

export function parseHostLocalConfig(ipam: JsonObject, networkName: string, env: HostLocalEnv = {}): HostLocalConfig {
  validateNetworkName(networkName);
  const rawSets: unknown[] = [];
  if (env.ipRanges !== undefined && env.ipRanges !== null) {
    if (!Array.isArray(env.ipRanges)) throw invalid('runtimeConfig.ipRanges: want a list of range sets');
    rawSets.push(...env.ipRanges);
  }
  // Legacy single range: used only when `subnet` is set, and placed before `ranges` (as the reference does).
  const legacySubnet = optString(ipam, 'subnet', 'ipam.');
  if (legacySubnet !== undefined && legacySubnet !== '') {
    rawSets.push([
      {
        subnet: legacySubnet,
        rangeStart: optString(ipam, 'rangeStart', 'ipam.'),
        rangeEnd: optString(ipam, 'rangeEnd', 'ipam.'),
        gateway: optString(ipam, 'gateway', 'ipam.'),
      },
    ]);
  }
  rawSets.push(...(optArray(ipam, 'ranges', 'ipam.') ?? []));
  if (rawSets.length === 0) throw invalid('no IP ranges specified');

  const sets = rawSets.map(parseRangeSet);
  const all = sets.flatMap((set, i) => set.map((r) => ({ r, i })));
  for (let a = 0; a < all.length; a++) {
    for (let b = a + 1; b < all.length; b++) {
      if (!overlaps(all[a].r, all[b].r)) continue;
      throw invalid(
        all[a].i === all[b].i
          ? `invalid range set ${all[a].i}: ranges ${rangeText(all[a].r)} and ${rangeText(all[b].r)} overlap`
          : `range set ${all[a].i} overlaps with ${all[b].i}`,
      );
    }
  }

  const routes = (optArray(ipam, 'routes', 'ipam.') ?? []).map(parseRoute);
  const resolvConf = optString(ipam, 'resolvConf', 'ipam.');
  const requested = (env.ipArgs ?? []).map((s) => canonicalIP(s.trim(), 'requested IP'));
  return {
    ranges: sets.map((set) => set.map(toIpRange)),
    routes,
    dataDir: parseDataDir(ipam),
    ...(resolvConf ? { resolvConf } : {}),
    requested,
  };
}
