// Bad input through the real binary, as a runtime would feed it: a few hundred seeded cases from
// test/helpers/fuzz.ts (malformed JSON, wrong types, huge values, unknown cniVersion, bad CIDRs,
// overlapping ranges, gateways outside the subnet, absurd MTU, hostile container IDs, network
// names, interface names, CNI_ARGS, commands, netns paths). Every case: the process ends on its
// own (20 s bound), stdout is exactly one CNI error JSON with a known code and a message and the
// exit status is non-zero -- or, when the case happens to be valid, exit 0 with a well-formed
// result (an ADD is then DELeted); never a stack trace on stdout; and no state change: the same
// links in the node and the pod, the same netfilter state, nothing written outside the data
// directory. Then hand-picked hostile names and dataDirs, and what they may write.
// FUZZ_SEED=<n> replays, FUZZ_BIN_CASES=<n> scales. Subnets 10.210.0.0/24 and fd10:210::/64
// (those the generator uses), bridges tsbfz0 and the generator's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timeout } from '../helpers/test';
import { getKey, isObject } from '../../src/cni/json';
import { NASTY_STRINGS, Rng, VALID_CODES, fuzzSeed, genConfig, genEnv } from '../helpers/fuzz';
import { cniBounded, tree } from '../helpers/fuzz-state';
import { CniReply, RUN_ID, World, cni, inWorld } from '../helpers/netns';

const SEED = fuzzSeed(7_2026);
const CASES = Number(process.env.FUZZ_BIN_CASES) || 300;
const LIMIT_MS = 20_000;
const NET = `fz-${RUN_ID}`;

/** Problems with one reply; [] when it is a proper CNI answer. */
function replyProblems(r: CniReply & { timedOut: boolean }, command: string): string[] {
  const p: string[] = [];
  if (r.timedOut) return [`hung past ${LIMIT_MS / 1000} s`];
  if (/\n\s+at .*\(|^\s+at /m.test(r.stdout)) p.push('stack trace on stdout');
  if (r.status === 0) {
    if (command === 'ADD') {
      // 0.3.0+: interfaces, and ips unless L2-only (no ipam type: no ips key at all); 0.1.0/0.2.0: ip4/ip6
      const j = r.json;
      const good =
        isObject(j) &&
        typeof j.cniVersion === 'string' &&
        ((Array.isArray(j.interfaces) && (j.ips === undefined || (Array.isArray(j.ips) && j.ips.length > 0))) ||
          (/^0\.[12]\.0$/.test(j.cniVersion) && (isObject(j.ip4) || isObject(j.ip6))));
      if (!good) p.push(`exit 0 with a broken result: ${r.stdout}`);
    } else if (command === 'VERSION') {
      if (!isObject(r.json) || !Array.isArray(r.json.supportedVersions)) p.push(`VERSION reply: ${r.stdout}`);
    } else if (r.stdout.trim() !== '') p.push(`exit 0 with output: ${r.stdout}`);
    return p;
  }
  const lines = r.stdout.trim().split('\n');
  if (lines.length !== 1 || !isObject(r.json))
    return [
      ...p,
      `exit ${r.status} without one error JSON line: ` +
        `${JSON.stringify(r.stdout)} stderr: ${r.stderr.slice(0, 300)}`,
    ];
  if (!VALID_CODES.has(r.json.code as number)) p.push(`unknown code ${r.json.code}`);
  if (typeof r.json.msg !== 'string' || r.json.msg === '') p.push('no msg');
  if (typeof r.json.cniVersion !== 'string') p.push('no cniVersion');
  if (r.status !== 1) p.push(`exit status ${r.status}`);
  return p;
}

interface State {
  node: string[];
  pod: string[];
  nat: string;
  outside: string[];
  roots: string[];
}

function state(world: World, pod: string, dataRoot: string, safeDir: string): State {
  const rel = path.relative(dataRoot, safeDir);
  return {
    node: world.links(world.node).sort(),
    pod: world.links(pod).sort(),
    nat: world.natDump(world.node).replace(/^# .*$/gm, ''),
    // everything under the world's temp root except the one data directory the cases may use
    outside: tree(dataRoot).filter((f) => f !== rel && !f.startsWith(rel + '/')),
    roots: ['/', '/dev', '/var/lib/cni/networks'].map((d) =>
      fs.existsSync(d)
        ? fs
            .readdirSync(d)
            .filter((n) => n.includes(RUN_ID))
            .join(',')
        : '',
    ),
  };
}

test(
  `binary: ${CASES} generated cases (seed ${SEED}): CNI error JSON or a valid result, no trace, no state change`,
  timeout(600_000, async () => {
    const world = new World('fzbin');
    const madeRoots = ['/', '/dev'].map((d) => path.join(d, NET));
    try {
      const pod = world.pod('pod');
      const dataRoot = world.dataDir;
      const safeDir = path.join(dataRoot, 'd');
      // (/proc is left to the dedicated test below: there the binary spins until killed)
      const hostileDirs = [
        'relative/dir',
        `${dataRoot}/../escape`,
        `${dataRoot}/d/../../escape`,
        '/sys/kernel',
        `${dataRoot}/d\u0000x`,
      ];
      const rng = new Rng(SEED);
      const baseline = state(world, pod.name, dataRoot, safeDir);
      const failures: string[] = [];
      const tally = { ok: 0, skipped: 0, errors: new Map<number, number>() };

      for (let i = 0; i < CASES && failures.length < 10; i++) {
        const g = genConfig(rng, {
          name: () => rng.pick([NET, NET, NET, ...NASTY_STRINGS.slice(0, 30)]),
          dataDir: () => (rng.bool(0.85) ? safeDir : rng.pick(hostileDirs)),
          bridge: () => rng.pick(['tsbfz0', 'tsbfz1', 'tsbfz0', ...NASTY_STRINGS]),
        });
        const env = genEnv(rng, { containerId: () => `fz-${RUN_ID}-${i}`, netns: pod.path });
        // A config the generator made valid by chance, with no dataDir or one it should not write
        // to (a byte flip inside the path), would use the node's real store: not run.
        let parsed: unknown;
        try {
          parsed = JSON.parse(g.stdin);
        } catch {
          /* malformed: fine to run */
        }
        const ipam = isObject(parsed) ? getKey(parsed, 'ipam') : undefined;
        if (isObject(ipam) && getKey(ipam, 'type') === 'host-local') {
          const dd = getKey(ipam, 'dataDir');
          if (typeof dd !== 'string' || dd === '' || (!dd.startsWith(safeDir) && !hostileDirs.includes(dd))) {
            tally.skipped++;
            continue;
          }
        }
        const command = (env.CNI_COMMAND ?? '').toUpperCase();
        const r = await cniBounded(
          world.node,
          { command: 'ADD', conf: g.stdin, env: { CNI_PATH: '/usr/lib/cni', ...env } },
          LIMIT_MS,
          { rawEnv: true },
        );
        const where =
          `case ${i} (${command} ${JSON.stringify(env).slice(0, 200)} stdin ` +
          `${JSON.stringify(g.stdin.slice(0, 300))})`;
        for (const p of replyProblems(r, command)) failures.push(`${where}: ${p.slice(0, 400)}`);
        if (r.status === 0) {
          tally.ok++;
          if (command === 'ADD') {
            const d = cni(world.node, {
              command: 'DEL',
              conf: g.stdin,
              containerId: env.CNI_CONTAINERID,
              netns: env.CNI_NETNS,
              ifname: env.CNI_IFNAME,
              args: env.CNI_ARGS,
              env,
            });
            if (d.status !== 0) failures.push(`${where}: DEL of the valid case failed: ${d.stdout}`);
          }
          // a valid ADD legitimately creates its bridge (kept by design), its gateway and the store
          for (const l of world.links(world.node))
            if (!baseline.node.includes(l) && l.startsWith('tsbfz')) world.exec(world.node, 'ip', ['link', 'del', l]);
        } else if (r.json) {
          tally.errors.set(r.json.code, (tally.errors.get(r.json.code) ?? 0) + 1);
        }
        const now = state(world, pod.name, dataRoot, safeDir);
        for (const k of Object.keys(now) as (keyof State)[]) {
          if (JSON.stringify(now[k]) !== JSON.stringify(baseline[k])) {
            failures.push(
              `${where}: ${k} changed: ${JSON.stringify(baseline[k]).slice(0, 300)} -> ` +
                `${JSON.stringify(now[k]).slice(0, 300)}`,
            );
          }
        }
        // reset what a failing case changed, so one bug is reported once
        Object.assign(baseline, now);
      }
      const ran = CASES - tally.skipped;
      console.log(
        `  binary fuzz seed ${SEED}: ${ran} run (${tally.skipped} skipped), ${tally.ok} valid, errors by ` +
          `code ${JSON.stringify(Object.fromEntries([...tally.errors].sort((a, b) => a[0] - b[0])))}`,
      );
      assert.equal(failures, [], `seed ${SEED}: ${failures.length} bad cases`);
      if (CASES >= 100)
        assert.ok(tally.ok > 0 && tally.errors.size > 3, 'the generator reached both valid and invalid configs');
      assert.ok(tally.skipped < CASES / 10, `${tally.skipped} cases skipped`);
    } finally {
      for (const d of madeRoots) fs.rmSync(d, { recursive: true, force: true });
      world.cleanup();
    }
  }),
);

const base = (world: World, extra: object = {}) => ({
  cniVersion: '1.0.0',
  name: NET,
  type: 'tsbridge',
  bridge: 'tsbfz0',
  isGateway: true,
  ipam: { type: 'host-local', subnet: '10.210.0.0/24', dataDir: path.join(world.dataDir, 'd') },
  ...extra,
});

test(
  'hostile container IDs, network names, interface names ' + 'and IPAM types: refused (4/7), nothing written or run',
  () => {
    inWorld('fzname', (world) => {
      const pod = world.pod('pod');
      const cases: { what: string; cid?: string; name?: string; ifname?: string; ipam?: object; code: number }[] = [
        ...[
          '../../x',
          '/etc/x',
          'a/b',
          '..',
          '.',
          'a\nb',
          'a\r\nb',
          'a"b',
          "a'b",
          'a b',
          '-x',
          '$(id)',
          '`id`',
          'a;b',
          '\u202ex',
          'x'.repeat(300) + '/',
        ].map((cid) => ({ what: `container ID ${JSON.stringify(cid)}`, cid, code: 4 })),
        ...[
          '../x',
          '..',
          '.',
          'a/b',
          '/abs',
          'a\nb',
          'a"b',
          "a'b",
          'a b',
          '',
          '-x',
          'x'.repeat(256),
          '\u202ex',
          '%2e%2e',
        ].map((name) => ({ what: `network name ${JSON.stringify(name)}`, name, code: 7 })),
        ...['x'.repeat(16), 'a/b', '..', '.', 'a b', 'a\nb', 'eth0:1', 'ä'.repeat(8)].map((ifname) => ({
          what: `ifname ${JSON.stringify(ifname)}`,
          ifname,
          code: 4,
        })),
      ];
      // an IPAM type is a file name looked up in CNI_PATH: no path may lead out of it
      const marker = path.join(world.dataDir, 'ran');
      const evil = path.join(world.dataDir, 'evil.sh');
      fs.writeFileSync(evil, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
      for (const type of [evil, `../../..${evil}`, '../../bin/true', 'a/b', '..', '.', ' host-local']) {
        cases.push({
          what: `ipam type ${JSON.stringify(type)}`,
          ipam: { type, subnet: '10.210.0.0/24', dataDir: path.join(world.dataDir, 'd') },
          code: 7,
        });
      }
      const before2 = tree(world.dataDir);
      for (const k of cases) {
        const conf = base(world, {
          ...(k.name !== undefined ? { name: k.name } : {}),
          ...(k.ipam ? { ipam: k.ipam } : {}),
        });
        const r = cni(world.node, {
          command: 'ADD',
          conf,
          containerId: k.cid ?? `fzn-${RUN_ID}`,
          ifname: k.ifname ?? 'eth0',
          netns: pod.path,
        });
        assert.is.not(r.status, 0, `${k.what} accepted: ${r.stdout}`);
        assert.ok(r.json, `${k.what}: no error JSON: ${r.stdout} ${r.stderr}`);
        assert.is(r.json.code, k.code, `${k.what}: ${r.stdout}`);
        assert.equal(tree(world.dataDir), before2, `${k.what}: something was written (or executed)`);
        assert.equal(world.links(pod.name), ['lo']);
        assert.not.ok(
          world.links(world.node).some((l) => l.startsWith('veth') || l === 'tsbfz0'),
          `${k.what}: links made`,
        );
      }
    });
  },
);

/** ADD with `dataDir`, bounded; returns what happened ('refused <code>', 'hung', 'accepted ...'). */
async function addWithDataDir(world: World, pod: { path: string }, dataDir: string): Promise<string> {
  const conf = base(world, { ipam: { type: 'host-local', subnet: '10.210.0.0/24', dataDir } });
  const cid = `fzdd-${RUN_ID}`;
  const r = await cniBounded(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path }, 10_000);
  if (r.timedOut) return 'hung (killed after 10 s)';
  if (r.status === 0) {
    const made = path.join(dataDir, NET);
    const what = `accepted: wrote ${made}/{${fs.existsSync(made) ? fs.readdirSync(made).join(',') : ''}}`;
    cni(world.node, { command: 'DEL', conf, containerId: cid, netns: pod.path });
    return what;
  }
  if (!r.json || !VALID_CODES.has(r.json.code)) return `no error JSON: ${r.stdout} ${r.stderr.slice(0, 200)}`;
  return `refused ${r.json.code}`;
}

test(
  'dataDir on a pseudo-filesystem (/proc, /proc/sys/net, /sys, /sys/kernel): an error JSON in bounded time, never ' +
    'a spin',
  async () => {
    await inWorld('fzpr', async (world) => {
      const pod = world.pod('pod');
      const got: string[] = [];
      for (const d of ['/proc', '/proc/sys/net', '/sys', '/sys/kernel'])
        got.push(`${d}: ${await addWithDataDir(world, pod, d)}`);
      assert.equal(
        got.filter((g) => !/: refused \d+$/.test(g)),
        [],
        got.join('; '),
      );
    });
  },
);

test('dataDir "/" or "/dev", relative or with "..": refused, nothing written there', async () => {
  const world = new World('fzdd');
  const planted = ['/', '/dev'].map((d) => path.join(d, NET));
  try {
    const pod = world.pod('pod');
    const got: string[] = [];
    for (const d of ['/', '/dev', 'relative', `${world.dataDir}/../x`, './x']) {
      got.push(`${d}: ${await addWithDataDir(world, pod, d)}`);
      for (const p of planted) fs.rmSync(p, { recursive: true, force: true });
    }
    assert.equal(
      got.filter((g) => !/: refused 7$/.test(g)),
      [],
      'dataDirs a host-local store has no business in were used',
    );
  } finally {
    for (const p of planted) fs.rmSync(p, { recursive: true, force: true });
    world.cleanup();
  }
});

test.run();
