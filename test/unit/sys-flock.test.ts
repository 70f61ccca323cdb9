// withFileLock's bounded blocking wait (tsb_sys.c flockWait): the kernel hands the lock over when
// the holder lets go, the bound still turns a stuck holder into "try again later", and the timer
// signal that enforces the bound leaves nothing behind.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, ErrCode } from '../../src/cni/errors';
import { sleepMs, withFileLock } from '../../src/sys/flock';
import { sys } from '../../src/sys/native';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11;

/** A `flock FILE sleep S` process holding the lock (its process group, to kill), once it holds it. */
function holder(file: string, seconds: number) {
  const p = spawn('flock', [file, 'sleep', String(seconds)], { stdio: 'ignore', detached: true });
  let exited = false;
  p.on('exit', () => {
    exited = true;
  });
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  try {
    for (let i = 0; i < 500; i++) {
      if (fs.existsSync(file) && sys().flock(fd, LOCK_EX | LOCK_NB) === EWOULDBLOCK) return { p, exited: () => exited };
      sys().flock(fd, LOCK_UN);
      sleepMs(10);
    }
  } finally {
    fs.closeSync(fd);
  }
  throw new Error('the holder never took the lock');
}

function withTmp(fn: (lock: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-flock-'));
    try {
      await fn(path.join(d, 'lock'));
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  };
}

test(
  'a waiter takes the lock when the holder lets go, well inside its bound',
  withTmp(async (lock) => {
    const h = holder(lock, 0.3);
    try {
      let ran = false;
      withFileLock(
        lock,
        () => {
          ran = true;
        },
        60_000,
      );
      assert.ok(ran);
      await new Promise((r) => setTimeout(r, 50)); // the exit event
      assert.ok(h.exited(), 'the holder was gone first');
    } finally {
      try {
        process.kill(-h.p.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }),
);

test(
  'a held lock is "try again later" after the bound, every time, and no timer signal is left to kill us',
  withTmp((lock) => {
    const h = holder(lock, 10);
    try {
      for (let i = 0; i < 3; i++) {
        assert.throws(
          () => withFileLock(lock, () => assert.unreachable('ran under a held lock'), 50),
          (e: CniError) => e.code === ErrCode.TryAgainLater && e.message.includes(lock),
        );
      }
      sleepMs(100); // a timer left armed would fire every 10 ms; its signal's default action ends the process
    } finally {
      process.kill(-h.p.pid!, 'SIGKILL');
    }
    let ran = false;
    for (let i = 0; i < 100 && !ran; i++) {
      try {
        withFileLock(
          lock,
          () => {
            ran = true;
          },
          1000,
        );
      } catch {
        sleepMs(10);
      }
    }
    assert.ok(ran, 'free again once the holder is killed');
  }),
);

test.run();
