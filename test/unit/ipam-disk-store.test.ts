import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, ErrCode } from '../../src/cni/errors';
import { parseRecord, withDiskStore } from '../../src/ipam/disk-store';
import { sleepMs } from '../../src/sys/flock';
import { withIpamDir } from '../helpers/tmp';

const withTmp = withIpamDir;

const mode = (p: string): number => fs.lstatSync(p).mode & 0o777;
const read = (p: string): string => fs.readFileSync(p, 'utf8');

test(
  'layout: dir 0755, IP file 0600 with "<id>\\r\\n<ifname>" (id trimmed), last_reserved_ip.N 0600, lock, boot ' +
    'mark',
  () => {
    withTmp((dataDir, dir) => {
      const old = process.umask(0o077); // the layout's modes do not depend on the runtime's umask
      try {
        withDiskStore(dataDir, 'net1', (s) => {
          assert.ok(s.reserve('  c1 ', 'eth0', '10.0.0.5', 0));
          assert.ok(s.reserve('c1', 'eth0', 'fd00::5', 1));
        });
      } finally {
        process.umask(old);
      }
      assert.equal(fs.readdirSync(dir).sort(), [
        '10.0.0.5',
        'fd00::5',
        'last_reserved_ip.0',
        'last_reserved_ip.1',
        'lock',
        'tsbridge-boot',
      ]);
      assert.is(read(path.join(dir, '10.0.0.5')), 'c1\r\neth0');
      assert.is(read(path.join(dir, 'fd00::5')), 'c1\r\neth0');
      assert.is(mode(dir), 0o755);
      for (const f of ['10.0.0.5', 'fd00::5', 'last_reserved_ip.0', 'last_reserved_ip.1', 'tsbridge-boot']) {
        assert.is(mode(path.join(dir, f)), 0o600, `${f} is 0600 (upstream host-local since 1.4.0)`);
      }
      assert.is(read(path.join(dir, 'last_reserved_ip.0')), '10.0.0.5');
      assert.is(read(path.join(dir, 'last_reserved_ip.1')), 'fd00::5');
    });
  },
);

test('network directory is created 0755 (mkdir -p) under a normal umask', () => {
  withTmp((dataDir) => {
    const old = process.umask(0o022);
    try {
      withDiskStore(path.join(dataDir, 'a', 'b'), 'net1', () => undefined);
    } finally {
      process.umask(old);
    }
    assert.is(mode(path.join(dataDir, 'a', 'b', 'net1')), 0o755);
  });
});

test('reserve is O_EXCL: false when the file exists, whoever made it', () => {
  withTmp((dataDir, dir) => {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, '10.0.0.6'), 'someone\r\neth0');
    withDiskStore(dataDir, 'net1', (s) => {
      assert.not.ok(s.reserve('c1', 'eth0', '10.0.0.6', 0));
      assert.ok(s.isReserved('10.0.0.6'));
      assert.ok(s.reserve('c1', 'eth0', '10.0.0.7', 0));
      assert.not.ok(s.reserve('c2', 'eth0', '10.0.0.7', 0));
      assert.is(s.lastReservedIP(0), '10.0.0.7');
    });
    assert.is(read(path.join(dir, '10.0.0.6')), 'someone\r\neth0');
  });
});

test('a record is never seen half-written: staged whole, then linked; a stale staging file is replaced', () => {
  withTmp((dataDir, dir) => {
    fs.mkdirSync(dir, { mode: 0o755 });
    // what a writer killed before its link leaves: a staged record (here another container's)
    fs.writeFileSync(path.join(dir, '.tsbridge-staging'), 'dead\r\neth0', { mode: 0o600 });
    withDiskStore(dataDir, 'net1', (s) => {
      assert.ok(s.reserve('c1', 'eth0', '10.0.0.5', 0));
      assert.not.ok(s.reserve('c2', 'eth0', '10.0.0.5', 0), 'linking onto an existing address fails like O_EXCL');
    });
    assert.not.ok(fs.existsSync(path.join(dir, '.tsbridge-staging')), 'no staging file after reserve');
    assert.is(read(path.join(dir, '10.0.0.5')), 'c1\r\neth0');
    assert.is(fs.statSync(path.join(dir, '10.0.0.5')).nlink, 1, 'the record has one name');
  });
});

test(
  'a staging file left by a writer killed mid-reserve is removed by DEL (releaseByAttachment) and by ' +
    'ADD/GC/STATUS opens',
  () => {
    withTmp((dataDir, dir) => {
      fs.mkdirSync(dir, { mode: 0o755 });
      const staged = path.join(dir, '.tsbridge-staging');
      fs.writeFileSync(staged, 'dead\r\neth0', { mode: 0o600 });
      withDiskStore(dataDir, 'net1', (s) => assert.equal(s.listAll(), []), {});
      assert.ok(fs.existsSync(staged), 'a plain (read-only) open leaves it');
      withDiskStore(dataDir, 'net1', (s) => s.releaseByAttachment('dead', 'eth0'));
      assert.not.ok(fs.existsSync(staged), 'DEL removed it');
      fs.writeFileSync(staged, 'dead\r\neth0', { mode: 0o600 });
      withDiskStore(dataDir, 'net1', () => undefined, { releaseEarlierBoots: true });
      assert.not.ok(fs.existsSync(staged), 'an ADD/GC/STATUS open removed it');
    });
  },
);

test('lastReservedIP: missing, garbage, or whitespace-padded files', () => {
  withTmp((dataDir, dir) => {
    fs.mkdirSync(dir);
    withDiskStore(dataDir, 'net1', (s) => assert.is(s.lastReservedIP(0), undefined));
    fs.writeFileSync(path.join(dir, 'last_reserved_ip.0'), 'not-an-ip');
    fs.writeFileSync(path.join(dir, 'last_reserved_ip.1'), ' FD00::7\n');
    withDiskStore(dataDir, 'net1', (s) => {
      assert.is(s.lastReservedIP(0), undefined);
      assert.is(s.lastReservedIP(1), 'fd00::7');
    });
  });
});

test('release by attachment: exact records; ID-only (old format) records only when no exact one exists', () => {
  withTmp((dataDir, dir) => {
    fs.mkdirSync(dir);
    const put = (ip: string, content: string): void => fs.writeFileSync(path.join(dir, ip), content);
    put('10.0.0.2', 'c1\r\neth0');
    put('fd00::2', 'c1\r\neth0\n'); // trailing whitespace is trimmed, as the reference compares
    put('10.0.0.3', 'c1\r\neth1');
    put('10.0.0.4', 'c1'); // old format
    put('10.0.0.5', 'c2\r\neth0');
    withDiskStore(dataDir, 'net1', (s) => {
      assert.equal(s.findByAttachment('c1', 'eth0').sort(), ['10.0.0.2', '10.0.0.4', 'fd00::2']);
      assert.equal(s.releaseByAttachment('c1', 'eth0').sort(), ['10.0.0.2', 'fd00::2']);
      assert.equal(s.releaseByAttachment('c1', 'eth0'), ['10.0.0.4']);
      assert.equal(s.releaseByAttachment('c1', 'eth0'), []);
    });
    assert.equal(fs.readdirSync(dir).sort(), ['10.0.0.3', '10.0.0.5', 'lock']);
  });
});

test('release of a missing IP is not an error; release never touches non-IP names', () => {
  withTmp((dataDir) => {
    withDiskStore(dataDir, 'net1', (s) => {
      s.release('10.0.0.9');
      assert.throws(
        () => s.release('../escape'),
        (e: CniError) => e.code === ErrCode.Internal,
      );
      assert.throws(
        () => s.release('fd00:0::1'),
        (e: CniError) => e.code === ErrCode.Internal,
      );
    });
  });
});

test('foreign and corrupted entries are ignored by listAll but still block reservation', () => {
  withTmp((dataDir, dir) => {
    fs.mkdirSync(dir);
    const put = (name: string, content: string): void => fs.writeFileSync(path.join(dir, name), content);
    put('10.0.0.2', 'c1\r\neth0');
    put('notes.txt', 'c1\r\neth0'); // not an IP name
    put('fd00:0::9', 'c1\r\neth0'); // not the canonical text, so never ours
    put('10.0.0.3', ''); // empty
    put('10.0.0.4', 'a\r\nb\r\nc'); // not our format
    put('10.0.0.5', 'c1\r\n'); // trimmed to "c1": the reference reads this as the old format
    put('10.0.0.6', Buffer.from([0xff, 0xfe, 0x00]).toString('latin1'));
    fs.mkdirSync(path.join(dir, '10.0.0.7'));
    fs.writeFileSync(path.join(dir, '10.0.0.7', 'x'), 'c1\r\neth0'); // no recursion into subdirectories
    withDiskStore(dataDir, 'net1', (s) => {
      assert.equal(
        s.listAll().sort((a, b) => a.ip.localeCompare(b.ip)),
        [
          { ip: '10.0.0.2', containerId: 'c1', ifname: 'eth0' },
          { ip: '10.0.0.5', containerId: 'c1', ifname: '' },
        ],
      );
      assert.equal(s.releaseByAttachment('c1', 'eth0'), ['10.0.0.2']);
      for (const ip of ['10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.7']) {
        assert.ok(s.isReserved(ip), ip);
        assert.not.ok(s.reserve('c9', 'eth0', ip, 0), ip);
      }
      assert.equal(s.reservedIPs().sort(), ['10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.7']);
    });
    assert.ok(fs.existsSync(path.join(dir, 'notes.txt')));
    assert.ok(fs.existsSync(path.join(dir, 'fd00:0::9')));
  });
});

test('parseRecord: formats the reference writes, and nothing else', () => {
  assert.equal(parseRecord('10.0.0.1', ' c1\r\neth0 \n'), { ip: '10.0.0.1', containerId: 'c1', ifname: 'eth0' });
  assert.equal(parseRecord('10.0.0.1', 'c1'), { ip: '10.0.0.1', containerId: 'c1', ifname: '' });
  assert.is(parseRecord('10.0.0.1', 'c1\neth0'), undefined);
  assert.is(parseRecord('10.0.0.1', '   '), undefined);
  assert.is(parseRecord('10.0.0.1', 'c 1\r\neth0'), undefined);
  assert.is(parseRecord('10.0.0.1', 'c1\r\neth\x000'), undefined);
  assert.is(parseRecord('10.0.0.1', 'c1\r\n\r\neth0'), undefined);
  // trimming first (as the reference does) turns this into the old form of container "eth0"
  assert.equal(parseRecord('10.0.0.1', '\r\neth0'), { ip: '10.0.0.1', containerId: 'eth0', ifname: '' });
});

test('a symlink planted as an IP file is not followed, read, released or written through', () => {
  withTmp((dataDir, dir) => {
    fs.mkdirSync(dir);
    const target = path.join(dataDir, 'victim');
    fs.writeFileSync(target, 'c1\r\neth0');
    fs.symlinkSync(target, path.join(dir, '10.0.0.2'));
    fs.symlinkSync(path.join(dataDir, 'nowhere'), path.join(dir, '10.0.0.3')); // dangling
    withDiskStore(dataDir, 'net1', (s) => {
      assert.equal(s.listAll(), []);
      assert.equal(s.findByAttachment('c1', 'eth0'), []);
      assert.equal(s.releaseByAttachment('c1', 'eth0'), []);
      assert.not.ok(s.reserve('c2', 'eth0', '10.0.0.2', 0));
      assert.not.ok(s.reserve('c2', 'eth0', '10.0.0.3', 0));
    });
    assert.is(read(target), 'c1\r\neth0');
    assert.not.ok(fs.existsSync(path.join(dataDir, 'nowhere')));
    assert.ok(fs.lstatSync(path.join(dir, '10.0.0.2')).isSymbolicLink());
  });
});

test('a symlink planted as last_reserved_ip.N is replaced, its target untouched', () => {
  withTmp((dataDir, dir) => {
    fs.mkdirSync(dir);
    const target = path.join(dataDir, 'victim');
    fs.writeFileSync(target, '10.0.0.200');
    fs.symlinkSync(target, path.join(dir, 'last_reserved_ip.0'));
    withDiskStore(dataDir, 'net1', (s) => {
      assert.is(s.lastReservedIP(0), undefined); // not read through the link
      assert.ok(s.reserve('c1', 'eth0', '10.0.0.2', 0));
    });
    assert.is(read(target), '10.0.0.200');
    assert.not.ok(fs.lstatSync(path.join(dir, 'last_reserved_ip.0')).isSymbolicLink());
    assert.is(read(path.join(dir, 'last_reserved_ip.0')), '10.0.0.2');
  });
});

test('a FIFO named like an IP does not block the scan', () => {
  withTmp((dataDir, dir) => {
    fs.mkdirSync(dir);
    assert.is(spawnSync('mkfifo', [path.join(dir, '10.0.0.8')]).status, 0);
    withDiskStore(dataDir, 'net1', (s) => {
      assert.equal(s.listAll(), []);
      assert.ok(s.isReserved('10.0.0.8'));
    });
  });
});

test('a symlinked network directory is refused (IOFailure)', () => {
  withTmp((dataDir) => {
    const elsewhere = path.join(dataDir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.symlinkSync(elsewhere, path.join(dataDir, 'net1'));
    assert.throws(
      () => withDiskStore(dataDir, 'net1', () => undefined),
      (e: CniError) => e.code === ErrCode.IOFailure,
    );
    assert.throws(
      () => withDiskStore(dataDir, '../x', () => undefined),
      (e: CniError) => e.code === ErrCode.InvalidConfig,
    );
  });
});

test('bad attachment values are refused before anything is written', () => {
  withTmp((dataDir, dir) => {
    withDiskStore(dataDir, 'net1', (s) => {
      assert.throws(
        () => s.reserve('c1\r\nfake', 'eth0', '10.0.0.2', 0),
        (e: CniError) => e.code === ErrCode.InvalidEnv,
      );
      assert.throws(
        () => s.reserve('   ', 'eth0', '10.0.0.2', 0),
        (e: CniError) => e.code === ErrCode.InvalidEnv,
      );
      assert.throws(
        () => s.reserve('c1', '', '10.0.0.2', 0),
        (e: CniError) => e.code === ErrCode.InvalidEnv,
      );
      assert.throws(
        () => s.reserve('c 1', 'eth0', '10.0.0.2', 0),
        (e: CniError) => e.code === ErrCode.InvalidEnv,
      );
    });
    assert.equal(fs.readdirSync(dir), ['lock']);
  });
});

test('the store cannot be used once its lock is released', () => {
  withTmp((dataDir) => {
    const leaked = withDiskStore(dataDir, 'net1', (s) => s);
    assert.throws(
      () => leaked.listAll(),
      (e: CniError) => e.code === ErrCode.Internal,
    );
  });
});

test('the lock is <dir>/lock and excludes another flock holder (TryAgainLater after the timeout)', () => {
  withTmp((dataDir, dir) => {
    fs.mkdirSync(dir);
    const holder = spawn('flock', [path.join(dir, 'lock'), 'sleep', '5'], { stdio: 'ignore', detached: true });
    try {
      for (let i = 0; i < 200 && !fs.existsSync(path.join(dir, 'lock')); i++) sleepMs(10);
      sleepMs(100);
      assert.throws(
        () => withDiskStore(dataDir, 'net1', (s) => s.reserve('c1', 'eth0', '10.0.0.2', 0), { lockTimeoutMs: 200 }),
        (e: CniError) => e.code === ErrCode.TryAgainLater && e.message.includes(path.join(dir, 'lock')),
      );
      assert.not.ok(fs.existsSync(path.join(dir, '10.0.0.2')));
    } finally {
      process.kill(-holder.pid!, 'SIGKILL'); // flock and its sleep: the group we started
    }
  });
});

test.run();
