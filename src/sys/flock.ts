// flock(2) with a bounded wait, compatible with Go's host-local (which flocks `<dir>/lock`):
// two plugins locking the same file exclude each other. The wait blocks in the kernel (so a waiter
// gets the lock as soon as it is released) with a bound (tsb_sys.c flockWait), so a stuck holder
// turns into CNI error 11 ("try again later") before the runtime's timeout.
import * as fs from 'node:fs';
import { CniError, ErrCode } from '../cni/errors';
import { log } from '../log';
import { sys } from './native';

const LOCK_UN = 8;
const EWOULDBLOCK = 11;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** `shown` names the lock in errors when lockPath is not what the user knows it as (a /proc/self/fd path). */
export function withFileLock<T>(lockPath: string, fn: () => T, timeoutMs = 10_000, shown = lockPath): T {
  let fd: number;
  try {
    fd = fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o644);
  } catch (e) {
    throw new CniError(
      ErrCode.IOFailure,
      `cannot open lock ${shown}: ${(e as Error).message.replace(lockPath, shown)}`,
    );
  }
  try {
    const t0 = performance.now();
    const err = sys().flockWait(fd, timeoutMs);
    if (err === EWOULDBLOCK)
      throw new CniError(ErrCode.TryAgainLater, `${shown} is held by another process for over ${timeoutMs} ms`);
    if (err !== 0) throw new CniError(ErrCode.IOFailure, `cannot lock ${shown}: errno ${err}`);
    const t1 = performance.now();
    try {
      return fn();
    } finally {
      sys().flock(fd, LOCK_UN);
      // after the release: logging is not the next waiter's time
      log.debug(`lock ${shown}: waited ${(t1 - t0).toFixed(1)}ms, held ${(performance.now() - t1).toFixed(1)}ms`);
    }
  } finally {
    fs.closeSync(fd);
  }
}
