// What the DaemonSet's exec probes read: each long-running job (install --watch, the route agent)
// records its last attempt and last success in a small JSON file in its own emptyDir, and
// `tsbridge probe` judges it. No network listener: nothing on the node's network to reach or guard.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../sys/atomic';

/** A file the job verified: the probe checks it is still the same (installed files "in place and current"). */
export interface FileMark {
  path: string;
  sha256?: string;
  stamp?: string;
}

export interface JobStatus {
  job: 'install' | 'routes';
  /** ms since the epoch: the process's event loop turned (liveness; a heartbeat each period) */
  aliveAt: number;
  /** ms since the epoch: its last check or sync that succeeded (readiness) */
  okAt?: number;
  /** how old aliveAt/okAt may be: the job's period and some slack */
  maxAgeMs: number;
  /** why the last attempt failed (or what the job is waiting for) */
  error?: string;
  files?: FileMark[];
}

/** A period's allowance: one missed tick, plus slack for a slow node. */
export const maxAgeFor = (periodMs: number): number => 2 * periodMs + 15_000;

/** inode, size, ctime: any write, replacement or chmod of the file changes it (no 100 MB re-hash per probe). */
export function fileStamp(st: fs.Stats): string {
  return `${st.ino}:${st.size}:${st.ctimeMs}`;
}

export const sha256 = (b: Buffer | string): string => crypto.createHash('sha256').update(b).digest('hex');

/** The mark of a file as it is now, or undefined when it is missing. */
export function markNow(file: string, how: 'sha256' | 'stamp'): FileMark | undefined {
  try {
    return how === 'sha256'
      ? { path: file, sha256: sha256(fs.readFileSync(file)) }
      : { path: file, stamp: fileStamp(fs.lstatSync(file)) };
  } catch {
    return undefined;
  }
}

export class StatusWriter {
  private okAt?: number;
  private error?: string;
  private files?: FileMark[];
  /** `periodMs`: the job's period; the heartbeat runs at half of it while the process lives. */
  constructor(
    private readonly file: string,
    private readonly job: JobStatus['job'],
    private readonly periodMs: number,
  ) {
    setInterval(() => this.write(), Math.max(1000, periodMs / 2)).unref();
  }

  /** Record one attempt; `error` undefined means it succeeded. Never throws (a probe then fails: stale). */
  record(error?: string, files?: FileMark[]): void {
    if (error === undefined) this.okAt = Date.now();
    this.error = error;
    if (files) this.files = files;
    this.write();
  }

  private write(): void {
    const st: JobStatus = {
      job: this.job,
      aliveAt: Date.now(),
      maxAgeMs: maxAgeFor(this.periodMs),
      ...(this.okAt ? { okAt: this.okAt } : {}),
      ...(this.error ? { error: this.error } : {}),
      ...(this.files ? { files: this.files } : {}),
    };
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o755 });
      writeFileAtomic(this.file, JSON.stringify(st) + '\n', 0o644);
    } catch {
      /* the probe sees a stale status and says so */
    }
  }
}

/**
 * Why the job is not healthy, or '' when it is. Pure but for `current` (how a file is now).
 * live: the heartbeat is within maxAgeMs. ready: also the last success is that recent, and every
 * verified file is unchanged since.
 */
export function probeProblem(
  st: JobStatus,
  now: number,
  live: boolean,
  current: (m: FileMark) => FileMark | undefined,
): string {
  const age = (t: number): string => `${((now - t) / 1000).toFixed(0)}s ago`;
  if (now - st.aliveAt > st.maxAgeMs)
    return `${st.job}: last heartbeat ${age(st.aliveAt)} (allowed ${st.maxAgeMs / 1000}s): stuck or gone`;
  if (live) return '';
  if (st.okAt === undefined)
    return (
      `${st.job}: no successful ` +
      `${st.job === 'routes' ? 'route sync' : 'install check'} yet${st.error ? ` (${st.error})` : ''}`
    );
  if (now - st.okAt > st.maxAgeMs)
    return (
      `${st.job}: last success ${age(st.okAt)} (allowed ` +
      `${st.maxAgeMs / 1000}s)${st.error ? `; last error: ${st.error}` : ''}`
    );
  for (const m of st.files ?? []) {
    const c = current(m);
    if (!c) return `${m.path} is missing`;
    if ((m.sha256 && c.sha256 !== m.sha256) || (m.stamp && c.stamp !== m.stamp))
      return `${m.path} changed since the last check`;
  }
  return '';
}

/** Read and check a status file: '' healthy, else why not. */
export function probeStatusFile(file: string, live: boolean, now = Date.now()): string {
  let st: JobStatus;
  try {
    st = JSON.parse(fs.readFileSync(file, 'utf8')) as JobStatus;
  } catch (e) {
    return `no status in ${file}: ${(e as Error).message}`;
  }
  if (typeof st?.aliveAt !== 'number' || typeof st.maxAgeMs !== 'number') return `${file}: not a status file`;
  return probeProblem(st, now, live, (m) => markNow(m.path, m.sha256 ? 'sha256' : 'stamp'));
}
