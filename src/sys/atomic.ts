// Atomic file replacement for directories a runtime reads concurrently: the new content is written
// under a temporary name in the same directory, fsync'd, given its mode, then renamed over the
// target, and the directory is fsync'd. A runtime exec'ing the binary or reading the config sees the
// old file or the new one, never a partial one, and never gets ETXTBSY (we never open the live
// file for writing). Temp names start with "." and end in ".tmp": libcni loads only .conf,
// .conflist and .json files, and nobody execs a dot file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomHex } from './hash';

/** Unique per writer: two installers on one node (rolling update) must not share a temp file. */
export function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomHex(4)}.tmp`);
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function finish(tmp: string, target: string, mode: number): void {
  const fd = fs.openSync(tmp, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
  try {
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, target);
  fsyncDir(path.dirname(target));
}

export function writeFileAtomic(target: string, data: string | Buffer, mode: number): void {
  const tmp = tempName(target);
  try {
    // O_EXCL|O_NOFOLLOW: never write through something planted at the temp name
    const fd = fs.openSync(
      tmp,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o600,
    );
    try {
      fs.writeFileSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    finish(tmp, target, mode);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function copyFileAtomic(src: string, target: string, mode: number): void {
  const tmp = tempName(target);
  try {
    // copy_file_range under the hood; EXCL so a file planted at the temp name is an error
    fs.copyFileSync(src, tmp, fs.constants.COPYFILE_EXCL);
    finish(tmp, target, mode);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Remove temp files a killed writer left behind (older than `ageMs`, so a live writer keeps its own). */
export function sweepTemps(dir: string, base: string, ageMs: number, now = Date.now()): string[] {
  const re = new RegExp(`^\\.${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.[0-9a-f]{8}\\.tmp$`);
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const n of names) {
    if (!re.test(n)) continue;
    const p = path.join(dir, n);
    try {
      if (now - fs.lstatSync(p).mtimeMs > ageMs) {
        fs.unlinkSync(p);
        removed.push(n);
      }
    } catch {
      /* gone meanwhile */
    }
  }
  return removed;
}
