// mkdir -p, one component at a time. Node's recursive mkdirSync loops forever when mkdir answers
// ENOENT for a parent that exists (procfs does), and the IPAM store must never spin under its lock.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function mkdirp(dir: string, mode: number): void {
  const parts = path.resolve(dir).split('/').filter(Boolean);
  let cur = '';
  for (const part of parts) {
    cur += '/' + part;
    try {
      fs.mkdirSync(cur, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}
