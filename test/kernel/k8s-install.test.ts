// `tsbridge install` / `uninstall` through the built binary: atomic replacement of the installed
// binary while another process execs it in a loop, the pod CIDR read from a TLS API server, the
// long-running mode restoring deleted files and leaving them on SIGTERM, uninstall of ours only.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeApi, makeNode } from '../helpers/k8s-fake-api';
import { cniDirFlags } from '../helpers/k8s-agent';
import { BIN, exited, tsb, until } from '../helpers/netns';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-k8sbin-'));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('help lists the Kubernetes commands; bad flags are usage errors (exit 2)', () => {
  const h = tsb(['help']);
  assert.is(h.status, 0);
  assert.match(h.stdout, /tsbridge install/);
  assert.match(h.stdout, /tsbridge uninstall/);
  const bad = tsb(['install', '--pod-cidr=10.0.0.0/24', '--bogus']);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /unknown flag --bogus/);
  assert.is(tsb(['install', '--pod-cidr', '10.0.0.5/24']).status, 1);
  assert.match(tsb(['install']).stderr, /--node-name/);
});

test('the installed binary is replaced atomically while another process execs it in a loop', async () => {
  const d = tmp();
  let looper: ChildProcess | undefined;
  let holder: ChildProcess | undefined;
  try {
    // two different builds: the same program with different trailing bytes (ELF ignores them)
    const a = path.join(d, 'a');
    const b = path.join(d, 'b');
    fs.copyFileSync(BIN, a);
    fs.copyFileSync(BIN, b);
    fs.appendFileSync(b, Buffer.alloc(8192, 7));
    const installed = path.join(d, 'bin', 'tsbridge');
    assert.is(tsb(['install', '--binary', a, '--pod-cidr', '10.244.1.0/24', ...cniDirFlags(d)]).status, 0);
    assert.is(spawnSync(installed, ['--version'], { encoding: 'utf8' }).status, 0, 'a copy runs');
    fs.chmodSync(b, 0o755);
    assert.is(spawnSync(b, ['--version'], { encoding: 'utf8' }).status, 0, 'the padded build runs');

    // While the installed file is being executed, writing into it in place is refused with
    // ETXTBSY: this is what a non-atomic installer would run into (and what the loop would see).
    holder = spawn(
      installed,
      ['install', '--pod-cidr', '10.244.1.0/24', '--binary', installed, '--watch', ...cniDirFlags(path.join(d, 'h'))],
      { stdio: 'ignore' },
    );
    await sleep(300);
    assert.throws(() => fs.openSync(installed, 'r+'), /ETXTBSY/);

    const stop = path.join(d, 'stop');
    const code =
      `const { spawnSync } = require('child_process'); const fs = require('fs');
      let ok = 0, bad = []; const end = Date.now() + 120000;
      while (!fs.existsSync(process.argv[2]) && Date.now() < end) {
        const r = spawnSync(process.argv[1], ['--version'], { encoding: 'utf8' });
        if (r.status === 0 && /^tsbridge \\d/.test(r.stdout)) ok++;
        else bad.push(r.error ? r.error.code : 'status ' + r.status + ' ' + (r.signal || '') + ' ' + ` +
      `r.stderr.slice(0, 200));
      }
      console.log(JSON.stringify({ ok, bad }));`;
    looper = spawn(process.execPath, ['-e', code, installed, stop], { stdio: ['ignore', 'pipe', 'inherit'] });
    let report = '';
    looper.stdout!.on('data', (x: Buffer) => (report += x.toString()));
    await sleep(300);
    let writes = 0;
    for (let i = 0; i < 6; i++) {
      const r = tsb(['install', '--binary', i % 2 ? a : b, '--pod-cidr', '10.244.1.0/24', ...cniDirFlags(d)]);
      assert.is(r.status, 0, r.stderr);
      if (/tsbridge: written/.test(r.stdout)) writes++;
      await sleep(50);
    }
    fs.writeFileSync(stop, '');
    await exited(looper);
    const { ok, bad } = JSON.parse(report) as { ok: number; bad: string[] };
    assert.is(writes, 6, 'every install replaced the binary');
    assert.equal(bad, [], `failed execs: ${bad.join('; ')}`);
    assert.ok(ok >= 10, `the loop ran while installing (${ok} execs)`);
    assert.equal(fs.readFileSync(installed), fs.readFileSync(a));
    assert.equal(fs.readdirSync(path.join(d, 'bin')), ['tsbridge'], 'no temp file left');
    assert.is(holder.exitCode, null, 'the process running the old file kept running');
  } finally {
    looper?.kill('SIGKILL');
    holder?.kill('SIGKILL');
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('install reads the node pod CIDRs from the API (TLS, bearer token) and writes a dual-stack conflist', async () => {
  const api = new FakeApi(['127.0.0.1']);
  const d = tmp();
  try {
    await api.listen({ host: '127.0.0.1' });
    api.setNode(makeNode('worker-1', ['10.244.3.0/24', 'fd00:10:244:3::/64'], ['192.168.60.3']));
    const apiFlags = ['--api-server', api.url('127.0.0.1'), '--token-file', api.tokenFile, '--ca-file', api.caFile];
    // spawn, not spawnSync: the fake server lives in this process and must keep answering
    const child = spawn(BIN, ['install', ...apiFlags, ...cniDirFlags(d), '--mtu', '1450'], {
      env: { PATH: process.env.PATH ?? '', TSBRIDGE_NODE_NAME: 'worker-1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let errs = '';
    child.stderr!.on('data', (x: Buffer) => (errs += x.toString()));
    assert.is(await exited(child), 0, errs);
    const c = JSON.parse(fs.readFileSync(path.join(d, 'net.d', '10-tsbridge.conflist'), 'utf8'));
    assert.equal(c.plugins[0].ipam.ranges, [[{ subnet: '10.244.3.0/24' }], [{ subnet: 'fd00:10:244:3::/64' }]]);
    assert.is(c.plugins[0].mtu, 1450);
    assert.equal(c.plugins[0].capabilities, { portMappings: true }, 'hostPorts reach the plugin by default');
    assert.ok(api.requests.some((r) => r.url === '/api/v1/nodes/worker-1' && r.authorized));

    // the wrong CA: refused, nothing written
    const d2 = tmp();
    const bad = spawn(
      BIN,
      ['install', ...apiFlags.slice(0, 4), '--ca-file', api.otherCaFile, ...cniDirFlags(d2), '--wait', '1'],
      {
        env: { PATH: process.env.PATH ?? '', TSBRIDGE_NODE_NAME: 'worker-1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let badErr = '';
    bad.stderr!.on('data', (x: Buffer) => (badErr += x.toString()));
    assert.is(await exited(bad), 1);
    assert.match(badErr, /certificate/i);
    assert.not.ok(fs.existsSync(path.join(d2, 'net.d', '10-tsbridge.conflist')));
    fs.rmSync(d2, { recursive: true, force: true });
  } finally {
    await api.close();
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('install --watch restores deleted files, and on SIGTERM exits 0 leaving them in place', async () => {
  const d = tmp();
  const conf = path.join(d, 'net.d', '10-tsbridge.conflist');
  const bin = path.join(d, 'bin', 'tsbridge');
  const child = spawn(
    BIN,
    ['install', '--binary', BIN, '--pod-cidr', '10.244.4.0/24', '--watch', '--interval', '1', ...cniDirFlags(d)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (x: Buffer) => (output += x.toString()));
  child.stderr!.on('data', (x: Buffer) => (output += x.toString()));
  try {
    await until('first install', () => /running, keeping the files in place/.test(output), 20_000);
    const want = fs.readFileSync(conf, 'utf8');
    fs.rmSync(conf);
    await until('conflist restored', () => fs.existsSync(conf), 5000);
    assert.is(fs.readFileSync(conf, 'utf8'), want);
    fs.writeFileSync(conf, '{"edited": true}');
    await until('conflist content restored', () => fs.readFileSync(conf, 'utf8') === want, 5000);
    fs.rmSync(bin);
    await until('binary restored', () => fs.existsSync(bin) && fs.statSync(bin).size === fs.statSync(BIN).size, 10_000);
    assert.match(output, /restored .*10-tsbridge\.conflist/);
    child.kill('SIGTERM');
    assert.is(await exited(child), 0, output);
    assert.match(output, /stopped \(installed files left in place\)/);
    assert.ok(fs.existsSync(conf) && fs.existsSync(bin));
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('uninstall removes what install wrote and keeps files that are not ours (exit 1)', () => {
  const d = tmp();
  try {
    assert.is(tsb(['install', '--binary', BIN, '--pod-cidr', '10.244.5.0/24', ...cniDirFlags(d)]).status, 0);
    fs.writeFileSync(path.join(d, 'net.d', '05-other.conflist'), '{}');
    const u = tsb(['uninstall', ...cniDirFlags(d)]);
    assert.is(u.status, 0, u.stderr);
    assert.equal(fs.readdirSync(path.join(d, 'bin')), []);
    assert.equal(fs.readdirSync(path.join(d, 'net.d')), ['05-other.conflist']);
    fs.writeFileSync(path.join(d, 'bin', 'tsbridge'), '#!/bin/sh\n');
    const kept = tsb(['uninstall', ...cniDirFlags(d)]);
    assert.is(kept.status, 1);
    assert.match(kept.stdout, /tsbridge: kept \(not ours\)/);
    assert.is(tsb(['uninstall', '--force', ...cniDirFlags(d)]).status, 0);
    assert.equal(fs.readdirSync(path.join(d, 'bin')), []);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

const NOBODY = 65534;

test(
  'files with the right bytes but another owner are rewritten (root-owned again); a directory of another user is ' +
    'refused',
  () => {
    const d = tmp();
    try {
      const bin = path.join(d, 'bin', 'tsbridge');
      const conf = path.join(d, 'net.d', '10-tsbridge.conflist');
      const args = ['install', '--binary', BIN, '--pod-cidr', '10.244.6.0/24', ...cniDirFlags(d)];
      assert.is(tsb(args).status, 0);
      const unchanged = tsb(args);
      assert.match(
        unchanged.stdout,
        /tsbridge: unchanged; .*conflist: unchanged/,
        'positive control: our own files are left alone',
      );
      for (const f of [bin, conf]) fs.chownSync(f, NOBODY, NOBODY);
      const inodes = [bin, conf].map((f) => fs.statSync(f).ino);
      const r = tsb(args);
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stdout, /tsbridge: written; .*conflist: written/);
      for (const [i, f] of [bin, conf].entries()) {
        const st = fs.statSync(f);
        assert.is(st.uid, 0, f);
        assert.is.not(st.ino, inodes[i], `${f} replaced, not chowned in place`);
      }
      // a directory another user owns: they could swap the binary after us, so nothing is written there
      fs.chownSync(path.join(d, 'net.d'), NOBODY, NOBODY);
      fs.rmSync(conf);
      const refused = tsb(args);
      assert.is(refused.status, 1);
      assert.match(
        refused.stderr,
        /refusing to install into .*net\.d: .*net\.d is owned by uid 65534, not root; make it .*root-owned/,
      );
      assert.not.ok(fs.existsSync(conf));
      // ... also when it is a parent of the directory
      fs.chownSync(path.join(d, 'net.d'), 0, 0);
      fs.chownSync(d, NOBODY, NOBODY);
      assert.match(tsb(args).stderr, /is owned by uid 65534/);
      fs.chownSync(d, 0, 0);
      // our own directory, group/other-writable: fixed (0755), then used
      fs.chmodSync(path.join(d, 'net.d'), 0o777);
      assert.is(tsb(args).status, 0);
      assert.is(fs.statSync(path.join(d, 'net.d')).mode & 0o7777, 0o755);
      assert.ok(fs.existsSync(conf));
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  },
);

test.run();
