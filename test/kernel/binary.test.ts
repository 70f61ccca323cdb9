// The single executable: runs alone, ignores NODE_* from its environment, and loads its native
// pieces only from a verified, root-owned cache.
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, World } from '../helpers/netns';
import { ROOT } from '../helpers/paths';

const sha = (f: string): string => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const NATIVE = {
  tsb_sys: path.join(ROOT, 'build', 'native', 'tsb_sys.node'),
};

const IP = spawnSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8' }).stdout.trim();

function run(bin: string, env: Record<string, string>, input = '', ns?: string) {
  const argv = ns ? ([IP, ['netns', 'exec', ns, bin]] as const) : ([bin, []] as const);
  const r = spawnSync(argv[0], [...argv[1]], { env, input, encoding: 'utf8', timeout: 30_000 });
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined,
  };
}

const tmp = (tag: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-${tag}-`));

/** A DEL that must load the native addon (it opens rtnetlink sockets) but needs no container. */
function delConf(dataDir: string): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'bintest',
    type: 'tsbridge',
    bridge: 'tsbbin0',
    ipam: { type: 'host-local', dataDir, subnet: '10.201.0.0/24' },
  });
}

test('VERSION answers without stdin config, in the input version', () => {
  const r = run(BIN, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  assert.is(r.status, 0);
  assert.equal(r.json, {
    cniVersion: '1.0.0',
    supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
});

test('malformed config is code 6 and missing CNI_CONTAINERID on ADD is code 4, on stdout, exit non-zero', () => {
  const bad = run(
    BIN,
    { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' },
    '{"cniVersion":',
  );
  assert.is(bad.status, 1);
  assert.is(bad.json.code, 6);
  const noId = run(
    BIN,
    { CNI_COMMAND: 'ADD', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' },
    '{"cniVersion":"1.0.0","name":"n","type":"tsbridge"}',
  );
  assert.is(noId.status, 1);
  assert.equal(noId.json, { cniVersion: '1.0.0', code: 4, msg: 'required env variables [CNI_CONTAINERID] missing' });
});

test('runs copied alone into an empty directory, with no node on PATH and no node_modules', () => {
  const dir = tmp('alone');
  const cache = tmp('cache');
  const world = new World('alone');
  try {
    const bin = path.join(dir, 'tsbridge');
    fs.copyFileSync(BIN, bin);
    fs.chmodSync(bin, 0o755);
    fs.chmodSync(cache, 0o700);
    const env = { PATH: '/nonexistent', TSBRIDGE_CACHE_DIR: path.join(cache, 'native') };
    assert.is(run(bin, { ...env, CNI_COMMAND: 'VERSION' }).status, 0);
    const del = run(
      bin,
      { ...env, CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'alone1', CNI_IFNAME: 'eth0' },
      delConf(world.dataDir),
      world.node,
    );
    assert.is(del.status, 0, del.stdout + del.stderr);
  } finally {
    world.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

const nap = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything written into a FIFO until its last writer is gone, read without blocking from `fd`. */
function drain(fd: number, into: Buffer[]): boolean {
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(fd, buf);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return false;
      throw e;
    }
    if (n === 0) return true; // EOF: every writer closed
    into.push(Buffer.from(buf.subarray(0, n)));
  }
}

test(
  'output larger than a full non-blocking pipe reaches a ' + 'late reader whole: stdout, stderr and the log file',
  async () => {
    // The plugin writes synchronously and exits at once (sys/write.ts): a pipe that is full and
    // non-blocking (EAGAIN) must be waited on, never cut short. 100 kB of error message on each of
    // stdout and stderr, the reader starting only after half a second.
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-pipe-'));
    try {
      const fifos = ['out', 'err'].map((n) => path.join(d, n));
      for (const f of fifos) spawnSync('mkfifo', [f]);
      const rd = fifos.map((f) => fs.openSync(f, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
      const wr = fifos.map((f) => fs.openSync(f, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      const logFile = path.join(d, 'tsbridge.log');
      const bridge = 'b'.repeat(100_000);
      const conf = JSON.stringify({
        cniVersion: '1.0.0',
        name: 'pipetest',
        type: 'tsbridge',
        bridge,
        logLevel: 'debug',
        logFile,
        ipam: { type: 'host-local', dataDir: d, subnet: '10.203.1.0/24' },
      });
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'pipe1',
        CNI_NETNS: '/proc/self/ns/net',
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/usr/lib/cni',
      };
      const child = spawn(BIN, [], { env, stdio: ['pipe', wr[0], wr[1]] });
      for (const fd of wr) fs.closeSync(fd);
      child.stdin!.end(conf);
      let code: number | null | undefined;
      child.on('exit', (c) => {
        code = c;
      });
      await nap(500);
      const got: Buffer[][] = [[], []];
      const eof = [false, false];
      for (let i = 0; i < 6000 && !(eof[0] && eof[1]); i++) {
        for (const k of [0, 1]) if (!eof[k]) eof[k] = drain(rd[k], got[k]);
        await nap(5);
      }
      for (const fd of rd) fs.closeSync(fd);
      assert.ok(eof[0] && eof[1], 'the plugin exited and closed both pipes');
      for (let i = 0; i < 200 && code === undefined; i++) await nap(10);
      assert.is(code, 1);
      const out = Buffer.concat(got[0]).toString();
      const err = Buffer.concat(got[1]).toString();
      assert.ok(
        out.length > 100_000 && err.length > 100_000,
        `both beyond a pipe's 64 kB (stdout ${out.length}, stderr ${err.length})`,
      );
      const reply = JSON.parse(out);
      assert.is(reply.code, 7);
      assert.ok(reply.msg.includes(bridge), 'the whole message');
      const errLine = err.split('\n').find((l) => l.includes(' error: '));
      assert.ok(errLine?.includes(bridge), 'the whole error line on stderr');
      assert.ok(err.endsWith('\n'), 'stderr ends with a complete line');
      assert.ok(fs.readFileSync(logFile, 'utf8').split('\n').includes(errLine!), 'the same line in the log file');
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  },
);

test('NODE_OPTIONS and other NODE_* variables change nothing', () => {
  const dir = tmp('evil');
  try {
    const marker = path.join(dir, 'ran');
    const evil = path.join(dir, 'evil.js');
    fs.writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'pwned')`);
    const cov = path.join(dir, 'cov');
    fs.mkdirSync(cov);
    const r = run(
      BIN,
      {
        CNI_COMMAND: 'VERSION',
        NODE_OPTIONS: `--require=${evil}`,
        NODE_V8_COVERAGE: cov,
        NODE_REDIRECT_WARNINGS: path.join(dir, 'warnings'),
        NODE_DEBUG: 'fs,child_process',
      },
      '{"cniVersion":"0.4.0"}',
    );
    assert.is(r.status, 0, r.stderr);
    assert.is(r.json.cniVersion, '0.4.0');
    assert.not.ok(fs.existsSync(marker), 'NODE_OPTIONS --require ran');
    assert.equal(fs.readdirSync(cov), [], 'NODE_V8_COVERAGE wrote coverage');
    assert.not.ok(fs.existsSync(path.join(dir, 'warnings')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('native cache: 0700 dir, files named by content hash, planted symlink and bad file refused', () => {
  const base = tmp('natcache');
  const world = new World('natcache');
  try {
    fs.chmodSync(base, 0o700);
    const cache = path.join(base, 'native');
    const env = {
      PATH: process.env.PATH ?? '',
      TSBRIDGE_CACHE_DIR: cache,
      CNI_COMMAND: 'DEL',
      CNI_CONTAINERID: 'nc1',
      CNI_IFNAME: 'eth0',
    };
    assert.is(run(BIN, env, delConf(world.dataDir), world.node).status, 0);
    const st = fs.statSync(cache);
    assert.is(st.mode & 0o777, 0o700);
    assert.is(st.uid, 0);
    const names = fs.readdirSync(cache);
    assert.equal(names, [`tsb_sys-${sha(NATIVE.tsb_sys).slice(0, 32)}.node`]);
    const file = path.join(cache, names[0]);

    // a planted symlink to a decoy: never followed or loaded, replaced by our own file
    const decoy = path.join(base, 'decoy.node');
    fs.writeFileSync(decoy, 'not a shared object');
    fs.rmSync(file);
    fs.symlinkSync(decoy, file);
    const r1 = run(BIN, env, delConf(world.dataDir), world.node);
    assert.is(r1.status, 0, r1.stdout + r1.stderr);
    assert.is(fs.readFileSync(decoy, 'utf8'), 'not a shared object', 'symlink target was written through');
    assert.not.ok(fs.lstatSync(file).isSymbolicLink());
    assert.is(sha(file), sha(NATIVE.tsb_sys));

    // a file with foreign content under the right name: refused and rewritten
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, 'garbage');
    const r2 = run(BIN, env, delConf(world.dataDir), world.node);
    assert.is(r2.status, 0, r2.stdout + r2.stderr);
    assert.is(sha(file), sha(NATIVE.tsb_sys));
  } finally {
    world.cleanup();
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('native cache: a world-writable or symlinked cache directory is refused with an error JSON', () => {
  const base = tmp('natbad');
  const world = new World('natbad');
  try {
    fs.chmodSync(base, 0o700);
    const open = path.join(base, 'open');
    fs.mkdirSync(open, { mode: 0o777 });
    fs.chmodSync(open, 0o777);
    const env = { PATH: process.env.PATH ?? '', CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'nc2', CNI_IFNAME: 'eth0' };
    const r1 = run(BIN, { ...env, TSBRIDGE_CACHE_DIR: open }, delConf(world.dataDir), world.node);
    assert.is.not(r1.status, 0);
    assert.match(r1.json.msg, /too open/);
    assert.equal(fs.readdirSync(open), []);

    const real = path.join(base, 'real');
    fs.mkdirSync(real, { mode: 0o700 });
    const link = path.join(base, 'link');
    fs.symlinkSync(real, link);
    const r2 = run(BIN, { ...env, TSBRIDGE_CACHE_DIR: link }, delConf(world.dataDir), world.node);
    assert.is.not(r2.status, 0);
    assert.match(r2.json.msg, /not a directory/);
    assert.equal(fs.readdirSync(real), []);
  } finally {
    world.cleanup();
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test.run();
