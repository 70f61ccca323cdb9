// The built binary as an operator meets it: -h/--help on every subcommand, usage errors naming
// the help command, the bare run answering as the reference plugins do, version and licenses,
// plugin logs configured in the netconf (JSON lines, one info line per command, the CNI code of an
// error), install writing the log keys and its probe status, the route agent with --kubeconfig
// and its readiness probe against the fake API server in a node namespace.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SUPPORTED_VERSIONS } from '../../src/cni/version';
import { FakeApi, makeNode } from '../helpers/k8s-fake-api';
import { cniDirFlags, serveInNode, spawnInNs, stopAgent, teardown } from '../helpers/k8s-agent';
import { BIN, bridgeConf, cni, RUN_ID, sh, tsb, World } from '../helpers/netns';
import { ROOT } from '../helpers/paths';

const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-oper-'));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const COMMANDS = ['install', 'uninstall', 'routes', 'probe', 'doctor', 'version', 'licenses', 'help'];

test(
  '-h and --help on every subcommand: its own usage on stdout, exit 0; an unknown flag exits 2 naming it and the ' +
    'help command',
  () => {
    for (const cmd of COMMANDS) {
      for (const h of ['-h', '--help']) {
        const r = tsb([cmd, h]);
        assert.is(r.status, 0, `${cmd} ${h}: ${r.stderr}`);
        assert.is(r.stderr, '', `${cmd} ${h}`);
        assert.match(r.stdout, new RegExp(`tsbridge ${cmd}`), `${cmd} ${h}`);
        // its own usage, not the whole help
        if (cmd !== 'help')
          assert.not.match(r.stdout, cmd === 'doctor' ? /tsbridge install/ : /tsbridge doctor/, `${cmd} ${h}`);
      }
      // and `tsbridge help CMD` is the same text
      assert.is(tsb(['help', cmd]).stdout, tsb([cmd, '--help']).stdout, `help ${cmd}`);
      const bad = tsb([cmd, '--bogus']);
      assert.is(bad.status, 2, `${cmd} --bogus`);
      assert.is(bad.stdout, '');
      assert.match(
        bad.stderr,
        new RegExp(`^tsbridge ${cmd}: unknown flag --bogus \\(see tsbridge ${cmd} --help\\)\\n$`),
        cmd,
      );
    }
    const all = tsb(['help']);
    assert.is(all.status, 0);
    for (const cmd of COMMANDS) assert.match(all.stdout, new RegExp(`tsbridge ${cmd}`));
    assert.is(tsb(['nonsense']).status, 2);
    assert.match(tsb(['nonsense']).stderr, /unknown command "nonsense" \(see tsbridge help\)/);
  },
);

test("bare (no CNI_COMMAND, no arguments): the reference plugins' two lines on stderr, exit 0", () => {
  const ours = tsb([]);
  const ref = spawnSync('/usr/lib/cni/bridge', [], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
  assert.is(ours.status, 0);
  assert.is(ref.status, 0);
  assert.is(ours.stdout, '');
  assert.is(ref.stdout, '');
  assert.match(ref.stderr, /^CNI bridge plugin .*\nCNI protocol versions supported: [0-9., ]+\n$/);
  assert.is(
    ours.stderr,
    `CNI tsbridge plugin v${PKG.version}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`,
  );
});

test(
  "--version and version --json: package.json's version, the git commit, the build date, the runtime, the CNI " +
    'versions',
  () => {
    const head = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    const v = tsb(['--version']);
    assert.is(v.status, 0);
    assert.match(
      v.stdout,
      new RegExp(
        `^tsbridge ${PKG.version.replace(/\./g, '\\.')} \\(commit [0-9a-f]{40}(-dirty)?, ` +
          `built \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ, bun \\d+`,
      ),
    );
    assert.is(tsb(['version']).stdout, v.stdout);
    const j = JSON.parse(tsb(['version', '--json']).stdout);
    assert.equal(Object.keys(j), ['version', 'commit', 'buildDate', 'runtime', 'cniVersions']);
    assert.is(j.version, PKG.version);
    assert.match(j.commit, /^[0-9a-f]{40}(-dirty)?$/);
    // built from this tree (the binary under test is this checkout's build) unless committed since
    assert.ok(
      j.commit.startsWith(head) ||
        spawnSync('git', ['-C', ROOT, 'merge-base', '--is-ancestor', j.commit.slice(0, 40), head]).status === 0,
      `${j.commit} vs HEAD ${head}`,
    );
    assert.ok(Math.abs(Date.parse(j.buildDate) - fs.statSync(BIN).mtimeMs) < 10 * 60_000, "build date is the build's");
    assert.equal(j.cniVersions, [...SUPPORTED_VERSIONS]);
  },
);

test("licenses: the runtime's and every npm dependency's text, as collected from node_modules at build time", () => {
  const list = tsb(['licenses', '--list']);
  assert.is(list.status, 0);
  const full = tsb(['licenses']).stdout;
  assert.match(list.stdout, /^Bun \d+\.\d+\.\d+ MIT$/m);
  assert.match(full, /Bun \(the runtime embedded in this executable/);
  for (const dep of Object.keys(PKG.dependencies)) {
    const dir = path.join(ROOT, 'node_modules', dep);
    const version = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
    assert.match(list.stdout, new RegExp(`^${dep.replace(/\./g, '\\.')} ${version.replace(/\./g, '\\.')} `, 'm'), dep);
    const lic = fs.readdirSync(dir).find((f) => /^licen[cs]e/i.test(f))!;
    assert.ok(full.includes(fs.readFileSync(path.join(dir, lic), 'utf8').trim()), `${dep}'s license text`);
  }
  // (dependencies of dependencies are collected too; none is left since the netlink package went)
});

test(
  'netconf logLevel/logFile/logFormat: one JSON info line per command; an error carries its CNI code; the ' +
    'environment wins',
  () => {
    const world = new World('oplog');
    const d = tmp();
    fs.chmodSync(d, 0o700);
    try {
      const file = path.join(d, 'tsbridge.log');
      const pod = world.pod('pod');
      const cid = `oplog-${RUN_ID}`;
      const conf = bridgeConf(
        world,
        { name: 'oplog', bridge: `tsbol${RUN_ID}`.slice(0, 15), ranges: [[{ subnet: '10.217.0.0/24' }]] },
        { logLevel: 'info', logFile: file, logFormat: 'json' },
      );
      const add = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path, ifname: 'eth0' });
      assert.is(add.status, 0, add.stdout + add.stderr);
      const del = cni(world.node, { command: 'DEL', conf, containerId: cid, netns: pod.path, ifname: 'eth0' });
      assert.is(del.status, 0, del.stdout + del.stderr);
      // a range with no room: ADD fails, with its code in the line
      const full = bridgeConf(
        world,
        {
          name: 'oplog2',
          bridge: `tsbol${RUN_ID}`.slice(0, 15),
          ranges: [[{ subnet: '10.217.1.0/30', rangeStart: '10.217.1.1', rangeEnd: '10.217.1.1' }]],
        },
        { logLevel: 'info', logFile: file, logFormat: 'json' },
      );
      const gw = cni(world.node, {
        command: 'ADD',
        conf: full,
        containerId: `${cid}-x`,
        netns: pod.path,
        ifname: 'eth1',
      });
      const err = gw.json?.code;
      const lines = fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const ctx = (l: any) => [l.command, l.containerID, l.ifname, l.netns, l.network];
      const addLine = lines.find((l) => l.command === 'ADD' && l.level === 'info')!;
      assert.ok(addLine, JSON.stringify(lines));
      assert.equal(ctx(addLine), ['ADD', cid, 'eth0', pod.path, 'oplog']);
      assert.equal([addLine.phase, typeof addLine.durationMs], ['done', 'number']);
      assert.match(addLine.msg, /^ADD ok: eth0 10\.217\.0\.\d+\/24 on tsbol/);
      assert.match(addLine.time, /^\d{4}-\d\d-\d\dT/);
      const delLine = lines.find((l) => l.command === 'DEL' && l.level === 'info')!;
      assert.equal([...ctx(delLine), delLine.phase], ['DEL', cid, 'eth0', pod.path, 'oplog', 'done']);
      assert.is(
        lines.filter((l) => l.level === 'info' && l.containerID === cid).length,
        2,
        'one info line per command',
      );
      if (gw.status !== 0) {
        const e = lines.find((l) => l.level === 'error')!;
        assert.ok(e, JSON.stringify(lines));
        assert.equal(
          [e.command, e.containerID, e.code, typeof e.durationMs, typeof e.phase],
          ['ADD', `${cid}-x`, err, 'number', 'string'],
        );
      } else {
        cni(world.node, { command: 'DEL', conf: full, containerId: `${cid}-x`, netns: pod.path, ifname: 'eth1' });
        assert.unreachable(`the /30 with a one-address range should have been full: ${gw.stdout}`);
      }
      // TSBRIDGE_LOG_FORMAT=text and TSBRIDGE_LOG_LEVEL=error from the environment win over the netconf
      const before = fs.readFileSync(file, 'utf8');
      const st = cni(world.node, { command: 'STATUS', conf, env: { TSBRIDGE_LOG_LEVEL: 'error' } });
      assert.is(st.status, 0, st.stdout + st.stderr);
      assert.is(fs.readFileSync(file, 'utf8'), before, 'level error: no info line');
      cni(world.node, { command: 'STATUS', conf, env: { TSBRIDGE_LOG_FORMAT: 'text' } });
      assert.match(fs.readFileSync(file, 'utf8').slice(before.length), /^\S+ tsbridge\[\d+\] info: STATUS ok: done \(/);
      // a bad value is the config's error, code 7, naming the key
      const bad = cni(world.node, {
        command: 'ADD',
        conf: { ...conf, logLevel: 'loud' },
        containerId: cid,
        netns: pod.path,
        ifname: 'eth0',
      });
      assert.is(bad.status, 1);
      assert.equal(
        [bad.json.code, bad.json.msg],
        [7, 'logLevel: "loud" is not a log level (error, warn, info, debug)'],
      );
    } finally {
      world.cleanup();
      fs.rmSync(d, { recursive: true, force: true });
    }
  },
);

test(
  "install --log-* writes the conflist's log keys; its status file makes `probe` ready, a removed conflist " + 'not',
  () => {
    const d = tmp();
    try {
      const status = path.join(d, 'run', 'status.json');
      const args = [
        'install',
        '--pod-cidr',
        '10.244.9.0/24',
        ...cniDirFlags(d),
        '--log-level',
        'info',
        '--log-file',
        '/var/log/tsbridge.log',
        '--log-format',
        'json',
        '--status-file',
        status,
      ];
      const r = tsb(args);
      assert.is(r.status, 0, r.stderr);
      const conf = path.join(d, 'net.d', '10-tsbridge.conflist');
      const plugin = JSON.parse(fs.readFileSync(conf, 'utf8')).plugins[0];
      assert.equal([plugin.logLevel, plugin.logFile, plugin.logFormat], ['info', '/var/log/tsbridge.log', 'json']);
      assert.is(tsb(['probe', '--status-file', status]).status, 0);
      assert.is(
        tsb(['probe'], { TSBRIDGE_STATUS_FILE: status }).status,
        0,
        'from the environment, as in the DaemonSet',
      );
      fs.rmSync(conf);
      const p = tsb(['probe', '--status-file', status]);
      assert.is(p.status, 1);
      assert.match(p.stderr, /10-tsbridge\.conflist is missing/);
      assert.is(tsb(['probe', '--live', '--status-file', status]).status, 0, 'alive still');
      const bad = tsb([...args.slice(0, -2), '--log-format', 'xml']);
      assert.is(bad.status, 2);
      assert.match(bad.stderr, /--log-format: "xml" is not a log format \(text, json\)/);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  },
);

test(
  'install --watch keeps its status current: ready, and ' + 'ready again after it restored a removed conflist',
  async () => {
    const d = tmp();
    let inst: ChildProcess | undefined;
    let log = '';
    try {
      const status = path.join(d, 'run', 'status.json');
      const conf = path.join(d, 'net.d', '10-tsbridge.conflist');
      inst = spawn(
        BIN,
        [
          'install',
          '--watch',
          '--interval',
          '0.3',
          '--pod-cidr',
          '10.244.8.0/24',
          ...cniDirFlags(d),
          '--status-file',
          status,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      inst.stdout!.on('data', (x: Buffer) => (log += x.toString()));
      inst.stderr!.on('data', (x: Buffer) => (log += x.toString()));
      const until = async (what: string, ok: () => boolean): Promise<void> => {
        const end = Date.now() + 20_000;
        while (!ok()) {
          if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${log}`);
          await sleep(100);
        }
      };
      await until('ready', () => tsb(['probe', '--status-file', status]).status === 0);
      const st = JSON.parse(fs.readFileSync(status, 'utf8'));
      assert.equal(
        st.files.map((f: any) => f.path),
        [path.join(d, 'bin', 'tsbridge'), conf],
      );
      assert.is(st.maxAgeMs, 15_600);
      fs.rmSync(conf);
      await until('restored', () => fs.existsSync(conf) && /restored/.test(log));
      await until('ready again', () => tsb(['probe', '--status-file', status]).status === 0);
      inst.kill('SIGTERM');
      const c = inst;
      assert.is(await new Promise((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', r))), 0, log);
    } finally {
      inst?.kill('SIGKILL');
      fs.rmSync(d, { recursive: true, force: true });
    }
  },
);

test('routes --kubeconfig against the fake API server; the readiness probe follows its route syncs', async () => {
  const world = new World('opkc');
  const api = new FakeApi(['127.0.0.1']);
  const d = tmp();
  let agent: ChildProcess | undefined;
  let log = '';
  try {
    const ns = await serveInNode(world, api, '10.218.0.1/24');
    api.setNode(makeNode('node-1', ['10.219.1.0/24'], ['10.218.0.1']));
    api.setNode(makeNode('node-2', ['10.219.2.0/24'], ['10.218.0.2']));
    const kc = path.join(d, 'kubeconfig');
    fs.copyFileSync(api.caFile, path.join(d, 'ca.crt'));
    fs.writeFileSync(
      kc,
      `apiVersion: v1\nkind: Config\ncurrent-context: t\ncontexts:\n- name: t\n  context: ` +
        `{cluster: c, user: u}\n` +
        `clusters:\n- name: c\n  cluster:\n    server: ${api.url('127.0.0.1')}\n    certificate-authority: ca.crt\n` +
        `users:\n- name: u\n  user:\n    token: ${api.token}\n`,
      { mode: 0o600 },
    );
    const status = path.join(d, 'status.json');
    const flags = ['--node-name', 'node-1', '--resync', '1', '--cluster-cidr', '10.219.0.0/16'];
    agent = spawnInNs(ns, ['routes', ...flags, '--kubeconfig', kc, '--status-file', status], (s) => (log += s));
    const end = Date.now() + 20_000;
    const routed = (): boolean =>
      sh('ip', ['-n', ns, 'route', 'show', 'proto', '116']).includes('10.219.2.0/24 via 10.218.0.2');
    while (!routed()) {
      if (Date.now() > end) throw new Error(`no route\n${log}`);
      await sleep(100);
    }
    assert.ok(api.requests.length > 0 && api.requests.every((r) => r.authorized), "the kubeconfig's token");
    const ready = tsb(['probe', '--status-file', status]);
    assert.is(ready.status, 0, ready.stderr + log);
    const st = JSON.parse(fs.readFileSync(status, 'utf8'));
    assert.equal([st.job, typeof st.okAt, st.maxAgeMs], ['routes', 'number', 17_000]);
    await stopAgent(agent, log);
  } finally {
    await teardown(agent, world, api);
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test.run();
