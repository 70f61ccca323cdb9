// CNI results. Internally everything is the 1.1.0 shape; `toVersion` renders it in the config's
// version (the plugin always answers in the version of its input), `parsePrevResult` reads a
// chained plugin's result of any version we support back into that shape.
import { CniError, ErrCode } from './errors';
import { getKey, isObject, JsonObject } from './json';
import { compareVersions, ipsHaveVersion, isLegacyResult } from './version';

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}
export interface IPConfig {
  address: string;
  gateway?: string;
  interface?: number;
}
export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}
export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}
export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}

const pick = <T extends object>(o: T, keys: (keyof T)[]): Partial<T> => {
  const out: Partial<T> = {};
  // Go's omitempty: no empty strings and no empty lists
  for (const k of keys) {
    const v = o[k];
    if (v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)) out[k] = v;
  }
  return out;
};

/** Render a result in `version`; fields newer than that version are dropped, `ips[].version` added for < 1.0.0. */
export function toVersion(r: Result, version: string): JsonObject {
  if (isLegacyResult(version)) return toLegacy(r, version);
  const v11 = compareVersions(version, '1.1.0') >= 0;
  const ifKeys: (keyof Interface)[] = v11
    ? ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID']
    : ['name', 'mac', 'sandbox'];
  const rtKeys: (keyof Route)[] = v11 ? ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'] : ['dst', 'gw'];
  const out: JsonObject = { cniVersion: version };
  if (r.interfaces?.length) out.interfaces = r.interfaces.map((i) => pick(i, ifKeys));
  if (r.ips?.length) {
    out.ips = r.ips.map((ip) => ({
      ...(ipsHaveVersion(version) ? { version: ip.address.includes(':') ? '6' : '4' } : {}),
      ...pick(ip, ['address', 'gateway', 'interface']),
    }));
  }
  if (r.routes?.length) out.routes = r.routes.map((rt) => pick(rt, rtKeys));
  out.dns = pick(r.dns ?? {}, ['nameservers', 'domain', 'search', 'options']);
  return out;
}

const isV6 = (cidr: string): boolean => cidr.includes(':');

/**
 * The 0.1.0/0.2.0 shape, converted as libcni's types020 does: the first address of each family
 * becomes `ip4`/`ip6` ({ip, gateway?, routes?}), each route goes under its family's object (dropped
 * when the result has no address of that family), interfaces are dropped. No address at all
 * cannot be expressed (libcni: "cannot convert: no valid IP addresses").
 */
function toLegacy(r: Result, version: string): JsonObject {
  const out: JsonObject = { cniVersion: version };
  for (const [key, v6] of [
    ['ip4', false],
    ['ip6', true],
  ] as const) {
    const ip = r.ips?.find((i) => isV6(i.address) === v6);
    if (!ip) continue;
    const routes = (r.routes ?? []).filter((rt) => isV6(rt.dst) === v6).map((rt) => pick(rt, ['dst', 'gw']));
    out[key] = { ip: ip.address, ...pick(ip, ['gateway']), ...(routes.length ? { routes } : {}) };
  }
  if (!out.ip4 && !out.ip6) {
    throw new CniError(
      ErrCode.IncompatibleVersion,
      `cniVersion ${version} results need an IP address (cannot ` +
        `convert: no valid IP addresses); use cniVersion 0.3.0 or later`,
    );
  }
  out.dns = pick(r.dns ?? {}, ['nameservers', 'domain', 'search', 'options']);
  return out;
}

function bad(msg: string): CniError {
  return new CniError(ErrCode.DecodeFailure, `invalid prevResult: ${msg}`);
}

const list = (o: JsonObject, k: string): unknown[] => {
  const v = getKey(o, k);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`${k} must be a list`);
  return v;
};
const str = (o: JsonObject, k: string): string | undefined => {
  const v = getKey(o, k);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${k} must be a string`);
  return v;
};
const num = (o: JsonObject, k: string): number | undefined => {
  const v = getKey(o, k);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number') throw bad(`${k} must be a number`);
  return v;
};
const objs = (o: JsonObject, k: string): JsonObject[] =>
  list(o, k).map((x) => {
    if (!isObject(x)) throw bad(`${k} entries must be objects`);
    return x;
  });

const routeOf = (rt: JsonObject): Route => {
  const dst = str(rt, 'dst');
  if (!dst) throw bad('route without dst');
  return {
    dst,
    gw: str(rt, 'gw'),
    mtu: num(rt, 'mtu'),
    advmss: num(rt, 'advmss'),
    priority: num(rt, 'priority'),
    table: num(rt, 'table'),
    scope: num(rt, 'scope'),
  };
};

const dnsOf = (dnsRaw: unknown): DNS =>
  isObject(dnsRaw)
    ? {
        nameservers: list(dnsRaw, 'nameservers') as string[],
        domain: str(dnsRaw, 'domain'),
        search: list(dnsRaw, 'search') as string[],
        options: list(dnsRaw, 'options') as string[],
      }
    : {};

/** A 0.1.0/0.2.0 result (`ip4`/`ip6` objects), as libcni's convertFrom02x reads it. */
function parseLegacy(raw: JsonObject, cniVersion: string): Result {
  const ips: IPConfig[] = [];
  const routes: Route[] = [];
  for (const key of ['ip4', 'ip6']) {
    const v = getKey(raw, key);
    if (v === undefined || v === null) continue;
    if (!isObject(v)) throw bad(`${key} must be an object`);
    const address = str(v, 'ip');
    if (!address) throw bad(`${key} without ip`);
    ips.push({ address, gateway: str(v, 'gateway') });
    routes.push(...objs(v, 'routes').map(routeOf));
  }
  return { cniVersion, interfaces: [], ips, routes, dns: dnsOf(getKey(raw, 'dns')) };
}

/**
 * Read a prevResult or an IPAM result (0.1.0 .. 1.1.0) into the internal shape; a missing cniVersion means the
 * config's.
 */
export function parsePrevResult(raw: unknown, configVersion: string): Result {
  if (!isObject(raw)) throw bad('not an object');
  const cniVersion = str(raw, 'cniVersion') || configVersion;
  if (isLegacyResult(cniVersion)) return parseLegacy(raw, cniVersion);
  return {
    cniVersion,
    interfaces: objs(raw, 'interfaces').map((i) => ({
      name: str(i, 'name') ?? '',
      mac: str(i, 'mac'),
      mtu: num(i, 'mtu'),
      sandbox: str(i, 'sandbox'),
      socketPath: str(i, 'socketPath'),
      pciID: str(i, 'pciID'),
    })),
    ips: objs(raw, 'ips').map((ip) => {
      const address = str(ip, 'address');
      if (!address) throw bad('ips entry without address');
      return { address, gateway: str(ip, 'gateway'), interface: num(ip, 'interface') };
    }),
    routes: objs(raw, 'routes').map(routeOf),
    dns: dnsOf(getKey(raw, 'dns')),
  };
}
