// A hostile working directory or environment changes nothing: the binary is built with every
// autoload a `bun build --compile` flag controls turned off (.env, bunfig.toml, tsconfig.json,
// package.json), and it runs itself again without any NODE_* / BUN_* variable. Each planted file
// has a positive control: plain bun, started in the same directory, does pick it up.
// (BUN_OPTIONS and BUN_BE_BUN act before our first line; docs/build.md says so.)
// BUN_BYTECODE_ORDER_OUT (a --bytecode executable writes its profile there at exit) is scrubbed
// too: only the recording build keeps it (build/record-bytecode-order.mjs).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, bridgeConf, cniEnv, cniOk, World, withPrev } from '../helpers/netns';
import { ROOT } from '../helpers/paths';

const BUN = path.join(ROOT, 'node_modules', 'bun', 'bin', 'bun.exe');

interface Planted {
  dir: string;
  marker: string;
  evil: string;
}

/** A fresh working directory with a script that leaves a marker file when anything runs it. */
function plantDir(tag: string): Planted {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-cwd-${tag}-`));
  const marker = path.join(dir, 'RAN');
  const evil = path.join(dir, 'evil.js');
  fs.writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'pwned'); module.exports = 'evil';\n`);
  return { dir, marker, evil };
}

const delConf = (world: World): string =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'cwdtest',
    type: 'tsbridge',
    bridge: 'tsbcwd0',
    ipam: { type: 'host-local', dataDir: world.dataDir, subnet: '10.203.0.0/24' },
  });

/** A DEL (it loads the plugin modules and the addon, opens netlink) run from `cwd`, as a runtime would. */
function del(world: World, cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync('ip', ['netns', 'exec', world.node, BIN], {
    cwd,
    input: delConf(world),
    encoding: 'utf8',
    timeout: 30_000,
    env: cniEnv({ command: 'DEL', conf: {}, containerId: 'cwd1', ...{ env } }),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Plain bun in `cwd` (the positive control): what does it print? */
function plainBun(cwd: string, code: string): string {
  const r = spawnSync(BUN, ['-e', code], {
    cwd,
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '' },
  });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('a .env (and .env.local, .env.production) in the working directory is not loaded', () => {
  const p = plantDir('env');
  const world = new World('cwdenv');
  try {
    const log = path.join(p.dir, 'log');
    for (const f of ['.env', '.env.local', '.env.production']) {
      fs.writeFileSync(path.join(p.dir, f), `TSBRIDGE_LOG_LEVEL=debug\nTSBRIDGE_LOG_FILE=${log}\n`);
    }
    assert.is(plainBun(p.dir, 'console.log(process.env.TSBRIDGE_LOG_LEVEL)'), 'debug', 'control: plain bun loads .env');
    // the detector works: with the variable really set, the debug line is there
    const loud = del(world, p.dir, { TSBRIDGE_LOG_LEVEL: 'debug' });
    assert.is(loud.status, 0, loud.stdout + loud.stderr);
    assert.match(loud.stderr, /debug: DEL container=cwd1/);
    const r = del(world, p.dir);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.not.match(r.stderr, /debug/);
    assert.not.ok(fs.existsSync(log), 'TSBRIDGE_LOG_FILE from .env was used');
  } finally {
    world.cleanup();
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});

test('a bunfig.toml with a preload in the working directory runs nothing', () => {
  const p = plantDir('bunfig');
  const world = new World('cwdbunfig');
  try {
    fs.writeFileSync(path.join(p.dir, 'bunfig.toml'), `preload = [${JSON.stringify(p.evil)}]\n`);
    plainBun(p.dir, '0');
    assert.ok(fs.existsSync(p.marker), 'control: plain bun runs the preload');
    fs.rmSync(p.marker);
    const r = del(world, p.dir);
    assert.is(r.status, 0, r.stdout + r.stderr);
    const v = spawnSync(BIN, [], {
      cwd: p.dir,
      input: '{"cniVersion":"1.0.0"}',
      env: { CNI_COMMAND: 'VERSION' },
      encoding: 'utf8',
    });
    assert.is(v.status, 0, v.stderr);
    assert.not.ok(fs.existsSync(p.marker), 'bunfig.toml preload ran inside tsbridge');
  } finally {
    world.cleanup();
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});

test('a tsconfig.json or package.json in the working directory redirects no module', () => {
  const p = plantDir('tsconfig');
  const world = new World('cwdts');
  try {
    // every bare module name (tsconfig paths) and every #import (package.json) points at evil.js
    fs.writeFileSync(
      path.join(p.dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { baseUrl: '.', paths: { '*': ['./evil.js'] } } }),
    );
    fs.writeFileSync(
      path.join(p.dir, 'package.json'),
      JSON.stringify({ name: 'x', type: 'commonjs', imports: { '#x': './evil.js' }, main: './evil.js' }),
    );
    assert.is(
      plainBun(p.dir, 'console.log(require("anything-at-all"))'),
      'evil',
      'control: plain bun follows tsconfig paths',
    );
    fs.rmSync(p.marker);
    assert.is(plainBun(p.dir, 'console.log(require("#x"))'), 'evil', 'control: plain bun follows package.json imports');
    fs.rmSync(p.marker);
    const clean = plantDir('clean');
    try {
      const want = del(world, clean.dir);
      const r = del(world, p.dir);
      assert.is(r.status, 0, r.stdout + r.stderr);
      assert.is(r.stdout, want.stdout);
      assert.not.ok(fs.existsSync(p.marker), 'a planted module ran inside tsbridge');
    } finally {
      fs.rmSync(clean.dir, { recursive: true, force: true });
    }
  } finally {
    world.cleanup();
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});

test('NODE_* and BUN_* variables are gone before the work starts: a delegated IPAM plugin sees none', () => {
  const p = plantDir('scrub');
  const world = new World('scrub');
  try {
    // an "IPAM plugin" that records its environment and fails, so the ADD stops there
    const dump = path.join(p.dir, 'env.txt');
    fs.writeFileSync(
      path.join(p.dir, 'envdump'),
      `#!/bin/sh\nenv > ${dump}\necho '{"cniVersion":"1.0.0","code":11,"msg":"envdump"}'\nexit 1\n`,
      { mode: 0o755 },
    );
    const pod = world.pod('p');
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'scrub',
      type: 'tsbridge',
      bridge: 'tsbscrub0',
      ipam: { type: 'envdump' },
    });
    const r = spawnSync('ip', ['netns', 'exec', world.node, BIN], {
      input: conf,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        ...cniEnv({ command: 'ADD', conf: {}, containerId: 'scrub1', netns: pod.path }),
        CNI_PATH: p.dir,
        BUN_CONFIG_VERBOSE_FETCH: 'curl',
        BUN_GARBAGE_COLLECTOR_LEVEL: '2',
        NODE_TLS_REJECT_UNAUTHORIZED: '0',
        NODE_EXTRA_CA_CERTS: path.join(p.dir, 'ca.pem'),
        NODE_OPTIONS: `--require=${p.evil}`,
        KEEP_ME: 'yes',
      },
    });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /envdump/);
    const seen = fs.readFileSync(dump, 'utf8');
    assert.match(seen, /^KEEP_ME=yes$/m, 'the dump holds the environment');
    assert.match(seen, /^CNI_COMMAND=ADD$/m);
    assert.not.match(seen, /^(NODE|BUN)_/m);
    assert.not.ok(fs.existsSync(p.marker));
  } finally {
    world.cleanup();
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});

test('BUN_BYTECODE_ORDER_OUT: the binary neither writes, truncates nor creates the file it names', () => {
  const p = plantDir('order');
  const world = new World('order');
  try {
    // control: a --bytecode executable of this bun writes its profile there at exit, over a
    // planted file as well as to a new path
    const src = path.join(p.dir, 'tiny.js');
    fs.writeFileSync(src, 'function used() { return 1; }\nconsole.log(used());\n');
    const tiny = path.join(p.dir, 'tiny');
    const b = spawnSync(BUN, ['build', src, '--compile', '--bytecode', '--outfile', tiny], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.is(b.status, 0, b.stderr);
    const controlOld = path.join(p.dir, 'control-old.order');
    const controlNew = path.join(p.dir, 'control-new.order');
    fs.writeFileSync(controlOld, 'precious\n');
    for (const out of [controlOld, controlNew]) {
      const r = spawnSync(tiny, [], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', BUN_BYTECODE_ORDER_OUT: out } });
      assert.is(r.status, 0, r.stderr);
      assert.match(fs.readFileSync(out, 'utf8'), /^v\d+\n/, `control: ${out} holds a bytecode order`);
    }
    fs.rmSync(tiny);

    const planted = path.join(p.dir, 'planted.order');
    const absent = path.join(p.dir, 'absent.order');
    fs.writeFileSync(planted, 'precious\n');
    const before = fs.statSync(planted);
    const conf = bridgeConf(world, { name: 'ordernet', bridge: 'tsbord0', ranges: [[{ subnet: '10.204.0.0/24' }]] });
    const pod = world.pod('p');
    for (const out of [planted, absent]) {
      const env = { BUN_BYTECODE_ORDER_OUT: out };
      const call = { conf, containerId: 'order1', netns: pod.path, env };
      const add = cniOk(world.node, { ...call, command: 'ADD' });
      cniOk(world.node, { ...call, command: 'CHECK', conf: withPrev(conf, add.json) });
      cniOk(world.node, { ...call, command: 'DEL', conf: withPrev(conf, add.json) });
      cniOk(world.node, { ...call, command: 'VERSION' });
    }
    assert.is(fs.readFileSync(planted, 'utf8').slice(0, 40), 'precious\n', 'the planted file was written');
    const after = fs.statSync(planted);
    assert.is(after.mtimeMs, before.mtimeMs, 'the planted file was truncated or rewritten');
    assert.is(after.ino, before.ino, 'the planted file was replaced');
    assert.not.ok(fs.existsSync(absent), 'BUN_BYTECODE_ORDER_OUT created its file');
  } finally {
    world.cleanup();
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});

test.run();
