// Seeded generators for the bad-input suites (test/unit/fuzz-*.test.ts in-process,
// test/kernel/fuzz-*.test.ts through the binary). Same seed, same cases: a failure names its seed
// and case number, and FUZZ_SEED=<n> replays the run.
import { CniError, ErrCode } from '../../src/cni/errors';

/** mulberry32: small, fast, good enough to spread cases; deterministic for a seed. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

/** FUZZ_SEED from the environment, else a fixed default so CI runs the same cases each time. */
export function fuzzSeed(def: number): number {
  const v = Number(process.env.FUZZ_SEED);
  return Number.isInteger(v) && v > 0 ? v : def;
}

/** Every code a CNI error from tsbridge may carry. */
export const VALID_CODES: ReadonlySet<number> = new Set(Object.values(ErrCode));

/**
 * Runs fn; returns 'ok' with its value, or 'err' with the CniError. Anything else thrown (a
 * TypeError, a RangeError, a plain Error) is returned as 'crash': the bug the fuzz suites look for.
 */
export function outcome<T>(
  fn: () => T,
): { kind: 'ok'; value: T } | { kind: 'err'; err: CniError } | { kind: 'crash'; err: unknown } {
  try {
    return { kind: 'ok', value: fn() };
  } catch (e) {
    if (e instanceof CniError && VALID_CODES.has(e.code) && typeof e.message === 'string' && e.message !== '')
      return { kind: 'err', err: e };
    return { kind: 'crash', err: e };
  }
}

// Strings that have broken parsers, paths, shell lines, rule comments and interface names before.
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '.',
  '..',
  '...',
  '/',
  '//',
  '../',
  '../../etc/passwd',
  '/etc/passwd',
  'a/b',
  'a/../b',
  './x',
  '"',
  "'",
  '\\',
  '`id`',
  '$(reboot)',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell-style expansion is the hostile input
  '${PATH}',
  ';',
  '|',
  '&',
  '&&',
  '#',
  '%',
  '%s%n',
  '%00',
  '%2e%2e%2f',
  '\n',
  'a\nb',
  '\r\n',
  'a\r\nb',
  '\t',
  'a b',
  '\u0000',
  'a\u0000b',
  '\u0007',
  '\u001b[31m',
  '\u007f',
  '\u202e',
  '\ufeff',
  '\ud800',
  '😀',
  'ä',
  'ÄÖÜ',
  '\u00a0',
  'x'.repeat(15),
  'x'.repeat(16),
  'x'.repeat(64),
  'x'.repeat(256),
  'x'.repeat(4097),
  'eth0',
  'lo',
  'cni0',
  'eth0:1',
  'eth0.',
  '-x',
  '_x',
  'a.b-c_d',
  'null',
  'true',
  '0',
  '-1',
  'NaN',
  'Infinity',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '10.0.0.1',
  '10.0.0.0/8',
  '::1',
  'fe80::1%eth0',
  '1.2.3',
  '1.2.3.4.5',
  '01.2.3.4',
  '999.1.1.1',
];

/** Subnets: valid of both families, host bits set, too small, malformed, absurd. */
export const CIDRS: readonly string[] = [
  '10.210.0.0/24',
  '10.210.0.0/16',
  '10.210.0.0/30',
  '10.210.0.0/31',
  '10.210.0.0/32',
  '10.210.0.0/0',
  '10.210.0.5/24',
  '10.210.0.0/33',
  '10.210.0.0/-1',
  '10.210.0.0/',
  '10.210.0.0',
  '/24',
  '10.210.0/24',
  '10.210.0.0/024',
  '10.210.0.0/2 4',
  ' 10.210.0.0/24',
  '010.210.0.0/24',
  '256.0.0.0/24',
  '10.210.0.0/24/24',
  'fd10:210::/64',
  'fd10:210::/120',
  'fd10:210::/127',
  'fd10:210::/128',
  'fd10:210::/129',
  'fd10:210::1/64',
  '::ffff:10.210.0.0/120',
  'fe80::/64%eth0',
  'fd10:210:::/64',
  '::/0',
  '0.0.0.0/0',
  '224.0.0.0/24',
  '255.255.255.0/24',
  '127.0.0.0/8',
  'a.b.c.d/24',
  '1e2.0.0.0/8',
  '0x0a.0.0.0/8',
];

export const ADDRS: readonly string[] = [
  '10.210.0.1',
  '10.210.0.5',
  '10.210.0.254',
  '10.210.0.255',
  '10.210.0.0',
  '10.210.1.1',
  '10.211.0.1',
  'fd10:210::1',
  'fd10:210::ffff',
  'fd10:211::1',
  '::',
  '0.0.0.0',
  '255.255.255.255',
  '10.210.0.256',
  '10.210.0',
  '',
  ' ',
  '10.210.0.1 ',
  '::ffff:10.210.0.7',
  '1:2:3:4:5:6:7:8:9',
];

export const VERSIONS: readonly string[] = [
  '0.1.0',
  '0.2.0',
  '0.3.0',
  '0.3.1',
  '0.4.0',
  '1.0.0',
  '1.1.0',
  '1.2.0',
  '2.0.0',
  '1.0',
  '1',
  '',
  'v1.0.0',
  '1.0.0 ',
  '9999999999.0.0',
];

const NUMBERS: readonly number[] = [
  0,
  1,
  -1,
  1.5,
  15,
  68,
  1500,
  9000,
  65535,
  65536,
  2 ** 31,
  2 ** 53 + 1,
  -(2 ** 63),
  1e308,
  Number.MIN_VALUE,
  4094,
  4095,
];

/** A random JSON value of any type, nesting at most `depth` more levels. */
export function anyValue(rng: Rng, depth = 2): unknown {
  switch (rng.int(depth > 0 ? 9 : 7)) {
    case 0:
      return null;
    case 1:
      return rng.bool();
    case 2:
      return rng.pick(NUMBERS);
    case 3:
      return rng.pick(NASTY_STRINGS);
    case 4:
      return rng.pick(CIDRS);
    case 5:
      return rng.pick(ADDRS);
    case 6:
      return rng.int(1000) - 500;
    case 7:
      return Array.from({ length: rng.int(4) }, () => anyValue(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--)
        o[rng.pick(['subnet', 'type', 'name', 'x', 'dst', 'gw', '__proto__', rng.pick(NASTY_STRINGS)])] = anyValue(
          rng,
          depth - 1,
        );
      return o;
    }
  }
}

function range(rng: Rng): Record<string, unknown> {
  const r: Record<string, unknown> = { subnet: rng.bool(0.8) ? rng.pick(CIDRS) : anyValue(rng, 1) };
  if (rng.bool(0.3)) r.rangeStart = rng.bool(0.8) ? rng.pick(ADDRS) : anyValue(rng, 0);
  if (rng.bool(0.3)) r.rangeEnd = rng.bool(0.8) ? rng.pick(ADDRS) : anyValue(rng, 0);
  if (rng.bool(0.3)) r.gateway = rng.bool(0.8) ? rng.pick(ADDRS) : anyValue(rng, 0);
  return r;
}

/** A host-local `ipam` section: mostly near-valid, with bad CIDRs, overlaps, gateways outside, wrong types. */
export function genIpam(rng: Rng, dataDir: () => unknown): Record<string, unknown> {
  const ipam: Record<string, unknown> = {
    type: rng.bool(0.9) ? 'host-local' : rng.pick(['', 'dhcp', 'static', '../x', 5, null, 'host-local ']),
  };
  switch (rng.int(5)) {
    case 0:
      ipam.subnet = rng.pick(CIDRS);
      if (rng.bool()) ipam.gateway = rng.pick(ADDRS);
      if (rng.bool(0.3)) ipam.rangeStart = rng.pick(ADDRS);
      break;
    case 1:
      ipam.ranges = [[range(rng)]];
      break;
    case 2:
      ipam.ranges = Array.from({ length: 1 + rng.int(3) }, () =>
        Array.from({ length: 1 + rng.int(3) }, () => range(rng)),
      );
      break;
    case 3:
      ipam.ranges = rng.bool() ? anyValue(rng, 2) : [anyValue(rng, 1)];
      break;
    default:
      ipam.ranges = [[{ subnet: '10.210.0.0/24' }], [{ subnet: 'fd10:210::/64' }]]; // valid dual stack
  }
  if (rng.bool(0.3))
    ipam.routes = rng.bool(0.7)
      ? [{ dst: rng.pick([...CIDRS, ...ADDRS]), ...(rng.bool() ? { gw: rng.pick(ADDRS) } : {}) }]
      : anyValue(rng, 2);
  if (rng.bool(0.9)) ipam.dataDir = dataDir();
  if (rng.bool(0.05)) ipam.resolvConf = rng.pick(['/nonexistent/resolv.conf', '', 5, '/dev/null']);
  return ipam;
}

/** Bridge keys with absurd values (MTU, VLAN, names, booleans as strings ...). */
const BRIDGE_KEYS: readonly string[] = [
  'bridge',
  'isGateway',
  'isDefaultGateway',
  'ipMasq',
  'ipMasqBackend',
  'mtu',
  'hairpinMode',
  'promiscMode',
  'vlan',
  'vlanTrunk',
  'macspoofchk',
  'preserveDefaultVlan',
  'enabledad',
  'forceAddress',
  'portIsolation',
  'disableContainerInterface',
  'dns',
  'runtimeConfig',
  'prevResult',
  'cni.dev/valid-attachments',
];

function bridgeValue(rng: Rng, key: string): unknown {
  const generic = (): unknown => anyValue(rng, 2);
  switch (key) {
    case 'bridge':
      return rng.bool(0.7) ? rng.pick([...NASTY_STRINGS, 'tsbfz0', 'br-', 'a'.repeat(15)]) : generic();
    case 'mtu':
      return rng.bool(0.7)
        ? rng.pick([0, 1, 67, 68, 576, 1280, 1500, 9000, 65535, 65536, -1, 1.5, 2 ** 32, 1e308, '1500'])
        : generic();
    case 'vlan':
      return rng.bool(0.7) ? rng.pick([0, 1, 4094, 4095, -1, 1.5, '5']) : generic();
    case 'vlanTrunk':
      return rng.pick([[], [{ id: 5 }], [{ minID: 1, maxID: 4094 }], null, {}, 'x']);
    case 'ipMasqBackend':
      return rng.pick(['iptables', 'nftables', 'ipvs', '', 'IPTABLES', 5, null]);
    case 'runtimeConfig':
      return rng.bool(0.6)
        ? {
            ...(rng.bool()
              ? {
                  mac: rng.pick([
                    '0a:58:0a:d2:00:09',
                    '0a:58:0a:d2:00',
                    'zz:zz:zz:zz:zz:zz',
                    '',
                    5,
                    '0A:58:0A:D2:00:09',
                  ]),
                }
              : {}),
            ...(rng.bool()
              ? {
                  ips: rng.pick([
                    ['10.210.0.9/24'],
                    ['10.210.0.9'],
                    ['999.1.1.1'],
                    'x',
                    [5],
                    ['10.99.0.1/24'],
                    ['fd10:210::9/64', '10.210.0.9/24'],
                  ]),
                }
              : {}),
            ...(rng.bool(0.3) ? { portMappings: portMappings(rng) } : {}),
          }
        : generic();
    case 'prevResult':
      return rng.bool(0.5)
        ? {
            cniVersion: rng.pick(VERSIONS),
            interfaces: rng.bool()
              ? [{ name: rng.pick(NASTY_STRINGS), sandbox: rng.pick(NASTY_STRINGS) }]
              : anyValue(rng, 1),
            ips: rng.bool()
              ? [
                  {
                    address: rng.pick([...CIDRS, ...ADDRS]),
                    gateway: rng.pick(ADDRS),
                    interface: rng.pick([0, 2, -1, 99, 'x']),
                  },
                ]
              : anyValue(rng, 1),
            routes: rng.bool() ? [{ dst: rng.pick(CIDRS) }] : anyValue(rng, 1),
            dns: anyValue(rng, 1),
          }
        : generic();
    case 'cni.dev/valid-attachments':
      return rng.bool() ? [{ containerID: rng.pick(NASTY_STRINGS), ifname: rng.pick(NASTY_STRINGS) }] : generic();
    default:
      return rng.bool(0.5) ? rng.bool() : generic();
  }
}

/** runtimeConfig.portMappings: ports out of range, bad protocols, hostIPs, clashes. */
export function portMappings(rng: Rng): unknown {
  if (rng.bool(0.2)) return anyValue(rng, 2);
  const port = (): unknown => rng.pick([1, 80, 8080, 65535, 0, 65536, -1, 1.5, '80', null, 2 ** 53]);
  return Array.from({ length: rng.int(4) }, () =>
    rng.bool(0.1)
      ? anyValue(rng, 1)
      : {
          [rng.pick(['hostPort', 'HostPort', 'hostport'])]: port(),
          [rng.pick(['containerPort', 'ContainerPort'])]: port(),
          ...(rng.bool() ? { protocol: rng.pick(['tcp', 'UDP', 'sctp', 'icmp', '', 5, null]) } : {}),
          ...(rng.bool() ? { hostIP: rng.pick([...ADDRS, ...NASTY_STRINGS.slice(0, 10)]) } : {}),
        },
  );
}

/** How a generated network config is turned into stdin bytes. */
export type Shape = 'object' | 'json-mutated' | 'not-object' | 'garbage';

export interface GenConfig {
  conf: Record<string, unknown>;
  stdin: string;
  shape: Shape;
}

/**
 * One network config: a valid base mutated in 0..4 ways (keys dropped, retyped, absurd values,
 * case changes), then sometimes broken at the byte level (truncated, a byte flipped, deep nesting,
 * a non-object, random bytes).
 */
export function genConfig(
  rng: Rng,
  opts: { name: () => string; dataDir: () => unknown; bridge: () => string },
): GenConfig {
  const conf: Record<string, unknown> = {
    cniVersion: rng.bool(0.8) ? rng.pick(['0.3.1', '0.4.0', '1.0.0', '1.1.0']) : rng.pick(VERSIONS),
    name: rng.bool(0.8) ? opts.name() : rng.pick(NASTY_STRINGS),
    type: 'tsbridge',
    bridge: opts.bridge(),
    isGateway: true,
    ipam: genIpam(rng, opts.dataDir),
  };
  for (let m = rng.int(5); m > 0; m--) {
    const key = rng.pick(BRIDGE_KEYS);
    switch (rng.int(6)) {
      case 0:
        delete conf[rng.pick(Object.keys(conf))];
        break;
      case 1:
        conf[key] = anyValue(rng, 2);
        break;
      case 2: {
        // a key in other letter case (Go's encoding/json matches it)
        const k = rng.pick(Object.keys(conf));
        const v = conf[k];
        delete conf[k];
        conf[rng.bool() ? k.toUpperCase() : k.toLowerCase()] = v;
        break;
      }
      case 3:
        conf[rng.pick(['cniVersion', 'name', 'type', 'ipam'])] = anyValue(rng, 2);
        break;
      default:
        conf[key] = bridgeValue(rng, key);
    }
  }
  let stdin = JSON.stringify(conf);
  let shape: Shape = 'object';
  const r = rng.int(20);
  if (r === 0) {
    stdin = stdin.slice(0, rng.int(stdin.length)); // truncated
    shape = 'json-mutated';
  } else if (r === 1) {
    const i = rng.int(stdin.length);
    stdin =
      stdin.slice(0, i) + rng.pick(['"', '{', '}', ',', ':', '\\', '\u0000', '\ud800', ']', 'x']) + stdin.slice(i + 1);
    shape = 'json-mutated';
  } else if (r === 2) {
    stdin = rng.pick(['null', '[]', '"str"', '5', 'true', '[{}]', '', ' ', '\n']);
    shape = 'not-object';
  } else if (r === 3) {
    const depth = rng.pick([100, 10_000, 200_000]);
    stdin = stdin.slice(0, -1) + ',"deep":' + '['.repeat(depth) + ']'.repeat(depth) + '}';
    shape = 'json-mutated';
  } else if (r === 4) {
    stdin = Array.from({ length: rng.int(200) }, () => String.fromCharCode(rng.int(256))).join('');
    shape = 'garbage';
  } else if (r === 5) {
    stdin = stdin.slice(0, -1) + `,"cniVersion":"9.9.9","name":"dup"}`; // duplicate keys: JSON.parse keeps the last
    shape = 'json-mutated';
  }
  return { conf, stdin, shape };
}

/** CNI_* variables: mostly valid, sometimes hostile container IDs, ifnames, args, commands. */
export function genEnv(rng: Rng, opts: { containerId: () => string; netns: string }): Record<string, string> {
  const clean = (s: string): string => s.replace(/\u0000/g, ''); // a NUL cannot be passed in the environment
  const env: Record<string, string> = {
    // never empty: without CNI_COMMAND the binary is the CLI, not a plugin
    CNI_COMMAND: rng.bool(0.9)
      ? rng.pick(['ADD', 'ADD', 'ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'])
      : clean(rng.pick(['add', 'Add', 'UPDATE', 'ADD ', ...NASTY_STRINGS.filter((s) => s !== '' && s !== '\u0000')])),
    CNI_CONTAINERID: rng.bool(0.8) ? opts.containerId() : clean(rng.pick(NASTY_STRINGS)),
    CNI_NETNS: rng.bool(0.9)
      ? opts.netns
      : clean(rng.pick(['', '/nonexistent', '/etc/passwd', '/proc/1/ns/mnt', '/dev/null', '..', 'relative/ns'])),
    CNI_IFNAME: rng.bool(0.8)
      ? rng.pick(['eth0', 'eth1', 'net1'])
      : clean(rng.pick([...NASTY_STRINGS, 'x'.repeat(15), 'x'.repeat(16), 'ä'.repeat(8)])),
  };
  if (rng.bool(0.3)) {
    env.CNI_ARGS = clean(
      rng.pick([
        'IgnoreUnknown=1',
        'IgnoreUnknown=1;K8S_POD_NAME=a',
        'IP=10.210.0.9',
        'IP=10.210.0.9,fd10:210::9',
        'IP=999.0.0.1',
        'IP=10.99.0.1',
        'MAC=0a:58:0a:d2:00:09',
        'MAC=bad',
        'FOO=bar',
        '=x',
        'x',
        ';;;',
        'IP=',
        'IgnoreUnknown=true;X=1;Y',
        'IP=10.210.0.9;IP=10.210.0.10',
        'K8S_POD_NAME=' + 'x'.repeat(5000),
        ...NASTY_STRINGS.slice(0, 20),
      ]),
    );
  }
  for (const k of Object.keys(env)) if (k !== 'CNI_COMMAND' && rng.bool(0.03)) delete env[k];
  return env;
}
