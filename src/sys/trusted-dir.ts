// Opening a directory root keeps files in, such that no other user can redirect or rewrite what is
// done there. Every component from / down is opened relative to the one before (through
// /proc/self/fd/<fd>/<name>, as Node has no openat) with O_NOFOLLOW, and checked on the fd that was
// opened, so nothing can be swapped in between the check and the use. The caller then works
// relative to the returned fd (fdPath), never through the path again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ownerProblem } from './owner';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW; // libuv adds O_CLOEXEC

/**
 * Why a directory may not be trusted (the text names it as `shown`), or undefined: owner.ts's rule
 * (root's or our euid's, not group/other-writable; a sticky directory like /tmp may be
 * world-writable: only an entry's owner may rename or remove it there, and the entry we go through
 * next is checked in turn). `strict` is for the directories the data lives in, where the sticky bit
 * is not enough: anyone could still add files (forged reservations) there.
 */
export function dirProblem(shown: string, st: fs.Stats, strict: boolean): string | undefined {
  if (!st.isDirectory()) return `${shown} is not a directory`;
  if (!strict) return ownerProblem(shown, st);
  // owner.ts exempts only sticky directories: asked as for a plain file, the exemption is off
  return ownerProblem(shown, { uid: st.uid, mode: st.mode, isDirectory: () => false } as fs.Stats);
}

/** The path of `name` inside the directory open as `fd`; name must be one component. */
export function fdPath(fd: number, name: string): string {
  if (name !== '' && (name === '.' || name === '..' || name.includes('/') || name.includes('\0'))) {
    throw new Error(`not a single path component: ${JSON.stringify(name)}`);
  }
  return name === '' ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** `problem` names the directory: "<dir> is ...". */
export class UntrustedDirError extends Error {
  constructor(
    readonly dir: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

function openChecked(at: string, shown: string, strict: boolean): number {
  let fd: number;
  try {
    fd = fs.openSync(at, DIR_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new UntrustedDirError(shown, `${shown} is a symbolic link`);
    if (code === 'ENOTDIR') {
      let link = false;
      try {
        link = fs.lstatSync(at).isSymbolicLink();
      } catch {
        // gone meanwhile: report it as not a directory
      }
      throw new UntrustedDirError(shown, `${shown} ${link ? 'is a symbolic link' : 'is not a directory'}`);
    }
    throw e;
  }
  try {
    const problem = dirProblem(shown, fs.fstatSync(fd), strict);
    if (problem) throw new UntrustedDirError(shown, problem);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return fd;
}

export interface ChildOptions {
  /** Checked as a directory data lives in (see dirProblem), not as a parent. */
  strict: boolean;
  /** Create it if missing, with exactly this mode (umask does not apply). */
  createMode?: number;
}

/** Opens and checks the directory `name` inside the open directory `parentFd`; `shown` names it in errors. */
export function openTrustedChild(parentFd: number, name: string, shown: string, opts: ChildOptions): number {
  const at = fdPath(parentFd, name);
  if (opts.createMode === undefined) return openChecked(at, shown, opts.strict);
  // opened first, made only when missing: the usual case (it exists) raises no error at all
  const existing = openIfPresent(at, shown, opts.strict);
  if (existing >= 0) return existing;
  try {
    fs.mkdirSync(at, { mode: 0o700 }); // chmod'ed on the fd below: never briefly wider than asked
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return openChecked(at, shown, opts.strict); // made meanwhile by someone else: checked as found
  }
  const fd = openChecked(at, shown, opts.strict);
  try {
    fs.fchmodSync(fd, opts.createMode);
    const problem = dirProblem(shown, fs.fstatSync(fd), opts.strict);
    if (problem) throw new UntrustedDirError(shown, problem);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return fd;
}

/** openChecked, or -1 when nothing is there. */
function openIfPresent(at: string, shown: string, strict: boolean): number {
  try {
    return openChecked(at, shown, strict);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return -1;
    throw e;
  }
}

/**
 * Opens the absolute directory `dir`, checking every component from / down (see dirProblem);
 * components from index `strictFrom` on (0 = the first below /) strictly, the others as parents.
 * Throws UntrustedDirError for a failed check, the system's error otherwise. The caller closes the fd.
 */
export function openTrustedDir(dir: string, strictFrom: number, opts: Omit<ChildOptions, 'strict'> = {}): number {
  if (!path.isAbsolute(dir)) throw new Error(`not an absolute path: ${dir}`);
  const parts = path.resolve(dir).split('/').filter(Boolean);
  let fd = openChecked('/', '/', strictFrom < 0 || parts.length === 0);
  let shown = '';
  try {
    parts.forEach((name, i) => {
      shown += '/' + name;
      const next = openTrustedChild(fd, name, shown, { ...opts, strict: i >= strictFrom });
      fs.closeSync(fd);
      fd = next;
    });
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return fd;
}
