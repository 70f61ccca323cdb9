// Host port conflicts are found by reading the rules and then writing ours; two tsbridge ADDs
// mapping the same port at the same moment could both read "free". This node-wide lock makes
// read-check-write one step among tsbridge processes (it costs nothing without port mappings:
// only ADDs with mappings take it). Where /run is not writable, the check runs unlocked.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withFileLock } from '../sys/flock';
import { log } from '../log';

const PORTMAP_LOCK = '/run/tsbridge/portmap.lock';

export function withPortmapLock<T>(fn: () => T, lockPath = PORTMAP_LOCK): T {
  try {
    fs.mkdirSync(path.dirname(lockPath), { recursive: true, mode: 0o755 });
    fs.closeSync(fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o644));
  } catch (e) {
    log.warn(`cannot use ${lockPath} (${(e as Error).message}); checking host ports without the lock`);
    return fn();
  }
  return withFileLock(lockPath, fn);
}
