// Whether a file root runs or relies on can have been changed by someone else. Trusted: owned by
// root (or by the user running us, who could change it anyway) and not writable by group or others;
// every directory on the way to it likewise (whoever may write a directory may replace its
// entries), except that a sticky directory (/tmp) may be world-writable: there only an entry's
// owner may rename or remove it. Symbolic links are followed, and the directories of their targets
// are checked too.
import * as fs from 'node:fs';
import * as path from 'node:path';

const MAX_LINKS = 40;
const S_ISVTX = 0o1000;

export const trustedUid = (uid: number): boolean => uid === 0 || uid === process.geteuid?.();

/** Why `st` (of `p`) is not trusted; undefined when it is. Directories may be sticky instead of unwritable. */
export function ownerProblem(p: string, st: fs.Stats): string | undefined {
  if (!trustedUid(st.uid)) return `${p} is owned by uid ${st.uid}, not root`;
  const sticky = st.isDirectory() && (st.mode & S_ISVTX) !== 0;
  if ((st.mode & 0o022) !== 0 && !sticky)
    return (
      `${p} is writable by ` +
      `${st.mode & 0o020 ? 'its group' : 'others'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`
    );
  return undefined;
}

/**
 * Why the path `p` (the file itself and every directory on the way, through symbolic links) is not
 * trusted; undefined when it is. A missing file is a problem too (ENOENT in the message).
 */
export function pathProblem(p: string): string | undefined {
  let links = 0;
  let todo = path.resolve(p).split('/').filter(Boolean);
  let dir = '/';
  try {
    let why = ownerProblem(dir, fs.statSync(dir));
    while (!why && todo.length) {
      const next = path.join(dir, todo[0]);
      const st = fs.lstatSync(next);
      if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) return `${p}: too many symbolic links`;
        // restart from the link's target: every directory of it is checked in turn
        const target = path.resolve(dir, fs.readlinkSync(next));
        todo = [...target.split('/').filter(Boolean), ...todo.slice(1)];
        dir = '/';
        continue;
      }
      why = ownerProblem(next, st);
      dir = next;
      todo = todo.slice(1);
    }
    return why;
  } catch (e) {
    return `${p}: ${(e as Error).message}`;
  }
}

/**
 * The first `cmd` in `dirs` that is an executable regular file and trusted (see pathProblem); one
 * that is not trusted is skipped, so a tool planted earlier on PATH is never run. Null when none.
 */
export function findTrustedTool(cmd: string, dirs: string[]): string | null {
  for (const dir of dirs) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (!fs.statSync(p).isFile()) continue;
    } catch {
      continue; // not here
    }
    if (!pathProblem(p)) return p;
  }
  return null;
}
