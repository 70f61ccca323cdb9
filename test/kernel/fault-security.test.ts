// Files tsbridge writes as root, and what its environment can make it do:
//  - the IPAM store (network directory, IP records, last_reserved_ip, lock) and a log file it
//    creates are neither group- nor world-writable, even when the runtime's umask is 000;
//  - TSBRIDGE_LOG_FILE pointing at a symlink is refused (the target is untouched) and the CNI call
//    itself still succeeds; pointing at a FIFO nobody reads must not hang the call;
//  - NODE_OPTIONS (--require) and other NODE_* variables change nothing on a full ADD/DEL, which
//    loads the plugin modules and the native pieces (binary.test.ts covers VERSION and the cache).
// Subnet 10.220.8.0/24, bridge tsbsec0.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cniBounded, traces } from '../helpers/fuzz-state';
import { RUN_ID, World, bridgeConf, cni, inWorld } from '../helpers/netns';

/** A plain Node (the one running these tests), without tsbridge's defences: the positive controls for
 * NODE_* (the binary is Bun now and re-executes itself without any NODE_* or BUN_*, see binary-env). */
const NODE24 = process.execPath;
const BRIDGE = 'tsbsec0';
const NET = 'tsbt-sec';

const conf = (world: World) =>
  bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.220.8.0/24' }]] },
    { ipMasq: true, ipMasqBackend: 'iptables' },
  );
const tmp = (tag: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-sec-${tag}-${RUN_ID}-`));
const modeOf = (p: string): string => (fs.lstatSync(p).mode & 0o7777).toString(8).padStart(4, '0');

/** Runs fn with this process's umask (inherited by the plugin) set to `mask`. */
function withUmask<T>(mask: number, fn: () => T): T {
  const old = process.umask(mask);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}

test('umask 000: the IPAM store and a new log file are not group/world-writable', () => {
  const world = new World('secmode');
  const dir = tmp('log');
  try {
    const pod = world.pod('pod');
    const cid = `secm-${RUN_ID}`;
    const log = path.join(dir, 'tsbridge.log');
    const r = withUmask(0, () =>
      cni(world.node, {
        command: 'ADD',
        conf: conf(world),
        containerId: cid,
        netns: pod.path,
        env: { TSBRIDGE_LOG_FILE: log, TSBRIDGE_LOG_LEVEL: 'debug' },
      }),
    );
    assert.is(r.status, 0, r.stdout + r.stderr);
    const store = path.join(world.dataDir, NET);
    const files = [store, ...fs.readdirSync(store).map((n) => path.join(store, n)), log];
    const loose = files.filter((p) => fs.lstatSync(p).mode & 0o022).map((p) => `${p} ${modeOf(p)}`);
    assert.equal(loose, [], 'writable by group or others');
    assert.is(modeOf(log), '0600', 'the log file');
    assert.is(modeOf(path.join(store, '10.220.8.2')), '0600', 'an IP record (0600 as upstream host-local since 1.4.0)');
    assert.ok(fs.readFileSync(log, 'utf8').includes('ADD'), 'the log file got the debug lines');
    assert.is(cni(world.node, { command: 'DEL', conf: conf(world), containerId: cid, netns: pod.path }).status, 0);
  } finally {
    world.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('TSBRIDGE_LOG_FILE is a symlink: refused, its target untouched, the ADD still succeeds', () => {
  const world = new World('seclink');
  const dir = tmp('link');
  try {
    const pod = world.pod('pod');
    const cid = `secl-${RUN_ID}`;
    const target = path.join(dir, 'precious');
    fs.writeFileSync(target, 'precious\n');
    fs.chmodSync(target, 0o600);
    const link = path.join(dir, 'tsbridge.log');
    fs.symlinkSync(target, link);
    const env = { TSBRIDGE_LOG_FILE: link, TSBRIDGE_LOG_LEVEL: 'debug' };
    const r = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: pod.path, env });
    assert.is(r.status, 0, `ADD with a symlinked log file: ${r.stdout}`);
    assert.match(r.stderr, 'cannot open log file');
    assert.is(fs.readFileSync(target, 'utf8'), 'precious\n', 'written through the link');
    assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the link was replaced');
    const d = cni(world.node, { command: 'DEL', conf: conf(world), containerId: cid, netns: pod.path, env });
    assert.is(d.status, 0);
    assert.is(fs.readFileSync(target, 'utf8'), 'precious\n');
    assert.equal(traces(world, NET, cid, 'eth0', pod), []);
  } finally {
    world.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('TSBRIDGE_LOG_FILE is a FIFO nobody reads: the call ends on its own (no hang)', async () => {
  const world = new World('secfifo');
  const dir = tmp('fifo');
  try {
    const pod = world.pod('pod');
    const cid = `secf-${RUN_ID}`;
    const fifo = path.join(dir, 'tsbridge.log');
    spawnSync('mkfifo', [fifo]);
    const r = await cniBounded(
      world.node,
      { command: 'ADD', conf: conf(world), containerId: cid, netns: pod.path, env: { TSBRIDGE_LOG_FILE: fifo } },
      15_000,
    );
    assert.not.ok(r.timedOut, 'the plugin blocked opening the log FIFO (killed after 15 s)');
    assert.is(r.status, 0, `ADD: ${r.stdout} ${r.stderr}`);
    assert.is(cni(world.node, { command: 'DEL', conf: conf(world), containerId: cid, netns: pod.path }).status, 0);
  } finally {
    world.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('NODE_OPTIONS --require and other NODE_* variables change nothing on ADD and DEL', () => {
  const world = new World('secnode');
  const dir = tmp('node');
  try {
    const pod = world.pod('pod');
    const cid = `secn-${RUN_ID}`;
    const marker = path.join(dir, 'ran');
    const evil = path.join(dir, 'evil.js');
    fs.writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'pwned')`);
    fs.mkdirSync(path.join(dir, 'cov'));
    const env = {
      NODE_OPTIONS: `--require=${evil} --max-old-space-size=1`,
      NODE_V8_COVERAGE: path.join(dir, 'cov'),
      NODE_PATH: dir,
      NODE_TLS_REJECT_UNAUTHORIZED: '0',
    };
    const r = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: pod.path, env });
    assert.is(r.status, 0, `ADD: ${r.stdout} ${r.stderr}`);
    assert.is(r.json.ips[0].address, '10.220.8.2/24');
    const d = cni(world.node, { command: 'DEL', conf: conf(world), containerId: cid, netns: pod.path, env });
    assert.is(d.status, 0, `DEL: ${d.stdout}`);
    assert.not.ok(fs.existsSync(marker), 'NODE_OPTIONS --require ran');
    assert.equal(fs.readdirSync(path.join(dir, 'cov')), [], 'NODE_V8_COVERAGE wrote coverage');
    assert.equal(traces(world, NET, cid, 'eth0', pod), []);
    // the positive control: plain Node 24 with this environment does run evil.js and write coverage
    spawnSync(NODE24, ['-e', '0'], { env: { PATH: process.env.PATH, ...env, NODE_OPTIONS: `--require=${evil}` } });
    assert.is(fs.readFileSync(marker, 'utf8'), 'pwned', 'control: NODE_OPTIONS --require did not run under plain node');
    assert.ok(
      fs.readdirSync(path.join(dir, 'cov')).length > 0,
      'control: NODE_V8_COVERAGE wrote nothing under plain node',
    );
  } finally {
    world.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('NODE_DEBUG changes nothing either: no debug output (and no dump of the environment) on stderr', () => {
  inWorld('secdbg', (world) => {
    const pod = world.pod('pod');
    const cid = `secd-${RUN_ID}`;
    const env = { NODE_DEBUG: 'child_process,fs,net', TSBRIDGE_TEST_SECRET: 'hunter2' };
    const r = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: pod.path, env });
    assert.is(r.status, 0, `ADD: ${r.stdout} ${r.stderr}`);
    const d = cni(world.node, { command: 'DEL', conf: conf(world), containerId: cid, netns: pod.path, env });
    assert.is(d.status, 0);
    assert.not.match(
      r.stderr,
      /^(FS|CHILD_PROCESS|NET) \d+:/m,
      `NODE_DEBUG output on stderr:\n${r.stderr.slice(0, 300)}`,
    );
    assert.not.match(r.stderr, 'hunter2', 'the environment was printed on stderr');
    // the positive control: plain Node, without tsbridge's
    // defence, spawning a tool as the plugin does (iptables-restore) with this environment, prints
    // NODE_DEBUG lines and the secret, so the two checks above can fail
    const plain = spawnSync(NODE24, ['-e', "require('child_process').spawnSync('true')"], {
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
    });
    assert.match(
      plain.stderr,
      /^CHILD_PROCESS \d+:/m,
      `control: no NODE_DEBUG output from plain node:\n${plain.stderr}`,
    );
    assert.match(plain.stderr, 'hunter2', 'control: plain node did not print the environment');
  });
});

/** ADD (debug level) with TSBRIDGE_LOG_FILE=file, then DEL; returns the ADD's stderr. */
function addWithLog(
  world: World,
  pod: { path: string },
  cid: string,
  file: string,
  extra: Record<string, string> = {},
): string {
  const env = { TSBRIDGE_LOG_FILE: file, TSBRIDGE_LOG_LEVEL: 'debug', ...extra };
  const r = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: pod.path, env });
  assert.is(r.status, 0, `ADD: ${r.stdout} ${r.stderr}`);
  assert.is(cni(world.node, { command: 'DEL', conf: conf(world), containerId: cid, netns: pod.path, env }).status, 0);
  return r.stderr;
}

test('log file with a second hard link (planted): not written, the ADD succeeds; with one link it is written', () => {
  const world = new World('sechl');
  const dir = tmp('hl');
  try {
    const pod = world.pod('pod');
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'precious\n', { mode: 0o600 });
    const logf = path.join(dir, 'tsbridge.log');
    fs.linkSync(victim, logf);
    assert.is(fs.statSync(logf).nlink, 2);
    const err = addWithLog(world, pod, `sechl-${RUN_ID}`, logf);
    assert.match(err, /cannot open log file.*2 hard links/);
    assert.is(fs.readFileSync(victim, 'utf8'), 'precious\n', "root's lines went into the hard-linked file");
    // positive control: the same file, once it has only its own name, receives the lines
    fs.unlinkSync(victim);
    const ok = addWithLog(world, pod, `sechl2-${RUN_ID}`, logf);
    assert.not.match(ok, 'cannot open log file');
    assert.match(fs.readFileSync(logf, 'utf8'), /ADD container=sechl2-/);
  } finally {
    world.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('log file owned by another user, or group-writable: not written; owned by root 0600 it is written', () => {
  const world = new World('secown');
  const dir = tmp('own');
  try {
    const pod = world.pod('pod');
    const logf = path.join(dir, 'tsbridge.log');
    fs.writeFileSync(logf, '', { mode: 0o600 });
    fs.chownSync(logf, 65534, 65534);
    assert.match(addWithLog(world, pod, `secown-${RUN_ID}`, logf), /cannot open log file.*owned by uid 65534/);
    assert.is(fs.readFileSync(logf, 'utf8'), '', 'written although another user owns it');
    fs.chownSync(logf, 0, 0);
    fs.chmodSync(logf, 0o620);
    assert.match(addWithLog(world, pod, `secown2-${RUN_ID}`, logf), /cannot open log file.*writable by group/);
    assert.is(fs.readFileSync(logf, 'utf8'), '', 'written although the group can write it');
    // positive control: root's own 0600 file receives the lines
    fs.chmodSync(logf, 0o600);
    assert.not.match(addWithLog(world, pod, `secown3-${RUN_ID}`, logf), 'cannot open log file');
    assert.match(fs.readFileSync(logf, 'utf8'), /ADD container=secown3-/);
  } finally {
    world.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a newline in CNI_ARGS cannot forge a log line: the message is logged escaped, on one line', () => {
  const world = new World('secnl');
  const dir = tmp('nl');
  try {
    const pod = world.pod('pod');
    const logf = path.join(dir, 'tsbridge.log');
    const forged = '2001-01-01T00:00:00.000Z tsbridge[1] error: FORGED';
    const env = { TSBRIDGE_LOG_FILE: logf, TSBRIDGE_LOG_LEVEL: 'debug' };
    const r = cni(world.node, {
      command: 'ADD',
      conf: conf(world),
      containerId: `secnl-${RUN_ID}`,
      netns: pod.path,
      args: `BOGUS\n${forged}\x1b[2J=1`,
      env,
    });
    assert.is(r.json?.code, 4, `ADD: ${r.stdout}`);
    const text = fs.readFileSync(logf, 'utf8');
    // positive control: the hostile text did reach the log (escaped), so its absence as a line means something
    assert.ok(text.includes(`BOGUS\\x0a${forged}\\x1b[2J`), text);
    assert.ok(r.stderr.includes(`BOGUS\\x0a${forged}`), r.stderr);
    for (const out of [text, r.stderr]) {
      assert.not.ok(
        out.split('\n').some((l) => l.startsWith('2001-01-01')),
        `a forged line:\n${out}`,
      );
      assert.not.ok(out.includes('\x1b'), 'a raw escape sequence');
    }
  } finally {
    world.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
