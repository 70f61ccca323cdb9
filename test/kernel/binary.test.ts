// The single executable: runs alone, ignores NODE_* from its environment, and loads its native
// pieces only from a verified, root-owned cache.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, World } from '../helpers/netns';

const ROOT = path.resolve(__dirname, '../../../..');
const sha = (f: string): string => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const NATIVE = {
  tsb_sys: path.join(ROOT, 'build', 'native', 'tsb_sys.node'),
};

const IP = spawnSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8' }).stdout.trim();

function run(bin: string, env: Record<string, string>, input = '', ns?: string) {
  const argv = ns ? [IP, ['netns', 'exec', ns, bin]] as const : [bin, []] as const;
  const r = spawnSync(argv[0], [...argv[1]], { env, input, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

const tmp = (tag: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-${tag}-`));

/** A DEL that must load the native addon (it opens rtnetlink sockets) but needs no container. */
function delConf(dataDir: string): string {
  return JSON.stringify({ cniVersion: '1.0.0', name: 'bintest', type: 'tsbridge', bridge: 'tsbbin0',
    ipam: { type: 'host-local', dataDir, subnet: '10.201.0.0/24' } });
}

test('VERSION answers without stdin config, in the input version', () => {
  const r = run(BIN, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  assert.is(r.status, 0);
  assert.equal(r.json, { cniVersion: '1.0.0', supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
});

test('malformed config is code 6 and missing CNI_CONTAINERID on ADD is code 4, on stdout, exit non-zero', () => {
  const bad = run(BIN, { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' }, '{"cniVersion":');
  assert.is(bad.status, 1);
  assert.is(bad.json.code, 6);
  const noId = run(BIN, { CNI_COMMAND: 'ADD', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' }, '{"cniVersion":"1.0.0","name":"n","type":"tsbridge"}');
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
    const del = run(bin, { ...env, CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'alone1', CNI_IFNAME: 'eth0' }, delConf(world.dataDir), world.node);
    assert.is(del.status, 0, del.stdout + del.stderr);
  } finally {
    world.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test('NODE_OPTIONS and other NODE_* variables change nothing', () => {
  const dir = tmp('evil');
  try {
    const marker = path.join(dir, 'ran');
    const evil = path.join(dir, 'evil.js');
    fs.writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'pwned')`);
    const cov = path.join(dir, 'cov');
    fs.mkdirSync(cov);
    const r = run(BIN, {
      CNI_COMMAND: 'VERSION',
      NODE_OPTIONS: `--require=${evil}`,
      NODE_V8_COVERAGE: cov,
      NODE_REDIRECT_WARNINGS: path.join(dir, 'warnings'),
      NODE_DEBUG: 'fs,child_process',
    }, '{"cniVersion":"0.4.0"}');
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
    const env = { PATH: process.env.PATH ?? '', TSBRIDGE_CACHE_DIR: cache, CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'nc1', CNI_IFNAME: 'eth0' };
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
