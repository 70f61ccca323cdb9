// Opening a directory root keeps files in, such that no other user can redirect or rewrite what is
// done there. Every component from / down is opened relative to the one before (through
// /proc/self/fd/<fd>/<name>, as Node has no openat) with O_NOFOLLOW, and checked on the fd that was
// opened, so nothing can be swapped in between the check and the use. The caller then works
// relative to the returned fd (fdPath), never through the path again.
import * as fs from 'node:fs';
import * as path from 'node:path';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW; // libuv adds O_CLOEXEC
const S_ISVTX = 0o1000;

export interface DirFacts { uid: number; mode: number; isDirectory: boolean }

/**
 * Why a directory may not be trusted, or undefined. `strict` is for the directories the data lives
 * in: no one but root (or our own euid) may write there at all. A parent may be world-writable only
 * when sticky (like /tmp): then no one else can rename or remove the entry we go through next, and
 * that entry is itself checked to be ours and not a link, so the path cannot be redirected.
 */
export function dirProblem(st: DirFacts, strict: boolean, euid: number): string | undefined {
  if (!st.isDirectory) return 'is not a directory';
  if (st.uid !== 0 && st.uid !== euid) return `is owned by uid ${st.uid}, not root`;
  if ((st.mode & 0o022) === 0) return undefined;
  if (!strict && (st.mode & S_ISVTX) !== 0) return undefined;
  return `is writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
}

/** The path of `name` inside the directory open as `fd`; name must be one component. */
export function fdPath(fd: number, name: string): string {
  if (name !== '' && (name === '.' || name === '..' || name.includes('/') || name.includes('\0'))) {
    throw new Error(`not a single path component: ${JSON.stringify(name)}`);
  }
  return name === '' ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

export class UntrustedDirError extends Error {
  constructor(readonly dir: string, readonly problem: string) {
    super(`${dir} ${problem}`);
  }
}

function openChecked(at: string, shown: string, strict: boolean, euid: number): number {
  let fd: number;
  try {
    fd = fs.openSync(at, DIR_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new UntrustedDirError(shown, 'is a symbolic link');
    if (code === 'ENOTDIR') {
      let link = false;
      try {
        link = fs.lstatSync(at).isSymbolicLink();
      } catch {
        // gone meanwhile: report it as not a directory
      }
      throw new UntrustedDirError(shown, link ? 'is a symbolic link' : 'is not a directory');
    }
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    const problem = dirProblem({ uid: st.uid, mode: st.mode, isDirectory: st.isDirectory() }, strict, euid);
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
  /** Only for tests: the euid whose directories count as ours. */
  euid?: number;
}

/** Opens and checks the directory `name` inside the open directory `parentFd`; `shown` names it in errors. */
export function openTrustedChild(parentFd: number, name: string, shown: string, opts: ChildOptions): number {
  const euid = opts.euid ?? process.geteuid?.() ?? 0;
  const at = fdPath(parentFd, name);
  let created = false;
  if (opts.createMode !== undefined) {
    try {
      fs.mkdirSync(at, { mode: 0o700 }); // chmod'ed on the fd below: never briefly wider than asked
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const fd = openChecked(at, shown, opts.strict, euid);
  if (created) {
    try {
      fs.fchmodSync(fd, opts.createMode!);
      const st = fs.fstatSync(fd);
      const problem = dirProblem({ uid: st.uid, mode: st.mode, isDirectory: st.isDirectory() }, opts.strict, euid);
      if (problem) throw new UntrustedDirError(shown, problem);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }
  return fd;
}

/**
 * Opens the absolute directory `dir`, checking every component from / down (see dirProblem);
 * components from index `strictFrom` on (0 = the first below /) strictly, the others as parents.
 * Throws UntrustedDirError for a failed check, the system's error otherwise. The caller closes the fd.
 */
export function openTrustedDir(dir: string, strictFrom: number, opts: Omit<ChildOptions, 'strict'> = {}): number {
  if (!path.isAbsolute(dir)) throw new Error(`not an absolute path: ${dir}`);
  const euid = opts.euid ?? process.geteuid?.() ?? 0;
  const parts = path.resolve(dir).split('/').filter(Boolean);
  let fd = openChecked('/', '/', strictFrom < 0 || parts.length === 0, euid);
  let shown = '';
  try {
    parts.forEach((name, i) => {
      shown += '/' + name;
      const next = openTrustedChild(fd, name, shown, { ...opts, euid, strict: i >= strictFrom });
      fs.closeSync(fd);
      fd = next;
    });
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return fd;
}
