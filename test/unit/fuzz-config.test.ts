// Seeded fuzzing of the pure input pipeline, in-process: the stdin config (parseNetConf),
// the bridge keys (parseBridgeConfig), host-local's ipam section (parseHostLocalConfig), CNI_*
// (parseEnv, parseCniArgs), runtimeConfig.portMappings (parsePortMappings), GC's attachment list,
// IPAM record files (parseRecord) and address text (parseIP/parseCidr). Every case either parses
// or throws a CniError with a code from ErrCode and a message; nothing else may escape. What
// parses must also be safe to use: names that become paths or interface names are checked.
// FUZZ_SEED=<n> replays a run; FUZZ_CASES=<n> changes the number of generated configs.
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCniArgs } from '../../src/cni/args';
import { parseEnv } from '../../src/cni/env';
import { errorJson } from '../../src/cni/errors';
import { getKey, isObject } from '../../src/cni/json';
import { NetConf, parseNetConf } from '../../src/cni/netconf';
import { toVersion } from '../../src/cni/result';
import { SUPPORTED_VERSIONS } from '../../src/cni/version';
import { parsePortMappings } from '../../src/firewall/portmap';
import { parseHostLocalConfig } from '../../src/ipam/config';
import { parseRecord } from '../../src/ipam/disk-store';
import { compareIP, ipToString, parseIP, tryParseIP } from '../../src/ip/addr';
import { contains, parseCidr } from '../../src/ip/cidr';
import { parseResolvConf } from '../../src/ipam/resolv-conf';
import { parseBridgeConfig } from '../../src/attachment/config';
import { ADDRS, CIDRS, NASTY_STRINGS, Rng, fuzzSeed, genConfig, genEnv, outcome } from '../helpers/fuzz';
import { timeout } from '../helpers/test';

const SEED = fuzzSeed(20260407);
const CASES = Number(process.env.FUZZ_CASES) || 10_000;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const IFNAME_BAD = /[/:\s]/;

interface Tally {
  ok: number;
  err: Map<number, number>;
  crashes: string[];
}
const tallies = new Map<string, Tally>();

/** Runs one parser on one input; records its outcome and returns the parsed value, if any. */
function run<T>(stage: string, caseId: string, input: unknown, fn: () => T): T | undefined {
  let t = tallies.get(stage);
  if (!t) tallies.set(stage, (t = { ok: 0, err: new Map(), crashes: [] }));
  const o = outcome(fn);
  if (o.kind === 'ok') {
    t.ok++;
    return o.value;
  }
  if (o.kind === 'err') {
    t.err.set(o.err.code, (t.err.get(o.err.code) ?? 0) + 1);
    JSON.stringify(errorJson(o.err, '1.0.0')); // what the runtime would get must serialize
    return undefined;
  }
  const e = o.err as Error;
  if (t.crashes.length < 5)
    t.crashes.push(
      `${caseId} ${stage}: ${e?.constructor?.name}: ${e?.message ?? e}\n  ` +
        `input: ${JSON.stringify(input)?.slice(0, 400)}`,
    );
  else t.crashes.push('');
  return undefined;
}

function assertNoCrashes(stages: string[]): void {
  const bad = stages.flatMap((s) => tallies.get(s)?.crashes ?? []);
  assert.is(
    bad.length,
    0,
    `seed ${SEED}: ${bad.length} inputs escaped as non-CNI exceptions:\n${bad.filter(Boolean).join('\n')}`,
  );
}

const problems: string[] = [];
const expect = (cond: boolean, what: string): void => {
  if (!cond && problems.length < 20) problems.push(what);
};

function checkNetConf(net: NetConf, id: string): void {
  expect(NAME_RE.test(net.name), `${id}: network name ${JSON.stringify(net.name)} accepted`);
  expect(
    (SUPPORTED_VERSIONS as readonly string[]).includes(net.cniVersion),
    `${id}: cniVersion ${net.cniVersion} accepted`,
  );
}

/**
 * Every stage named met both outcomes in a real share of its inputs (at least 2 % parsed, at least
 * 0.1 % and one refused), and was refused only with the CNI error codes listed for it.
 */
function assertShares(codes: Record<string, number[]>): void {
  for (const [stage, allowed] of Object.entries(codes)) {
    const t = tallies.get(stage);
    assert.ok(t, `${stage} never ran`);
    const refused = [...t.err.values()].reduce((a, b) => a + b, 0);
    const n = t.ok + refused;
    const what =
      `${stage} (seed ${SEED}): ${t.ok} of ${n} parsed, refused by code ` +
      `${JSON.stringify(Object.fromEntries(t.err))}`;
    assert.ok(t.ok >= n * 0.02, `too few inputs parse: ${what}`);
    assert.ok(refused >= Math.max(1, n * 0.001), `too few inputs are refused: ${what}`);
    assert.equal(
      [...t.err.keys()].filter((c) => !allowed.includes(c)),
      [],
      `refused with a code other than ${allowed.join('/')}: ${what}`,
    );
  }
}

// (these two run many thousand cases: slower than the unit default timeout on a busy machine)
test(
  `generated configs and environments (seed ${SEED}, ${CASES} cases): parse or CniError, never another exception`,
  timeout(180_000, () => {
    const rng = new Rng(SEED);
    const dataDirs = [
      '/var/lib/cni/networks',
      '/tmp/tsbfz',
      '/tmp/tsbfz',
      '/var/lib/cni/networks',
      '/tmp/tsbfz/a',
      'relative/dir',
      '/a/../etc',
      '/a/./b/',
      '//double//slash',
      '/x\u0000y',
      '',
      5,
      null,
      '/',
      '/proc/self',
      '/a/..',
      '..',
    ];
    for (let i = 0; i < CASES; i++) {
      const id = `case ${i}`;
      const g = genConfig(rng, {
        name: () => rng.pick(['fuzznet', 'net-1', 'a.b_c', 'x'.repeat(255), 'x'.repeat(256)]),
        dataDir: () => rng.pick(dataDirs),
        bridge: () => rng.pick(['tsbfz0', 'cni0', ...NASTY_STRINGS]),
      });
      const env = genEnv(rng, {
        containerId: () => rng.pick(['c1', 'abc123', 'a'.repeat(64), 'A.b-c_d']),
        netns: '/run/netns/x',
      });

      const cniEnv = run('parseEnv', id, env, () => parseEnv(env));
      if (cniEnv) {
        expect(
          cniEnv.containerId === '' || NAME_RE.test(cniEnv.containerId),
          `${id}: container ID ${JSON.stringify(cniEnv.containerId)} accepted`,
        );
        expect(
          cniEnv.ifname === '' ||
            (Buffer.byteLength(cniEnv.ifname) <= 15 &&
              !IFNAME_BAD.test(cniEnv.ifname) &&
              cniEnv.ifname !== '.' &&
              cniEnv.ifname !== '..'),
          `${id}: ifname ${JSON.stringify(cniEnv.ifname)} accepted`,
        );
      }
      const args = run('parseCniArgs', id, env.CNI_ARGS, () => parseCniArgs(env.CNI_ARGS)) ?? { ips: [] };

      const net = run('parseNetConf', id, g.stdin, () => parseNetConf(g.stdin));
      if (!net) continue;
      checkNetConf(net, id);
      if (net.prevResult)
        run('toVersion(prevResult)', id, net.prevResult, () =>
          JSON.stringify(toVersion(net.prevResult!, net.cniVersion)),
        );

      const cfg = run('parseBridgeConfig', id, g.conf, () => parseBridgeConfig(net, args));
      if (cfg) {
        expect(
          Buffer.byteLength(cfg.bridge) <= 15 &&
            Buffer.byteLength(cfg.bridge) > 0 &&
            !IFNAME_BAD.test(cfg.bridge) &&
            cfg.bridge !== '.' &&
            cfg.bridge !== '..',
          `${id}: bridge name ${JSON.stringify(cfg.bridge)} accepted`,
        );
        expect(
          cfg.mtu === undefined || (Number.isInteger(cfg.mtu) && cfg.mtu > 0 && cfg.mtu <= 65535),
          `${id}: mtu ${cfg.mtu} accepted`,
        );
        expect(
          cfg.mac === undefined || /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(cfg.mac),
          `${id}: MAC ${cfg.mac} accepted`,
        );
      }

      if (net.ipam && isObject(net.ipam)) {
        const hl = run('parseHostLocalConfig', id, net.ipam, () =>
          parseHostLocalConfig(net.ipam!, net.name, { ipArgs: cfg?.requestedIps ?? [] }),
        );
        if (hl) {
          const d = hl.dataDir;
          expect(
            path.isAbsolute(d) && path.normalize(d) === d && !d.split('/').includes('..') && !d.includes('\0'),
            `${id}: dataDir ${JSON.stringify(d)} accepted`,
          );
          const netDir = path.join(d, net.name);
          expect(path.dirname(netDir) === path.resolve(d), `${id}: network dir ${netDir} escapes ${d}`);
          for (const set of hl.ranges) {
            for (const r of set) {
              const sub = parseCidr(r.subnet);
              const s = parseIP(r.rangeStart);
              const e = parseIP(r.rangeEnd);
              expect(
                contains(sub, s) && contains(sub, e) && compareIP(s, e) <= 0,
                `${id}: range ${JSON.stringify(r)} accepted`,
              );
              expect(
                r.gateway === undefined || contains(sub, parseIP(r.gateway)),
                `${id}: gateway outside ${r.subnet} accepted`,
              );
            }
          }
        }
      }
      const rc = net.runtimeConfig;
      const pm = getKey(rc, 'portMappings');
      const maps = run('parsePortMappings', id, pm, () => parsePortMappings(pm));
      for (const m of maps ?? []) {
        expect(
          Number.isInteger(m.hostPort) &&
            m.hostPort >= 1 &&
            m.hostPort <= 65535 &&
            Number.isInteger(m.containerPort) &&
            m.containerPort >= 1 &&
            m.containerPort <= 65535 &&
            ['tcp', 'udp', 'sctp'].includes(m.protocol),
          `${id}: mapping ${JSON.stringify(m)} accepted`,
        );
      }
    }
    const stages = [...tallies.keys()];
    assertNoCrashes(stages);
    assert.equal(problems, [], `seed ${SEED}: unsafe values accepted`);
    if (process.env.FUZZ_VERBOSE) {
      for (const [s, t] of tallies)
        console.log(`${s}: ok ${t.ok}, errors by code ${JSON.stringify(Object.fromEntries(t.err))}`);
    }
    // "no crash" alone passes for a generator that only makes garbage (or only valid input): each
    // stage must see a share of both outcomes, and refuse only with the codes its errors may carry
    assertShares({
      parseEnv: [4],
      parseCniArgs: [4],
      parseNetConf: [1, 6, 7],
      parseBridgeConfig: [2, 7],
      parseHostLocalConfig: [7],
      parsePortMappings: [7],
    });
  }),
);

test(
  `port mappings, GC attachment lists, IPAM records, addresses (seed ${SEED}): no exception but CniError`,
  timeout(180_000, async () => {
    const rng = new Rng(SEED + 1);
    const { validAttachments } = await import('../../src/plugin/gc');
    const { portMappings, anyValue } = await import('../helpers/fuzz');
    for (let i = 0; i < CASES; i++) {
      const id = `case ${i}`;
      const pm = portMappings(rng);
      run('parsePortMappings#2', id, pm, () => parsePortMappings(pm));
      const raw = {
        'cni.dev/valid-attachments': rng.bool(0.7)
          ? [{ containerID: rng.pick(NASTY_STRINGS), ifname: rng.pick(NASTY_STRINGS) }]
          : anyValue(rng, 2),
      };
      run('validAttachments', id, raw, () => validAttachments(raw as Record<string, unknown>));

      // an IPAM record file: whatever its bytes, parseRecord answers a reservation or "foreign"
      const content = rng.bool()
        ? `${rng.pick(NASTY_STRINGS)}${rng.pick(['\r\n', '\n', '', '\r\n\r\n'])}${rng.pick(NASTY_STRINGS)}`
        : Buffer.from(Array.from({ length: rng.int(64) }, () => rng.int(256))).toString('utf8');
      const rec = run('parseRecord', id, content, () => parseRecord('10.210.0.5', content));
      if (rec)
        expect(
          !/[\s\x00-\x1f]/.test(rec.containerId) && !/[\s\x00-\x1f]/.test(rec.ifname),
          `${id}: record ${JSON.stringify(rec)} from ${JSON.stringify(content)}`,
        );

      const text = rng.bool(0.5)
        ? rng.pick([...ADDRS, ...CIDRS, ...NASTY_STRINGS])
        : Array.from({ length: rng.int(40) }, () => rng.pick([...'0123456789abcdef:./%x '])).join('');
      const ip = run('tryParseIP', id, text, () => tryParseIP(text));
      if (ip) expect(tryParseIP(ipToString(ip))?.value === ip.value, `${id}: ${text} does not round-trip`);
      run('parseIP', id, text, () => parseIP(text));
      run('parseCidr', id, text, () => parseCidr(text));
      run('parseResolvConf', id, content, () => parseResolvConf(content));
    }
    assertNoCrashes([
      'parsePortMappings#2',
      'validAttachments',
      'parseRecord',
      'tryParseIP',
      'parseIP',
      'parseCidr',
      'parseResolvConf',
    ]);
    assert.equal(problems, [], `seed ${SEED}: unsafe values accepted`);
    if (process.env.FUZZ_VERBOSE) {
      for (const [s, t] of tallies)
        console.log(`${s}: ok ${t.ok}, errors by code ${JSON.stringify(Object.fromEntries(t.err))}`);
    }
    assertShares({ 'parsePortMappings#2': [7], validAttachments: [7], parseIP: [7], parseCidr: [7] });
  }),
);

test('hand-picked hostile values: names that reach paths, interfaces and rules are refused', () => {
  const base = {
    cniVersion: '1.0.0',
    type: 'tsbridge',
    ipam: { type: 'host-local', subnet: '10.210.0.0/24', dataDir: '/tmp/tsbfz' },
  };
  for (const name of [
    '../x',
    'a/b',
    '..',
    '.',
    'a\nb',
    'a"b',
    "a'b",
    'a b',
    '',
    '-a',
    'x'.repeat(256),
    'a\u0000b',
    '\u202ex',
  ]) {
    const o = outcome(() => {
      const net = parseNetConf(JSON.stringify({ ...base, name }));
      return parseHostLocalConfig(net.ipam!, net.name);
    });
    assert.is(o.kind, 'err', `network name ${JSON.stringify(name)}: ${o.kind}`);
  }
  for (const cid of ['../x', 'a/b', '..', 'a\nb', 'a"b', 'a b', '-a', '\u202ex', 'a\rb']) {
    const o = outcome(() =>
      parseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: cid, CNI_NETNS: '/x', CNI_IFNAME: 'eth0' }),
    );
    assert.is(o.kind, 'err', `container ID ${JSON.stringify(cid)}: ${o.kind}`);
    if (o.kind === 'err') assert.is(o.err.code, 4);
  }
  for (const ifname of ['x'.repeat(16), 'a/b', '..', '.', 'a b', 'a\nb', 'eth0:1', 'ä'.repeat(8)]) {
    const o = outcome(() =>
      parseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/x', CNI_IFNAME: ifname }),
    );
    assert.is(o.kind, 'err', `ifname ${JSON.stringify(ifname)}: ${o.kind}`);
  }
  for (const dataDir of ['relative', '/a/../etc', '../x', '/x\u0000y']) {
    const o = outcome(() => parseHostLocalConfig({ type: 'host-local', subnet: '10.210.0.0/24', dataDir }, 'n'));
    assert.is(o.kind, 'err', `dataDir ${JSON.stringify(dataDir)}: ${o.kind}`);
  }
});

test.run();
