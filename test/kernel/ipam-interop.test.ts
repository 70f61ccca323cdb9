// The reference host-local (Go, /usr/lib/cni) and our allocate() share one data directory:
// no address is given twice, each releases the other's records, and their locks exclude each other.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, ErrCode } from '../../src/cni/errors';
import { HostLocalConfig, parseHostLocalConfig } from '../../src/ipam/config';
import * as hostLocal from '../../src/ipam/host-local';
import { holdFlock } from '../helpers/fuzz-state';
import { missing, requires } from '../helpers/test';

const REF = '/usr/lib/cni/host-local';
// without the reference plugin every test here is counted as skipped (a failure under CI=true)
const rtest = requires(test, missing.refPlugins('host-local'));
const NET = 'interop';

interface Env {
  tmp: string;
  dir: string;
  cfg: HostLocalConfig;
  stdin: string;
}

function withEnv(ranges: unknown[][], fn: (e: Env) => void): void {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-interop-'));
  try {
    const ipam = { type: 'host-local', dataDir: tmp, ranges };
    const stdin = JSON.stringify({ cniVersion: '1.0.0', name: NET, ipam });
    fn({ tmp, dir: path.join(tmp, NET), cfg: parseHostLocalConfig(ipam, NET), stdin });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function refEnv(command: string, containerId: string, ifname: string, args = ''): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: '/proc/self/ns/net',
    CNI_IFNAME: ifname,
    CNI_PATH: '/usr/lib/cni',
    ...(args ? { CNI_ARGS: args } : {}),
  };
}

interface RefOut {
  ips?: { address: string }[];
  msg?: string;
}

/** Runs the reference; its parsed stdout (result or error JSON) and exit status. */
function ref(
  e: Env,
  command: string,
  containerId: string,
  ifname = 'eth0',
  args = '',
): { status: number | null; out: RefOut } {
  const r = spawnSync(REF, [], {
    input: e.stdin,
    env: refEnv(command, containerId, ifname, args),
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, out: r.stdout.trim() ? (JSON.parse(r.stdout) as RefOut) : {} };
}

function refAdd(e: Env, containerId: string, ifname = 'eth0', args = ''): string[] {
  const r = ref(e, 'ADD', containerId, ifname, args);
  assert.is(r.status, 0, JSON.stringify(r.out));
  return (r.out.ips ?? []).map((ip) => ip.address);
}

const ours = (e: Env, containerId: string, ifname = 'eth0', requested: string[] = []): string[] =>
  hostLocal.allocate(e.cfg, NET, containerId, ifname, requested).ips.map((ip) => ip.address);

const modeOf = (p: string): number => fs.lstatSync(p).mode & 0o7777;
const BOOT_MARK = 'tsbridge-boot';
/** Our mark as if written in an earlier boot: a fake boot ID, its entries kept. */
function markFromEarlierBoot(e: Env): void {
  const [, ...entries] = fs.readFileSync(path.join(e.dir, BOOT_MARK), 'utf8').split('\n');
  fs.writeFileSync(path.join(e.dir, BOOT_MARK), ['0badb007-0000-4000-8000-000000000000', ...entries].join('\n'));
}

const ipFiles = (dir: string): string[] =>
  fs
    .readdirSync(dir)
    .filter((n) => !n.startsWith('last_') && n !== 'lock' && n !== 'tsbridge-boot')
    .sort();

rtest('alternating allocations continue one round-robin, never repeat, and both see the range as full', () => {
  withEnv([[{ subnet: '10.99.0.0/29' }]], (e) => {
    const got = [refAdd(e, 'c0'), ours(e, 'c1'), refAdd(e, 'c2'), ours(e, 'c3'), refAdd(e, 'c4')].flat();
    assert.equal(got, ['10.99.0.2/29', '10.99.0.3/29', '10.99.0.4/29', '10.99.0.5/29', '10.99.0.6/29']);
    assert.is(fs.readFileSync(path.join(e.dir, '10.99.0.3'), 'utf8'), 'c1\r\neth0');
    assert.is(fs.readFileSync(path.join(e.dir, 'last_reserved_ip.0'), 'utf8'), '10.99.0.6');
    const full = ref(e, 'ADD', 'c5');
    assert.is.not(full.status, 0);
    assert.match(full.out.msg ?? '', /no IP addresses available in range set: 10\.99\.0\.1-10\.99\.0\.6/);
    assert.throws(
      () => ours(e, 'c5'),
      (err: CniError) => err.code === ErrCode.RangeExhausted,
    );
  });
});

rtest("each side releases the other's records (its 0644, our 0600); allocation then wraps around for both", () => {
  withEnv([[{ subnet: '10.99.0.0/29' }]], (e) => {
    refAdd(e, 'c0');
    // the reference 1.1.1 made the network directory 0755 and its record 0644; our checks accept its directory
    assert.is(modeOf(e.dir), 0o755);
    assert.is(modeOf(path.join(e.dir, '10.99.0.2')), 0o644);
    ours(e, 'c1');
    assert.is(modeOf(path.join(e.dir, '10.99.0.3')), 0o600, 'ours is 0600, as upstream host-local since 1.4.0');
    assert.equal(hostLocal.findByAttachment(e.cfg, NET, 'c0', 'eth0'), ['10.99.0.2'], 'we read its 0644 record');
    assert.equal(hostLocal.release(e.cfg, NET, 'c0', 'eth0'), ['10.99.0.2']);
    assert.is(ref(e, 'DEL', 'c1').status, 0);
    assert.equal(ipFiles(e.dir), []);
    // DEL of something already gone succeeds on both sides
    assert.is(ref(e, 'DEL', 'c1').status, 0);
    assert.equal(hostLocal.release(e.cfg, NET, 'c0', 'eth0'), []);
    assert.equal([ours(e, 'c2'), refAdd(e, 'c3')].flat(), ['10.99.0.4/29', '10.99.0.5/29']);
  });
});

rtest('the reference finds our record (CHECK) and we find its records; an interface is its own attachment', () => {
  withEnv([[{ subnet: '10.99.0.0/29' }]], (e) => {
    ours(e, 'c1', 'eth0');
    refAdd(e, 'c1', 'eth1');
    assert.is(ref(e, 'CHECK', 'c1', 'eth0').status, 0);
    assert.equal(hostLocal.findByAttachment(e.cfg, NET, 'c1', 'eth1'), ['10.99.0.3']);
    assert.is(ref(e, 'DEL', 'c1', 'eth0').status, 0); // frees only eth0's address
    assert.equal(ipFiles(e.dir), ['10.99.0.3']);
  });
});

rtest('dual stack: IPv6 file names agree, requested IPs conflict across implementations', () => {
  withEnv([[{ subnet: '10.99.0.0/29' }], [{ subnet: 'fd00:99::/120' }]], (e) => {
    assert.equal(refAdd(e, 'c0'), ['10.99.0.2/29', 'fd00:99::2/120']);
    assert.equal(ours(e, 'c1'), ['10.99.0.3/29', 'fd00:99::3/120']);
    assert.equal(ipFiles(e.dir), ['10.99.0.2', '10.99.0.3', 'fd00:99::2', 'fd00:99::3']);
    assert.throws(
      () => ours(e, 'c2', 'eth0', ['fd00:99::2']),
      (err: CniError) => err.code === ErrCode.AddressInUse,
    );
    assert.is.not(ref(e, 'ADD', 'c2', 'eth0', 'IP=10.99.0.3').status, 0);
    assert.equal(ours(e, 'c2', 'eth0', ['10.99.0.6']), ['10.99.0.6/29', 'fd00:99::4/120']);
    assert.equal(hostLocal.release(e.cfg, NET, 'c0', 'eth0').sort(), ['10.99.0.2', 'fd00:99::2']);
    assert.is(ref(e, 'DEL', 'c1').status, 0);
    assert.equal(ipFiles(e.dir), ['10.99.0.6', 'fd00:99::4']);
  });
});

/** Processes blocked in flock() on `file` right now (the "->" lines of /proc/locks for its inode). */
function flockWaiters(file: string): number {
  const ino = fs.statSync(file).ino;
  return fs
    .readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter(
      (l) =>
        l.includes('->') &&
        l.includes('FLOCK') &&
        l
          .trim()
          .split(/\s+/)
          .some((f) => f.endsWith(`:${ino}`)),
    ).length;
}

rtest('concurrent reference ADDs and our ADDs: the shared lock keeps every address unique', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-interop-'));
  let holder: { release: (wait?: boolean) => void } | undefined;
  try {
    const ipam = { type: 'host-local', dataDir: tmp, ranges: [[{ subnet: '10.98.0.0/27' }]] };
    const stdin = JSON.stringify({ cniVersion: '1.0.0', name: NET, ipam });
    const cfg = parseHostLocalConfig(ipam, NET);
    // Prove the overlap: hold the store's lock, start the reference ADDs and wait until they are
    // all blocked on it; then release it and allocate ours while they are still waiting.
    const lock = path.join(tmp, NET, 'lock');
    fs.mkdirSync(path.dirname(lock));
    holder = await holdFlock(lock);
    const children = Array.from(
      { length: 8 },
      (_, i) =>
        new Promise<number | null>((resolve) => {
          const p = spawn(REF, [], { env: refEnv('ADD', `ref${i}`, 'eth0'), stdio: ['pipe', 'ignore', 'ignore'] });
          p.on('close', resolve);
          p.stdin.end(stdin);
        }),
    );
    for (let i = 0; i < 400 && flockWaiters(lock) < 8; i++) await new Promise((r) => setTimeout(r, 50));
    assert.is(flockWaiters(lock), 8, 'the reference ADDs never all waited on the shared lock');
    assert.equal(ipFiles(path.join(tmp, NET)), [], 'a reference ADD wrote while the lock was held');
    holder.release(false);
    holder = undefined;
    const waitingAtStart = flockWaiters(lock);
    const mine = Array.from(
      { length: 8 },
      (_, i) => hostLocal.allocate(cfg, NET, `ours${i}`, 'eth0', []).ips[0].address,
    );
    assert.ok(waitingAtStart > 0, 'no reference ADD was still waiting when ours began: no overlap in time');
    assert.equal(await Promise.all(children), Array(8).fill(0));
    const files = ipFiles(path.join(tmp, NET));
    assert.is(files.length, 16);
    assert.is(new Set(mine).size, 8);
    const owners = hostLocal
      .listAttachments(cfg, NET)
      .map((a) => a.containerId)
      .sort();
    assert.equal(
      owners,
      [...Array.from({ length: 8 }, (_, i) => `ours${i}`), ...Array.from({ length: 8 }, (_, i) => `ref${i}`)].sort(),
    );
  } finally {
    holder?.release();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

rtest('our gc releases stale records the reference wrote', () => {
  withEnv([[{ subnet: '10.99.0.0/29' }]], (e) => {
    refAdd(e, 'c0');
    refAdd(e, 'c1');
    assert.equal(hostLocal.gc(e.cfg, NET, [{ containerId: 'c1', ifname: 'eth0' }]), ['10.99.0.2']);
    assert.is(ref(e, 'CHECK', 'c0').status, 1);
    assert.is(ref(e, 'CHECK', 'c1').status, 0);
  });
});

rtest('reboot, store only the reference wrote (no mark): our ADD in a new boot releases nothing', () => {
  withEnv([[{ subnet: '10.99.0.0/29' }]], (e) => {
    refAdd(e, 'r0');
    refAdd(e, 'r1');
    assert.not.ok(fs.existsSync(path.join(e.dir, BOOT_MARK)));
    assert.equal(ours(e, 'c2'), ['10.99.0.4/29']);
    assert.equal(ipFiles(e.dir), ['10.99.0.2', '10.99.0.3', '10.99.0.4'], "the reference's records are kept");
    assert.is(ref(e, 'CHECK', 'r0').status, 0);
  });
});

rtest(
  "reboot, mixed store: only our own untouched records of the earlier boot go; the reference's stay, before or " +
    'after ours',
  () => {
    withEnv([[{ subnet: '10.99.0.0/28' }]], (e) => {
      refAdd(e, 'r0'); // .2, before any mark
      ours(e, 'c1'); // .3, listed in our mark
      refAdd(e, 'r2'); // .4, after our mark was written
      ours(e, 'c3'); // .5
      // the reference frees ours and gives the same address to another container in the same boot
      assert.is(ref(e, 'DEL', 'c3').status, 0);
      assert.equal(refAdd(e, 'r5', 'eth0', 'IP=10.99.0.5'), ['10.99.0.5/28']);
      markFromEarlierBoot(e);
      // the reference keeps working before we run in the new boot: its new record stays too
      assert.equal(refAdd(e, 'r6'), ['10.99.0.6/28']);
      assert.equal(ours(e, 'c7'), ['10.99.0.7/28']);
      assert.equal(
        ipFiles(e.dir),
        ['10.99.0.2', '10.99.0.4', '10.99.0.5', '10.99.0.6', '10.99.0.7'],
        "only c1's record went",
      );
      assert.equal(hostLocal.findByAttachment(e.cfg, NET, 'r5', 'eth0'), ['10.99.0.5']);
      for (const c of ['r0', 'r2', 'r5', 'r6']) assert.is(ref(e, 'CHECK', c).status, 0, c);
    });
  },
);

test.run();
