// The IPAM store under damage: truncated, corrupted, foreign and unreadable files where IP
// records live; a broken last_reserved_ip.0; a stale, linked or misplaced `lock`; the network
// directory replaced by a link or a file; a full disk and an exhausted inode table (a small tmpfs
// as dataDir). Each time: a CNI error JSON with a clear code and message (or a success that skips
// what it cannot use), never a crash or a hang, no partial allocation, the foreign entries and
// the valid allocation made before untouched (and still passing CHECK).
// Subnet 10.220.5.0/24 (range .2-.20), bridge tsbst0.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cniBounded, holdFlock, traces } from '../helpers/fuzz-state';
import { CniReply, RUN_ID, World, bridgeConf, cni, withPrev, inWorld, assertCniError } from '../helpers/netns';

const BRIDGE = 'tsbst0';
const NET = 'tsbt-st';
const RANGE = { subnet: '10.220.5.0/24', rangeStart: '10.220.5.2', rangeEnd: '10.220.5.20' };

interface Ctx {
  world: World;
  dataDir: string;
  dir: string; // <dataDir>/<NET>
  conf: Record<string, unknown>;
  valid: { cid: string; pod: { name: string; path: string }; result: any; file: string; body: string };
}

/** A world with one valid attachment (10.220.5.2) made before anything is damaged. */
function setup(tag: string, dataDir?: string): Ctx {
  const world = new World(tag);
  const dd = dataDir ?? world.dataDir;
  const conf = bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, ranges: [[RANGE]], ipam: { dataDir: dd } },
    { ipMasq: true, ipMasqBackend: 'iptables' },
  );
  const pod = world.pod('valid');
  const cid = `stv-${tag}-${RUN_ID}`;
  const r = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
  if (r.status !== 0) {
    world.cleanup();
    throw new Error(`valid ADD failed: ${r.stdout} ${r.stderr}`);
  }
  const dir = path.join(dd, NET);
  const file = path.join(dir, '10.220.5.2');
  return {
    world,
    dataDir: dd,
    dir,
    conf,
    valid: { cid, pod, result: r.json, file, body: fs.readFileSync(file, 'utf8') },
  };
}

/** The valid attachment kept its record byte for byte and still passes CHECK. */
function assertValidUntouched(c: Ctx): void {
  assert.is(fs.readFileSync(c.valid.file, 'utf8'), c.valid.body, 'the valid record changed');
  const chk = cni(c.world.node, {
    command: 'CHECK',
    conf: withPrev(c.conf, c.valid.result),
    containerId: c.valid.cid,
    netns: c.valid.pod.path,
  });
  assert.is(chk.status, 0, `CHECK of the valid attachment: ${chk.stdout}`);
}

/** Names in the network directory other than the given IPs and the usual lock/last_reserved_ip files. */
const listing = (c: Ctx): string[] => fs.readdirSync(c.dir).sort();

/** Snapshot of planted entries: type, mode and content, to prove nothing touched them. */
function snapshot(c: Ctx, names: string[]): string[] {
  return names.map((n) => {
    const p = path.join(c.dir, n);
    const st = fs.lstatSync(p);
    const kind = st.isSymbolicLink()
      ? `link->${fs.readlinkSync(p)}`
      : st.isFile()
        ? `file:${fs.readFileSync(p).toString('base64')}`
        : st.isDirectory()
          ? 'dir'
          : st.isFIFO()
            ? 'fifo'
            : 'other';
    return `${n} ${kind} ${(st.mode & 0o7777).toString(8)}`;
  });
}

function addX(c: Ctx, tag: string): { cid: string; pod: { name: string; path: string }; r: CniReply } {
  const pod = c.world.pod(tag);
  const cid = `stx-${tag}-${RUN_ID}`;
  return { cid, pod, r: cni(c.world.node, { command: 'ADD', conf: c.conf, containerId: cid, netns: pod.path }) };
}

function delOk(c: Ctx, cid: string, pod: { name: string; path: string }): void {
  const d = cni(c.world.node, { command: 'DEL', conf: c.conf, containerId: cid, netns: pod.path });
  assert.is(d.status, 0, `DEL ${cid}: ${d.stdout}`);
  assert.equal(traces(c.world, NET, cid, 'eth0', pod), [], `DEL ${cid} left traces`);
}

test('damaged and foreign files where IP records live: skipped, never handed out, never removed', () => {
  const c = setup('stip');
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-st-out-${RUN_ID}-`));
  try {
    const target = path.join(outside, 'target');
    fs.writeFileSync(target, 'do not touch');
    const planted: [string, () => void][] = [
      ['10.220.5.3', () => fs.writeFileSync(path.join(c.dir, '10.220.5.3'), '')], // truncated to nothing
      [
        '10.220.5.4',
        () => fs.writeFileSync(path.join(c.dir, '10.220.5.4'), Buffer.from([0xff, 0, 0x0d, 0x0a, 0x80, 0x7f])),
      ], // binary garbage
      // not our format
      ['10.220.5.5', () => fs.writeFileSync(path.join(c.dir, '10.220.5.5'), 'someone\r\neth0\r\nextra line')],
      ['10.220.5.6', () => fs.mkdirSync(path.join(c.dir, '10.220.5.6'))], // a directory
      ['10.220.5.7', () => fs.symlinkSync(target, path.join(c.dir, '10.220.5.7'))], // a link out of the store
      ['10.220.5.8', () => spawnSync('mkfifo', [path.join(c.dir, '10.220.5.8')])], // a FIFO (reading it must not block)
      ['10.220.5.9', () => fs.writeFileSync(path.join(c.dir, '10.220.5.9'), 'x'.repeat(200_000))], // far too large
      [
        '10.220.5.10',
        () => {
          fs.writeFileSync(path.join(c.dir, '10.220.5.10'), 'other\r\neth0');
          fs.chmodSync(path.join(c.dir, '10.220.5.10'), 0);
        },
      ], // mode 000
      ['010.220.5.11', () => fs.writeFileSync(path.join(c.dir, '010.220.5.11'), 'x\r\neth0')], // not a canonical name
      ['foo', () => fs.writeFileSync(path.join(c.dir, 'foo'), 'bar')],
    ];
    for (const [, plant] of planted) plant();
    const names = planted.map(([n]) => n);
    const before = snapshot(c, names);

    const x = addX(c, 'x');
    assert.is(x.r.status, 0, `ADD beside damaged files failed: ${x.r.stdout} ${x.r.stderr}`);
    // .3-.10 are taken by whatever is there; the non-canonical name does not hold .11
    assert.is(x.r.json.ips[0].address, '10.220.5.11/24');
    assert.ok(c.world.ping(x.pod.name, '10.220.5.1'));
    delOk(c, x.cid, x.pod);

    assert.equal(snapshot(c, names), before, 'ADD or DEL changed or removed a planted entry');

    // GC releases records of attachments not listed as valid -- 10.220.5.10 is one ("other"/eth0,
    // readable by root despite mode 000) -- and nothing that is not a record of ours.
    const gc = cni(c.world.node, {
      command: 'GC',
      conf: { ...c.conf, 'cni.dev/valid-attachments': [{ containerID: c.valid.cid, ifname: 'eth0' }] },
    });
    assert.is(gc.status, 0, `GC beside damaged files: ${gc.stdout}`);
    assert.not.ok(fs.existsSync(path.join(c.dir, '10.220.5.10')), 'GC kept a stale record');
    const kept = names.filter((n) => n !== '10.220.5.10');
    assert.equal(
      snapshot(c, kept),
      before.filter((b) => !b.startsWith('10.220.5.10 ')),
      'GC changed or removed a foreign entry',
    );
    assert.is(fs.readFileSync(target, 'utf8'), 'do not touch', 'written through the link');
    assertValidUntouched(c);
  } finally {
    c.world.cleanup();
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

const lastReservedCases: {
  name: string;
  plant: (file: string, outside: string) => void;
  expect: { ok: true; ip: string } | { ok: false; code: number; msg: string };
}[] = [
  { name: 'empty', plant: (f) => fs.writeFileSync(f, ''), expect: { ok: true, ip: '10.220.5.3' } },
  { name: 'garbage', plant: (f) => fs.writeFileSync(f, '\u0000zz\r\n'), expect: { ok: true, ip: '10.220.5.3' } },
  {
    name: 'an address outside the range',
    plant: (f) => fs.writeFileSync(f, '10.99.0.7'),
    expect: { ok: true, ip: '10.220.5.3' },
  },
  { name: 'an IPv6 address', plant: (f) => fs.writeFileSync(f, 'fd00::7'), expect: { ok: true, ip: '10.220.5.3' } },
  { name: 'the range end', plant: (f) => fs.writeFileSync(f, '10.220.5.20'), expect: { ok: true, ip: '10.220.5.3' } },
  {
    name: 'a huge file',
    plant: (f) => fs.writeFileSync(f, '1'.repeat(1 << 20)),
    expect: { ok: true, ip: '10.220.5.3' },
  },
  {
    name: 'mode 000',
    plant: (f) => {
      fs.writeFileSync(f, '10.220.5.9');
      fs.chmodSync(f, 0);
    },
    expect: { ok: true, ip: '10.220.5.10' },
  },
  {
    name: 'a symlink to a file outside',
    plant: (f, out) => {
      fs.writeFileSync(path.join(out, 't'), '10.220.5.9');
      fs.symlinkSync(path.join(out, 't'), f);
    },
    expect: { ok: true, ip: '10.220.5.3' },
  },
  { name: 'a directory', plant: (f) => fs.mkdirSync(f), expect: { ok: false, code: 5, msg: 'last_reserved_ip.0' } },
  {
    name: 'a FIFO',
    plant: (f) => {
      spawnSync('mkfifo', [f]);
    },
    expect: { ok: false, code: 5, msg: 'last_reserved_ip.0' },
  },
];

lastReservedCases.forEach((k, i) => {
  test(
    `last_reserved_ip.0 is ` +
      `${k.name}: ${k.expect.ok ? `ADD works (gets ${k.expect.ip})` : `code ${k.expect.code}, nothing reserved`}; no ` +
      `hang`,
    async () => {
      const c = setup(`stlr${i}`);
      try {
        const { file, outside } = replant(c, 'last_reserved_ip.0', k.plant);
        const pod = c.world.pod('x');
        const cid = `stlr-${i}-${RUN_ID}`;
        const r = await cniBounded(
          c.world.node,
          { command: 'ADD', conf: c.conf, containerId: cid, netns: pod.path },
          20_000,
        );
        assert.not.ok(r.timedOut, 'ADD hung (killed after 20 s)');
        if (k.expect.ok) {
          assert.is(r.status, 0, `ADD failed: ${r.stdout} ${r.stderr}`);
          assert.is(r.json.ips[0].address, `${k.expect.ip}/24`);
          const st = fs.lstatSync(file);
          assert.ok(st.isFile(), 'last_reserved_ip.0 is a regular file again');
          assert.is(fs.readFileSync(file, 'utf8'), k.expect.ip);
          if (k.name.includes('symlink'))
            assert.is(fs.readFileSync(path.join(outside, 't'), 'utf8'), '10.220.5.9', 'written through the link');
          delOk(c, cid, pod);
        } else {
          assertCniError(r, k.expect.code, k.expect.msg);
          assert.equal(traces(c.world, NET, cid, 'eth0', pod), [], 'the failed ADD left traces');
          assert.equal(c.world.reservations(NET), ['10.220.5.2'], 'partial allocation');
        }
        assertValidUntouched(c);
      } finally {
        c.world.cleanup();
      }
    },
  );
});

test('a stale lock: left by a killed holder, garbage inside, mode 000, foreign owner: ADD and DEL work', async () => {
  const c = setup('stlk');
  try {
    const lock = path.join(c.dir, 'lock');
    const h = await holdFlock(lock);
    h.release(); // the holder is SIGKILLed: the kernel drops its lock, the file stays
    fs.writeFileSync(lock, 'pid 99999 was here\n');
    fs.chmodSync(lock, 0);
    fs.chownSync(lock, 65534, 65534);
    const x = addX(c, 'x');
    assert.is(x.r.status, 0, `ADD with a stale lock: ${x.r.stdout}`);
    delOk(c, x.cid, x.pod);
    assertValidUntouched(c);
  } finally {
    c.world.cleanup();
  }
});

const lockCases: { name: string; plant: (lock: string, outside: string) => void }[] = [
  {
    name: 'a symlink to a file outside',
    plant: (l, out) => {
      fs.writeFileSync(path.join(out, 't'), 'x');
      fs.symlinkSync(path.join(out, 't'), l);
    },
  },
  { name: 'a dangling symlink', plant: (l, out) => fs.symlinkSync(path.join(out, 'nonexistent'), l) },
  { name: 'a directory', plant: (l) => fs.mkdirSync(l) },
];

lockCases.forEach((k, i) => {
  test(`lock is ${k.name}: ADD and DEL fail with code 5 naming it, nothing made, nothing written outside`, () => {
    const c = setup(`stlx${i}`);
    try {
      const { outside } = replant(c, 'lock', k.plant);
      const before = fs.readdirSync(outside).map((n) => `${n}:${fs.readFileSync(path.join(outside, n), 'utf8')}`);
      const x = addX(c, 'x');
      assertCniError(x.r, 5, 'lock');
      assert.equal(traces(c.world, NET, x.cid, 'eth0', x.pod), [], 'the failed ADD left traces');
      const d = cni(c.world.node, { command: 'DEL', conf: c.conf, containerId: c.valid.cid, netns: c.valid.pod.path });
      assertCniError(d, 5, 'lock');
      assert.equal(
        fs.readdirSync(outside).map((n) => `${n}:${fs.readFileSync(path.join(outside, n), 'utf8')}`),
        before,
        'written outside the store',
      );
      assert.is(fs.readFileSync(c.valid.file, 'utf8'), c.valid.body);
    } finally {
      c.world.cleanup();
    }
  });
});

test('the network directory is a symlink or a file: code 5, nothing made, nothing written through it', () => {
  const world = new World('stnd');
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-st-out-${RUN_ID}-`));
  try {
    const conf = bridgeConf(
      world,
      { name: NET, bridge: BRIDGE, ranges: [[RANGE]] },
      { ipMasq: true, ipMasqBackend: 'iptables' },
    );
    const pod = world.pod('x');
    for (const [kind, plant] of [
      ['symlink', () => fs.symlinkSync(outside, path.join(world.dataDir, NET))],
      ['file', () => fs.writeFileSync(path.join(world.dataDir, NET), 'x')],
    ] as const) {
      fs.rmSync(path.join(world.dataDir, NET), { force: true });
      plant();
      const cid = `stnd-${kind}-${RUN_ID}`;
      const r = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
      assertCniError(r, 5, NET);
      assert.equal(fs.readdirSync(outside), [], `${kind}: written through it`);
      assert.equal(
        traces(world, NET, cid, 'eth0', pod).filter((t) => !t.startsWith('IPAM')),
        [],
        `${kind}: the failed ADD left traces`,
      );
    }
  } finally {
    world.cleanup();
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

/** A small tmpfs under the world's dataDir; unmounted by the caller in finally. */
/**
 * The store's file `name` replaced by what plant makes there, given a directory outside the store to
 * point into (removed with the world).
 */
function replant(
  c: Ctx,
  name: string,
  plant: (file: string, outside: string) => void,
): { file: string; outside: string } {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-st-out-${RUN_ID}-`));
  const cleanup = c.world.cleanup.bind(c.world);
  c.world.cleanup = () => {
    cleanup();
    fs.rmSync(outside, { recursive: true, force: true });
  };
  const file = path.join(c.dir, name);
  fs.rmSync(file);
  plant(file, outside);
  return { file, outside };
}

/** A tmpfs mounted with opts in the world's data dir; the world's cleanup unmounts it first. */
function smallTmpfs(world: World, opts: string): string {
  const mnt = path.join(world.dataDir, 'tmpfs');
  fs.mkdirSync(mnt);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tsbt-full', mnt], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
  const cleanup = world.cleanup.bind(world);
  world.cleanup = () => {
    unmount(mnt);
    cleanup();
  };
  return mnt;
}

/** After a failed ADD: the store holds the valid container's address and nothing else. */
function assertNothingReserved(c: Ctx): void {
  assert.equal(
    listing(c).filter((n) => n !== 'lock' && !n.startsWith('last_reserved') && n !== 'tsbridge-boot'),
    ['10.220.5.2'],
    'partial allocation',
  );
}

function unmount(mnt: string): void {
  if (spawnSync('umount', [mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
}

/** Writes until ENOSPC; returns how many bytes went in. */
function fillBytes(file: string): number {
  const fd = fs.openSync(file, 'w');
  let n = 0;
  try {
    const chunk = Buffer.alloc(4096, 1);
    for (;;) n += fs.writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    fs.closeSync(fd);
  }
  return n;
}

test(
  'full disk (tmpfs size=64k, no byte left): ADD is code 5, nothing reserved or made; CHECK and DEL of the valid ' +
    'one work; ADD works once space is back',
  () => {
    inWorld('stfull', (world) => {
      const mnt = smallTmpfs(world, 'size=64k,mode=0755');
      const c = setupOn(world, mnt);
      fillBytes(path.join(mnt, 'filler'));
      const x = addX(c, 'x');
      assertCniError(x.r, 5, /no space|ENOSPC/i);
      assert.equal(traces(world, NET, x.cid, 'eth0', x.pod), [], 'the failed ADD left traces');
      assertNothingReserved(c);
      assertValidUntouched(c);

      fs.rmSync(path.join(mnt, 'filler'));
      const again = cni(world.node, { command: 'ADD', conf: c.conf, containerId: x.cid, netns: x.pod.path });
      assert.is(again.status, 0, `ADD after freeing space: ${again.stdout}`);
      fillBytes(path.join(mnt, 'filler')); // DEL on a full disk must still free
      delOk(c, x.cid, x.pod);
      delOk(c, c.valid.cid, c.valid.pod);
    });
  },
);

test('no inode left (tmpfs nr_inodes): ADD is code 5, nothing reserved or made; DEL works', () => {
  inWorld('stino', (world) => {
    const mnt = smallTmpfs(world, 'size=1m,nr_inodes=16,mode=0755');
    const c = setupOn(world, mnt);
    for (let i = 0; ; i++) {
      try {
        fs.writeFileSync(path.join(mnt, `f${i}`), '');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw e;
      }
    }
    const x = addX(c, 'x');
    assertCniError(x.r, 5, /no space|ENOSPC/i);
    assert.equal(traces(world, NET, x.cid, 'eth0', x.pod), [], 'the failed ADD left traces');
    assertNothingReserved(c);
    assertValidUntouched(c);
    delOk(c, c.valid.cid, c.valid.pod);
  });
});

/** setup() on an existing world with another dataDir. */
function setupOn(world: World, dataDir: string): Ctx {
  const conf = bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, ranges: [[RANGE]], ipam: { dataDir } },
    { ipMasq: true, ipMasqBackend: 'iptables' },
  );
  const pod = world.pod('valid');
  const cid = `stv-${path.basename(dataDir)}-${RUN_ID}`;
  const r = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
  assert.is(r.status, 0, `valid ADD: ${r.stdout} ${r.stderr}`);
  const dir = path.join(dataDir, NET);
  const file = path.join(dir, '10.220.5.2');
  return { world, dataDir, dir, conf, valid: { cid, pod, result: r.json, file, body: fs.readFileSync(file, 'utf8') } };
}

// --- Directories another user could write or redirect (issue 18 point 4) -------------------------

const dirCases: { name: string; make: (base: string) => { dataDir: string; bad: string; fix: () => void } }[] = [
  {
    name: 'a parent owned by another user (uid 65534)',
    make: (b) => {
      const p = path.join(b, 'theirs');
      fs.mkdirSync(path.join(p, 'data'), { recursive: true, mode: 0o755 });
      fs.chownSync(p, 65534, 65534);
      return { dataDir: path.join(p, 'data'), bad: p, fix: () => fs.chownSync(p, 0, 0) };
    },
  },
  {
    name: 'a group-writable dataDir',
    make: (b) => {
      const d = path.join(b, 'gw');
      fs.mkdirSync(d);
      fs.chmodSync(d, 0o775);
      return { dataDir: d, bad: d, fix: () => fs.chmodSync(d, 0o755) };
    },
  },
  {
    name: 'a world-writable parent without the sticky bit',
    make: (b) => {
      const p = path.join(b, 'ww');
      fs.mkdirSync(p);
      fs.chmodSync(p, 0o777);
      return { dataDir: path.join(p, 'data'), bad: p, fix: () => fs.chmodSync(p, 0o1777) };
    },
  },
  {
    name: 'a symlinked parent',
    make: (b) => {
      fs.mkdirSync(path.join(b, 'real', 'data'), { recursive: true });
      fs.symlinkSync(path.join(b, 'real'), path.join(b, 'link'));
      return {
        dataDir: path.join(b, 'link', 'data'),
        bad: path.join(b, 'link'),
        fix: () => {
          fs.rmSync(path.join(b, 'link'));
          fs.renameSync(path.join(b, 'real'), path.join(b, 'link'));
        },
      };
    },
  },
];

dirCases.forEach((k, i) => {
  test(
    `the store's path has ${k.name}: ADD and DEL are code 5 ` + `naming it and the fix, nothing made; fixed, ADD works`,
    () => {
      inWorld(`stdir${i}`, (world) => {
        const { dataDir, bad, fix } = k.make(world.dataDir);
        const conf = bridgeConf(
          world,
          { name: NET, bridge: BRIDGE, ranges: [[RANGE]], ipam: { dataDir } },
          { ipMasq: true, ipMasqBackend: 'iptables' },
        );
        const pod = world.pod('x');
        const cid = `stdir${i}-${RUN_ID}`;
        const r = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
        assertCniError(r, 5, `IPAM store directory ${bad} `);
        assert.match(r.json.msg, `chown root ${bad}; chmod go-w ${bad}`);
        assert.equal(
          traces(world, NET, cid, 'eth0', pod).filter((t) => !t.startsWith('IPAM')),
          [],
          'the refused ADD left traces',
        );
        assert.not.ok(
          fs.existsSync(path.join(fs.realpathSync(path.dirname(dataDir)), path.basename(dataDir), NET)),
          'the network directory was made',
        );
        assertCniError(cni(world.node, { command: 'DEL', conf, containerId: cid, netns: pod.path }), 5, bad);
        fix(); // positive control: the same config works once the directory is fixed as the message says
        const ok = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
        assert.is(ok.status, 0, ok.stdout);
        assert.ok(fs.existsSync(path.join(dataDir, NET, '10.220.5.2')));
        assert.is(cni(world.node, { command: 'DEL', conf, containerId: cid, netns: pod.path }).status, 0);
        assert.not.ok(fs.existsSync(path.join(dataDir, NET, '10.220.5.2')));
      });
    },
  );
});

// --- Reboots (issue 16): the boot mark ------------------------------------------------------------

const BOOT_ID = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const markOf = (c: Ctx): string[] => fs.readFileSync(path.join(c.dir, 'tsbridge-boot'), 'utf8').trim().split('\n');
/** What a reboot leaves: the mark from the boot before (a fake ID, its entries kept) and the pods' namespaces gone. */
function fakeReboot(c: Ctx, pods: { name: string }[]): void {
  const [, ...entries] = markOf(c);
  fs.writeFileSync(
    path.join(c.dir, 'tsbridge-boot'),
    ['0badb007-0000-4000-8000-000000000000', ...entries].join('\n') + '\n',
  );
  for (const p of pods) spawnSync('ip', ['netns', 'del', p.name]);
}

test(
  'reboot: the next ADD releases what earlier boots reserved (same boot: kept); GC sweeps their left-over rules; ' +
    'STATUS releases too',
  () => {
    const c = setup('stboot');
    try {
      const b = addX(c, 'b');
      assert.is(b.r.status, 0, b.r.stdout);
      assert.equal(c.world.reservations(NET), ['10.220.5.2', '10.220.5.3']);
      assert.is(markOf(c)[0], BOOT_ID, 'the mark names this boot');
      assert.equal(
        markOf(c)
          .slice(1)
          .map((l) => l.split(' ')[0]),
        ['10.220.5.2', '10.220.5.3'],
      );
      assert.is(fs.lstatSync(path.join(c.dir, 'tsbridge-boot')).mode & 0o777, 0o600);

      const same = addX(c, 'same');
      assert.is(same.r.status, 0, same.r.stdout);
      assert.equal(
        c.world.reservations(NET),
        ['10.220.5.2', '10.220.5.3', '10.220.5.4'],
        'same boot: nothing released',
      );
      delOk(c, same.cid, same.pod);

      fakeReboot(c, [c.valid.pod, b.pod]);
      // as if the firewall rules had been restored at boot: they are still there
      assert.ok(
        traces(c.world, NET, c.valid.cid).some((t) => t.startsWith('chain') || t.startsWith('a rule')),
        'the old rules exist before',
      );
      const n = addX(c, 'new');
      assert.is(n.r.status, 0, n.r.stdout);
      const got = n.r.json.ips[0].address.split('/')[0];
      assert.equal(c.world.reservations(NET), [got], "the earlier boot's reservations were released, the new one made");
      assert.equal(
        markOf(c).map((l) => l.split(' ')[0]),
        [BOOT_ID, got],
        'the mark restarted for this boot',
      );

      const gc = cni(c.world.node, {
        command: 'GC',
        conf: { ...c.conf, 'cni.dev/valid-attachments': [{ containerID: n.cid, ifname: 'eth0' }] },
      });
      assert.is(gc.status, 0, gc.stdout);
      assert.equal(traces(c.world, NET, c.valid.cid), [], "GC swept the earlier boot's rules");
      assert.equal(traces(c.world, NET, b.cid), []);
      assert.equal(c.world.reservations(NET), [got], 'GC kept the valid one');

      fakeReboot(c, [n.pod]);
      const st = cni(c.world.node, { command: 'STATUS', conf: c.conf });
      assert.is(st.status, 0, st.stdout);
      assert.equal(c.world.reservations(NET), [], 'STATUS of the new boot released it');
      assert.equal(markOf(c), [BOOT_ID]);
      assert.is(cni(c.world.node, { command: 'GC', conf: { ...c.conf, 'cni.dev/valid-attachments': [] } }).status, 0);
      assert.equal(traces(c.world, NET, n.cid), []);
    } finally {
      c.world.cleanup();
    }
  },
);

test.run();
