// Which directories the IPAM store trusts (src/sys/trusted-dir.ts), as a rule over stat facts and
// on real directories: no symlink on the way, nothing others can write except a sticky parent like
// /tmp, created directories exactly 0755, and the network directory used through its fd only.
// (Foreign owners need chown, i.e. root: test/kernel/fault-ipam-store.test.ts.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, ErrCode } from '../../src/cni/errors';
import { withDiskStore } from '../../src/ipam/disk-store';
import { dirProblem } from '../../src/sys/trusted-dir';
import { withTmpDir } from '../helpers/tmp';

const stats = (uid: number, mode: number, isDir = true): fs.Stats =>
  ({ uid, mode, isDirectory: () => isDir }) as fs.Stats;

test('dirProblem: owner, group/other write, sticky parents but not sticky data directories, non-directories', () => {
  const me = process.geteuid!();
  assert.is(dirProblem('/d', stats(0, 0o755), true), undefined);
  assert.is(dirProblem('/d', stats(me, 0o700), true), undefined, 'our own euid counts as ours');
  assert.match(dirProblem('/p', stats(65534, 0o755), false) ?? '', /^\/p is owned by uid 65534, not root/);
  assert.match(dirProblem('/d', stats(0, 0o775), true) ?? '', /^\/d is writable by its group \(mode 0775\)/);
  assert.match(
    dirProblem('/p', stats(0, 0o757), false) ?? '',
    /writable by others/,
    'a world-writable parent without the sticky bit',
  );
  assert.is(dirProblem('/tmp', stats(0, 0o1777), false), undefined, '/tmp as a parent');
  assert.match(
    dirProblem('/tmp', stats(0, 0o1777), true) ?? '',
    /writable by its group \(mode 1777\)/,
    '/tmp as the dataDir itself',
  );
  assert.match(dirProblem('/p', stats(65534, 0o1777), false) ?? '', /owned by/, 'a sticky directory of another user');
  assert.match(dirProblem('/f', stats(0, 0o644, false), false) ?? '', /^\/f is not a directory/);
});

const withTmp = (fn: (tmp: string) => void): void => withTmpDir('tsb-dirs-', fn);

const refused = (fn: () => unknown, dir: string, why: RegExp): void =>
  assert.throws(
    fn,
    (e: CniError) =>
      e.code === ErrCode.IOFailure &&
      e.message.includes(`IPAM store directory ${dir} `) &&
      why.test(e.message) &&
      e.message.includes(`chmod go-w ${dir}`),
  );

const reserveIn = (dataDir: string): boolean =>
  withDiskStore(dataDir, 'net1', (s) => s.reserve('c1', 'eth0', '10.0.0.2', 0));

test('positive control: a private dataDir under /tmp (sticky) works', () => {
  withTmp((tmp) => {
    assert.ok(reserveIn(path.join(tmp, 'data')));
    assert.ok(fs.existsSync(path.join(tmp, 'data', 'net1', '10.0.0.2')));
  });
});

test('a group-writable dataDir, network directory or parent is refused; nothing is written', () => {
  withTmp((tmp) => {
    for (const [rel, which] of [
      ['d1', 'd1'],
      ['d2/net1', 'd2/net1'],
      ['p3', 'p3'],
    ] as const) {
      const dataDir = path.join(tmp, rel.split('/')[0], rel === 'p3' ? 'data' : '');
      fs.mkdirSync(path.join(tmp, rel), { recursive: true });
      fs.mkdirSync(dataDir, { recursive: true });
      fs.chmodSync(path.join(tmp, which), 0o775);
      refused(() => reserveIn(dataDir), path.join(tmp, which), /writable by its group \(mode 0775\)/);
      assert.not.ok(fs.existsSync(path.join(dataDir, 'net1', '10.0.0.2')));
      fs.chmodSync(path.join(tmp, which), 0o755); // the fix the message names works
      assert.ok(reserveIn(dataDir), `${which}: after chmod go-w`);
    }
  });
});

test('a world-writable parent is refused unless sticky', () => {
  withTmp((tmp) => {
    const parent = path.join(tmp, 'shared');
    fs.mkdirSync(parent);
    fs.chmodSync(parent, 0o777);
    refused(() => reserveIn(path.join(parent, 'data')), parent, /mode 0777/);
    assert.not.ok(fs.existsSync(path.join(parent, 'data')), 'nothing created under it');
    fs.chmodSync(parent, 0o1777);
    assert.ok(reserveIn(path.join(parent, 'data')));
  });
});

test(
  'a symlink anywhere on the path is refused (parent, ' + 'dataDir, network directory); nothing written through it',
  () => {
    withTmp((tmp) => {
      const real = path.join(tmp, 'real');
      fs.mkdirSync(path.join(real, 'data', 'net1'), { recursive: true });
      fs.symlinkSync(real, path.join(tmp, 'viaParent'));
      refused(() => reserveIn(path.join(tmp, 'viaParent', 'data')), path.join(tmp, 'viaParent'), /symbolic link/);
      fs.symlinkSync(path.join(real, 'data'), path.join(tmp, 'viaData'));
      refused(() => reserveIn(path.join(tmp, 'viaData')), path.join(tmp, 'viaData'), /symbolic link/);
      fs.mkdirSync(path.join(tmp, 'd'));
      fs.symlinkSync(path.join(real, 'data', 'net1'), path.join(tmp, 'd', 'net1'));
      refused(() => reserveIn(path.join(tmp, 'd')), path.join(tmp, 'd', 'net1'), /symbolic link/);
      assert.equal(fs.readdirSync(path.join(real, 'data', 'net1')), [], 'written through a link');
    });
  },
);

test('missing directories are created 0755 whatever the umask (002 included), and then pass the check', () => {
  withTmp((tmp) => {
    const old = process.umask(0o002);
    try {
      assert.ok(reserveIn(path.join(tmp, 'a', 'b')));
    } finally {
      process.umask(old);
    }
    for (const d of ['a', 'a/b', 'a/b/net1']) assert.is(fs.statSync(path.join(tmp, d)).mode & 0o7777, 0o755, d);
  });
});

test('a symlink swapped in for the network directory after it was opened is not followed', () => {
  withTmp((tmp) => {
    const dataDir = path.join(tmp, 'data');
    const elsewhere = path.join(tmp, 'elsewhere');
    fs.mkdirSync(elsewhere);
    withDiskStore(dataDir, 'net1', (s) => {
      assert.ok(s.reserve('c1', 'eth0', '10.0.0.2', 0));
      fs.renameSync(path.join(dataDir, 'net1'), path.join(dataDir, 'moved'));
      fs.symlinkSync(elsewhere, path.join(dataDir, 'net1'));
      assert.ok(s.reserve('c2', 'eth0', '10.0.0.3', 0));
      s.release('10.0.0.2');
    });
    assert.equal(fs.readdirSync(elsewhere), [], 'nothing created through the swapped-in link');
    assert.equal(
      fs.readdirSync(path.join(dataDir, 'moved')).filter((n) => n.startsWith('10.')),
      ['10.0.0.3'],
      'the opened directory got both operations',
    );
  });
});

test.run();
