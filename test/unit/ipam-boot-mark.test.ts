// The reboot rule (src/ipam/boot-mark.ts): what an earlier boot's mark lets tsbridge release, over
// fake file identities, and then over a real store directory playing two boots (the store takes
// the boot ID as a parameter; the kernel's is used otherwise).
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BOOT_MARK,
  deadReservations,
  FileId,
  formatMark,
  markBoot,
  parseMark,
  shouldCompact,
} from '../../src/ipam/boot-mark';
import { kernelBootId, withDiskStore } from '../../src/ipam/disk-store';
import { withIpamDir } from '../helpers/tmp';

const BOOT_A = '11111111-2222-3333-4444-555555555555';
const BOOT_B = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const id = (ino: number, mtimeNs: number | bigint): FileId => ({ ino: BigInt(ino), mtimeNs: BigInt(mtimeNs) });

test('parseMark/formatMark round trip; a torn last line and junk lines are skipped; no boot ID is no mark', () => {
  const mark = {
    bootId: BOOT_A,
    entries: [
      { ip: '10.0.0.2', ...id(12, 1700000000123456789n) },
      { ip: 'fd00::2', ...id(13, 5) },
    ],
  };
  const text = formatMark(mark);
  assert.equal(parseMark(text), mark);
  assert.equal(parseMark(text + '10.0.0.3 14')?.entries.length, 2, 'torn append');
  assert.equal(parseMark(`${BOOT_A}\njunk\n10.0.0.9 1 2\n`)?.entries, [{ ip: '10.0.0.9', ...id(1, 2) }]);
  assert.is(parseMark(''), undefined);
  assert.is(parseMark('not a boot id\n10.0.0.2 1 2\n'), undefined);
  assert.is(markBoot(`${BOOT_B}\nwhatever`), BOOT_B);
  assert.is(markBoot(BOOT_B), BOOT_B);
});

test('deadReservations: nothing in the same boot; in a new boot only the very files the mark lists', () => {
  const mark = {
    bootId: BOOT_A,
    entries: [
      { ip: '10.0.0.2', ...id(12, 100) },
      { ip: '10.0.0.3', ...id(13, 200) },
      { ip: '10.0.0.4', ...id(14, 300) },
    ],
  };
  const files = new Map([
    ['10.0.0.2', id(12, 100)], // ours, untouched: dead
    ['10.0.0.3', id(13, 999)], // same inode, rewritten since (re-reserved by the reference): kept
    ['10.0.0.5', id(15, 500)], // not in the mark (the reference's): kept
  ]);
  assert.equal(deadReservations(mark, BOOT_A, files), [], 'same boot: nothing is dead');
  assert.equal(deadReservations(mark, BOOT_B, files), ['10.0.0.2']);
  assert.equal(
    deadReservations(mark, BOOT_B, new Map([['10.0.0.2', id(99, 100)]])),
    [],
    'another inode under the same name',
  );
});

test('shouldCompact: only a large mark that is mostly released entries', () => {
  assert.not.ok(shouldCompact(1000, 0));
  assert.not.ok(shouldCompact(100 * 1024, 1000));
  assert.ok(shouldCompact(100 * 1024, 10));
});

const withStore = withIpamDir;

const inBoot = (bootId: string | null) => ({ releaseEarlierBoots: true, bootId });
const files = (dir: string): string[] =>
  fs
    .readdirSync(dir)
    .filter((n) => isIP(n) !== 0)
    .sort();

test(
  'store: records of an earlier boot are released by the ' + 'first sweeping call of a new boot, not in the same boot',
  () => {
    withStore((dataDir, dir) => {
      withDiskStore(
        dataDir,
        'net1',
        (s) => {
          assert.ok(s.reserve('a1', 'eth0', '10.0.0.2', 0));
          assert.ok(s.reserve('a2', 'eth0', '10.0.0.3', 0));
        },
        inBoot(BOOT_A),
      );
      assert.is(markBoot(fs.readFileSync(path.join(dir, BOOT_MARK), 'utf8')), BOOT_A);
      withDiskStore(dataDir, 'net1', (s) => assert.equal(s.releaseEarlierBoots(), []), inBoot(BOOT_A));
      assert.equal(files(dir), ['10.0.0.2', '10.0.0.3'], 'same boot: kept');
      // a call that does not sweep (DEL, CHECK) leaves them too
      withDiskStore(dataDir, 'net1', (s) => assert.equal(s.findByAttachment('a1', 'eth0'), ['10.0.0.2']), {
        bootId: BOOT_B,
      });
      assert.equal(files(dir), ['10.0.0.2', '10.0.0.3']);
      withDiskStore(
        dataDir,
        'net1',
        (s) => {
          assert.equal(s.listAll(), [], 'released before fn runs');
          assert.ok(s.reserve('b1', 'eth0', '10.0.0.4', 0));
        },
        inBoot(BOOT_B),
      );
      assert.equal(files(dir), ['10.0.0.4']);
      const mark = parseMark(fs.readFileSync(path.join(dir, BOOT_MARK), 'utf8'));
      assert.is(mark?.bootId, BOOT_B, 'the mark restarts for the new boot');
      assert.equal(
        mark?.entries.map((e) => e.ip),
        ['10.0.0.4'],
      );
    });
  },
);

test(
  'store: a reserve in a new boot without a sweep first ' + 'releases the earlier boot (never appends under its ID)',
  () => {
    withStore((dataDir, dir) => {
      withDiskStore(dataDir, 'net1', (s) => s.reserve('a1', 'eth0', '10.0.0.2', 0), inBoot(BOOT_A));
      withDiskStore(dataDir, 'net1', (s) => s.reserve('b1', 'eth0', '10.0.0.3', 0), { bootId: BOOT_B });
      assert.equal(files(dir), ['10.0.0.3']);
      assert.equal(parseMark(fs.readFileSync(path.join(dir, BOOT_MARK), 'utf8'))?.bootId, BOOT_B);
    });
  },
);

test(
  "store: files without a mark (the reference's, or an older tsbridge's) are kept; the mark then covers only " + 'ours',
  () => {
    withStore((dataDir, dir) => {
      fs.mkdirSync(dir, { mode: 0o755 });
      fs.writeFileSync(path.join(dir, '10.0.0.7'), 'ref1\r\neth0', { mode: 0o644 });
      withDiskStore(dataDir, 'net1', (s) => assert.equal(s.releaseEarlierBoots(), []), inBoot(BOOT_A));
      assert.not.ok(fs.existsSync(path.join(dir, BOOT_MARK)), 'no mark until tsbridge reserves');
      withDiskStore(dataDir, 'net1', (s) => s.reserve('a1', 'eth0', '10.0.0.2', 0), inBoot(BOOT_A));
      // mixed: the reference adds a record after ours in boot A, and one of ours is rewritten by it
      fs.writeFileSync(path.join(dir, '10.0.0.8'), 'ref2\r\neth0', { mode: 0o644 });
      withDiskStore(dataDir, 'net1', (s) => s.reserve('a2', 'eth0', '10.0.0.3', 0), inBoot(BOOT_A));
      fs.rmSync(path.join(dir, '10.0.0.3'));
      fs.writeFileSync(path.join(dir, '10.0.0.3'), 'ref3\r\neth0', { mode: 0o644 });
      withDiskStore(
        dataDir,
        'net1',
        (s) =>
          assert.equal(
            s
              .listAll()
              .map((r) => r.ip)
              .sort(),
            ['10.0.0.3', '10.0.0.7', '10.0.0.8'],
          ),
        inBoot(BOOT_B),
      );
      assert.equal(files(dir), ['10.0.0.3', '10.0.0.7', '10.0.0.8'], 'only our own untouched record went');
      assert.is(fs.readFileSync(path.join(dir, '10.0.0.3'), 'utf8'), 'ref3\r\neth0');
    });
  },
);

test("store: a damaged mark releases nothing and is replaced by this boot's; no boot ID means no mark", () => {
  withStore((dataDir, dir) => {
    withDiskStore(dataDir, 'net1', (s) => s.reserve('a1', 'eth0', '10.0.0.2', 0), inBoot(BOOT_A));
    fs.writeFileSync(path.join(dir, BOOT_MARK), 'garbage\n10.0.0.2 1 2\n');
    withDiskStore(dataDir, 'net1', (s) => assert.equal(s.releaseEarlierBoots(), []), inBoot(BOOT_B));
    assert.equal(files(dir), ['10.0.0.2']);
    assert.is(fs.readFileSync(path.join(dir, BOOT_MARK), 'utf8'), `${BOOT_B}\n`);
    fs.rmSync(path.join(dir, BOOT_MARK));
    withDiskStore(dataDir, 'net1', (s) => s.reserve('x1', 'eth0', '10.0.0.3', 0), inBoot(null));
    assert.not.ok(fs.existsSync(path.join(dir, BOOT_MARK)));
  });
});

test('store: a symlink planted as the mark is replaced, its target neither read as a mark nor written', () => {
  withStore((dataDir, dir) => {
    withDiskStore(dataDir, 'net1', (s) => s.reserve('a1', 'eth0', '10.0.0.2', 0), inBoot(BOOT_A));
    const target = path.join(dataDir, 'target');
    fs.writeFileSync(target, fs.readFileSync(path.join(dir, BOOT_MARK)));
    const before = fs.readFileSync(target, 'utf8');
    fs.rmSync(path.join(dir, BOOT_MARK));
    fs.symlinkSync(target, path.join(dir, BOOT_MARK));
    withDiskStore(dataDir, 'net1', (s) => s.reserve('b1', 'eth0', '10.0.0.3', 0), inBoot(BOOT_B));
    assert.equal(files(dir), ['10.0.0.2', '10.0.0.3'], 'nothing released through a link');
    assert.is(fs.readFileSync(target, 'utf8'), before);
    assert.ok(fs.lstatSync(path.join(dir, BOOT_MARK)).isFile());
    assert.is(markBoot(fs.readFileSync(path.join(dir, BOOT_MARK), 'utf8')), BOOT_B);
  });
});

test('store: the mark is compacted once it is mostly released entries', () => {
  withStore((dataDir, dir) => {
    withDiskStore(dataDir, 'net1', (s) => s.reserve('c0', 'eth0', '10.0.0.2', 0), inBoot(BOOT_A));
    // this boot's mark after 2000 ADD/DEL pairs: lines for records released since
    const stale = Array.from(
      { length: 2000 },
      (_, i) => `10.0.${1 + (i >> 8)}.${i & 255} ${4000000 + i} ${1764400000000000000n + BigInt(i)}\n`,
    ).join('');
    fs.appendFileSync(path.join(dir, BOOT_MARK), stale);
    assert.ok(fs.statSync(path.join(dir, BOOT_MARK)).size > 64 * 1024);
    withDiskStore(dataDir, 'net1', (s) => s.reserve('c1', 'eth0', '10.0.0.3', 0), inBoot(BOOT_A));
    const mark = parseMark(fs.readFileSync(path.join(dir, BOOT_MARK), 'utf8'))!;
    assert.is(mark.bootId, BOOT_A);
    assert.equal(
      mark.entries.map((e) => e.ip),
      ['10.0.0.2', '10.0.0.3'],
      'only live records stay listed',
    );
    withDiskStore(dataDir, 'net1', () => undefined, inBoot(BOOT_B));
    assert.equal(files(dir), [], 'and they are released in the next boot');
  });
});

test("kernelBootId reads this boot's ID", () => {
  const b = kernelBootId();
  assert.ok(b && /^[0-9a-f-]{36}$/.test(b), String(b));
});

test.run();
