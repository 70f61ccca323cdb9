// Installer, keeper and uninstall against temporary directories (no root, no built binary: a small
// file stands in for it; the real binary under exec load is in test/kernel/k8s-install.test.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTmpDir } from '../helpers/tmp';
import { sweepTemps, writeFileAtomic } from '../../src/sys/atomic';
import { renderConflist } from '../../src/k8s/conflist';
import { BINARY_MARKER, fileContains, Installer, Logger, purgeIpam, uninstall } from '../../src/k8s/install';
import { keepInstalled } from '../../src/k8s/keeper';
import { runK8s } from '../../src/k8s/cli';

interface Env {
  root: string;
  source: string;
  binPath: string;
  confPath: string;
  conflist: string;
}

function env(root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-k8sinst-'))): Env {
  const source = path.join(root, 'src-tsbridge');
  fs.writeFileSync(source, `#!/bin/sh\n# ${BINARY_MARKER}\necho v1\n`, { mode: 0o700 });
  return {
    root,
    source,
    binPath: path.join(root, 'opt/cni/bin/tsbridge'),
    confPath: path.join(root, 'etc/cni/net.d/10-tsbridge.conflist'),
    conflist: renderConflist({ network: 'tsbridge', bridge: 'cni0', podCidrs: ['10.244.1.0/24'], ipMasq: false }),
  };
}

/** fn with a fresh env(), its files removed afterwards. */
function withEnv(fn: (e: Env) => void): void {
  withTmpDir('tsbt-k8sinst-', (root) => fn(env(root)));
}

const quiet = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`warn: ${m}`) };
};
const mode = (p: string): number => fs.statSync(p).mode & 0o7777;
const until = async (what: string, ok: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

test('install creates the directories, copies the binary 0755 and writes the conflist 0644; nothing temp left', () => {
  withEnv((e) => {
    const r = new Installer(e).ensure();
    assert.equal(r, { binary: 'written', conflist: 'written' });
    assert.equal(fs.readFileSync(e.binPath), fs.readFileSync(e.source));
    assert.is(mode(e.binPath), 0o755);
    assert.is(fs.readFileSync(e.confPath, 'utf8'), e.conflist);
    assert.is(mode(e.confPath), 0o644);
    assert.equal(fs.readdirSync(path.dirname(e.binPath)), ['tsbridge']);
    assert.equal(fs.readdirSync(path.dirname(e.confPath)), ['10-tsbridge.conflist']);
  });
});

test('identical files are not rewritten (same inode, same mtime), by a fresh installer too', () => {
  withEnv((e) => {
    new Installer(e).ensure();
    const before = [fs.statSync(e.binPath), fs.statSync(e.confPath)].map((s) => `${s.ino}:${s.mtimeMs}`);
    assert.equal(new Installer(e).ensure(), { binary: 'unchanged', conflist: 'unchanged' });
    const inst = new Installer(e);
    inst.ensure();
    assert.equal(inst.ensure(), { binary: 'unchanged', conflist: 'unchanged' });
    assert.equal(
      [fs.statSync(e.binPath), fs.statSync(e.confPath)].map((s) => `${s.ino}:${s.mtimeMs}`),
      before,
    );
  });
});

test('changed content, a new version, or a wrong mode is rewritten by atomic rename (new inode)', () => {
  withEnv((e) => {
    const inst = new Installer(e);
    inst.ensure();
    const ino = fs.statSync(e.binPath).ino;
    fs.appendFileSync(e.binPath, '# tampered\n');
    fs.writeFileSync(e.confPath, '{"name":"tsbridge","plugins":[]}');
    assert.equal(inst.ensure(), { binary: 'written', conflist: 'written' });
    assert.not.equal(fs.statSync(e.binPath).ino, ino);
    assert.equal(fs.readFileSync(e.binPath), fs.readFileSync(e.source));
    fs.chmodSync(e.confPath, 0o666);
    assert.equal(inst.ensure(), { binary: 'unchanged', conflist: 'written' });
    assert.is(mode(e.confPath), 0o644);
    // a new pod with a new binary and another pod CIDR
    fs.writeFileSync(e.source, `#!/bin/sh\n# ${BINARY_MARKER}\necho v2\n`);
    const conflist = renderConflist({
      network: 'tsbridge',
      bridge: 'cni0',
      podCidrs: ['10.244.9.0/24'],
      ipMasq: false,
    });
    assert.equal(new Installer({ ...e, conflist }).ensure(), { binary: 'written', conflist: 'written' });
    assert.match(fs.readFileSync(e.binPath, 'utf8'), /echo v2/);
    assert.match(fs.readFileSync(e.confPath, 'utf8'), /10\.244\.9\.0\/24/);
  });
});

test('installing from the installed path itself is a no-op (the image may run the host copy)', () => {
  withEnv((e) => {
    new Installer(e).ensure();
    assert.equal(new Installer({ ...e, source: e.binPath }).ensure(), { binary: 'unchanged', conflist: 'unchanged' });
  });
});

test('stale temp files of a killed writer are swept, fresh ones (a live writer) kept; others never', () => {
  withEnv((e) => {
    const dir = path.dirname(e.confPath);
    fs.mkdirSync(dir, { recursive: true });
    const old = path.join(dir, '.10-tsbridge.conflist.0badc0de.tmp');
    const fresh = path.join(dir, '.10-tsbridge.conflist.12345678.tmp');
    const foreign = path.join(dir, '.other.conflist.0badc0de.tmp');
    for (const f of [old, fresh, foreign]) fs.writeFileSync(f, 'x');
    const past = new Date(Date.now() - 3600_000);
    fs.utimesSync(old, past, past);
    fs.utimesSync(foreign, past, past);
    assert.equal(sweepTemps(dir, '10-tsbridge.conflist', 600_000), ['.10-tsbridge.conflist.0badc0de.tmp']);
    assert.ok(fs.existsSync(fresh) && fs.existsSync(foreign));
    writeFileAtomic(e.confPath, 'abc', 0o644);
    assert.is(fs.readFileSync(e.confPath, 'utf8'), 'abc');
  });
});

test('keeper restores the conflist and the binary after deletion or change, and stops on abort', async () => {
  const e = env();
  const log = quiet();
  const ac = new AbortController();
  try {
    const inst = new Installer(e);
    inst.ensure();
    const running = keepInstalled(inst, 60_000, log, ac.signal); // long poll: inotify must do it
    fs.rmSync(e.confPath);
    await until('conflist restored', () => fs.existsSync(e.confPath));
    assert.is(fs.readFileSync(e.confPath, 'utf8'), e.conflist);
    fs.writeFileSync(e.confPath, '{}');
    await until('conflist content restored', () => fs.readFileSync(e.confPath, 'utf8') === e.conflist);
    fs.rmSync(e.binPath);
    await until('binary restored', () => fs.existsSync(e.binPath));
    assert.equal(fs.readFileSync(e.binPath), fs.readFileSync(e.source));
    assert.ok(
      log.lines.some((l) => /restored .*10-tsbridge\.conflist/.test(l)),
      log.lines.join('\n'),
    );
    ac.abort();
    await running;
    fs.rmSync(e.confPath);
    await new Promise((r) => setTimeout(r, 400));
    assert.not.ok(fs.existsSync(e.confPath), 'nothing restores after stop');
  } finally {
    ac.abort();
    fs.rmSync(e.root, { recursive: true, force: true });
  }
});

test('keeper: the whole conf directory removed is re-created by the periodic check', async () => {
  const e = env();
  const ac = new AbortController();
  try {
    const inst = new Installer(e);
    inst.ensure();
    const running = keepInstalled(inst, 150, quiet(), ac.signal);
    fs.rmSync(path.dirname(e.confPath), { recursive: true });
    await until('conf dir and conflist back', () => fs.existsSync(e.confPath));
    fs.rmSync(e.confPath);
    await until('conflist back again', () => fs.existsSync(e.confPath));
    ac.abort();
    await running;
  } finally {
    ac.abort();
    fs.rmSync(e.root, { recursive: true, force: true });
  }
});

test('uninstall removes ours (config first), keeps foreign files unless forced, tolerates absence', () => {
  withEnv((e) => {
    new Installer(e).ensure();
    assert.equal(uninstall({ ...e, network: 'tsbridge', source: e.source }), {
      conflist: 'removed',
      binary: 'removed',
    });
    assert.not.ok(fs.existsSync(e.binPath) || fs.existsSync(e.confPath));
    assert.equal(uninstall({ ...e, network: 'tsbridge', source: e.source }), { conflist: 'absent', binary: 'absent' });
    // a tsbridge binary of another version: recognised by its marker
    new Installer(e).ensure();
    fs.writeFileSync(e.source, '#!/bin/sh\necho unrelated\n');
    assert.equal(uninstall({ ...e, network: 'tsbridge', source: e.source }).binary, 'removed');
    // someone else's files under our names
    fs.writeFileSync(e.binPath, '#!/bin/sh\necho not ours\n');
    fs.writeFileSync(
      e.confPath,
      JSON.stringify({ cniVersion: '1.0.0', name: 'tsbridge', plugins: [{ type: 'bridge' }] }),
    );
    assert.equal(uninstall({ ...e, network: 'tsbridge', source: e.source }), {
      conflist: 'kept (not ours)',
      binary: 'kept (not ours)',
    });
    assert.ok(fs.existsSync(e.binPath) && fs.existsSync(e.confPath));
    assert.equal(uninstall({ ...e, network: 'tsbridge', force: true }), { conflist: 'removed', binary: 'removed' });
  });
});

test('fileContains finds a marker across read-chunk boundaries', () => {
  withTmpDir('tsbt-k8smark-', (dir) => {
    const f = path.join(dir, 'big');
    const pad = Buffer.alloc((4 << 20) - 7, 0x61);
    fs.writeFileSync(f, Buffer.concat([pad, Buffer.from(BINARY_MARKER), Buffer.alloc(100)]));
    assert.ok(fileContains(f, BINARY_MARKER));
    fs.writeFileSync(f, Buffer.concat([pad, Buffer.from(BINARY_MARKER.slice(0, 10))]));
    assert.not.ok(fileContains(f, BINARY_MARKER));
  });
});

test('purge-ipam removes host-local files of the network only; unknown files keep the directory', () => {
  withTmpDir('tsbt-k8sipam-', (dir) => {
    const net = path.join(dir, 'tsbridge');
    fs.mkdirSync(net);
    for (const f of ['10.244.1.2', 'fd00::5', 'lock', 'last_reserved_ip.0', 'tsbridge-boot'])
      fs.writeFileSync(path.join(net, f), 'x');
    assert.equal(purgeIpam(dir, 'tsbridge'), { removed: 5, kept: [] });
    assert.not.ok(fs.existsSync(net));
    fs.mkdirSync(net);
    fs.writeFileSync(path.join(net, '10.244.1.3'), 'x');
    fs.writeFileSync(path.join(net, 'notes.txt'), 'x');
    assert.equal(purgeIpam(dir, 'tsbridge'), { removed: 1, kept: ['notes.txt'] });
    assert.equal(purgeIpam(dir, 'absent'), { removed: 0, kept: [] });
  });
});

test('purge-ipam: only canonical address names are reservations ("1", "0x1f", "010.1.1.1", "FD00::5" are not)', () => {
  withTmpDir('tsbt-k8sipam-', (dir) => {
    const net = path.join(dir, 'tsbridge');
    fs.mkdirSync(net);
    const foreign = [
      '1',
      '0x1f',
      '010.1.1.1',
      '10.1.1',
      'FD00::5',
      'fd00:0::6',
      '::ffff:10.1.1.1',
      'last_reserved_ip.x',
    ];
    for (const f of [...foreign, '10.1.1.1', 'fd00::5']) fs.writeFileSync(path.join(net, f), 'x');
    assert.equal(purgeIpam(dir, 'tsbridge'), { removed: 2, kept: foreign.slice().sort() });
    assert.equal(fs.readdirSync(net).sort(), foreign.slice().sort());
  });
});

test('purge-ipam and the commands refuse a --network that is empty, "..", or a path', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-k8sipam-'));
  try {
    const data = path.join(dir, 'data');
    fs.mkdirSync(path.join(data, 'net'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'lock'), 'x'); // what "--network .." would reach
    fs.writeFileSync(path.join(data, 'net', '10.1.1.1'), 'x'); // and "--network net/../net"
    const dirs = ['--cni-bin-dir', path.join(dir, 'bin'), '--cni-conf-dir', path.join(dir, 'conf')];
    const uninstallFlags = (net: string): string[] => ['--network', net, '--purge-ipam', '--data-dir', data, ...dirs];
    for (const bad of ['', '..', '.', '../data', 'net/../net', '/etc', '-x']) {
      assert.throws(() => purgeIpam(data, bad), /is not a network name/, JSON.stringify(bad));
      const status = await runK8s('uninstall', uninstallFlags(bad));
      assert.is(status, 2, JSON.stringify(bad));
    }
    assert.ok(fs.existsSync(path.join(dir, 'lock')));
    assert.ok(fs.existsSync(path.join(data, 'net', '10.1.1.1')));
    // positive control: the same command with a good name purges
    assert.is(await runK8s('uninstall', uninstallFlags('net')), 0);
    assert.not.ok(fs.existsSync(path.join(data, 'net')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
