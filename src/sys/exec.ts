// Runs a node tool (iptables, nft, conntrack for the firewall; the same and more for doctor)
// synchronously, so it forks in whatever netns the calling thread is in (see sys/netns.ts), found
// only among root-owned files (sys/owner.ts); failures become CNI errors a runtime can act on.
import { spawnSync } from 'node:child_process';
import { CniError, ErrCode } from '../cni/errors';
import { findTrustedTool } from './owner';

export interface ToolResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Bounds a hung tool; iptables-restore's own lock wait (-w 5) is far shorter. */
const TIMEOUT_MS = 30_000;
/** iptables-save on a node with many services prints megabytes. */
const MAX_BUFFER = 256 * 1024 * 1024;
// Runtimes often exec plugins with a PATH lacking the sbin directories these tools live in.
const FALLBACK_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];
const found = new Map<string, string | null>();

/**
 * Absolute path of an executable, from PATH and then the usual sbin/bin directories; null if none.
 * Only root-owned tools in root-owned directories count (sys/owner.ts): one planted earlier on PATH is skipped.
 */
export function which(cmd: string): string | null {
  let hit = found.get(cmd);
  if (hit !== undefined) return hit;
  hit = findTrustedTool(cmd, [
    ...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')),
    ...FALLBACK_DIRS,
  ]);
  found.set(cmd, hit);
  return hit;
}

/** Runs cmd with `input` on stdin; a missing binary or a timeout throws, any exit status returns. */
export function runTool(cmd: string, args: string[], input = ''): ToolResult {
  const exe = which(cmd);
  if (!exe)
    throw new CniError(ErrCode.FirewallFailure, `${cmd} not found (looked in PATH and ${FALLBACK_DIRS.join(':')})`);
  const r = spawnSync(exe, args, { input, encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: MAX_BUFFER });
  // EPIPE: the tool exited without reading all of stdin (it failed early); its status and
  // stderr are what matter then.
  if (r.error && !((r.error as NodeJS.ErrnoException).code === 'EPIPE' && r.status !== null)) {
    const e = r.error as NodeJS.ErrnoException;
    if (e.code === 'ETIMEDOUT') {
      throw new CniError(ErrCode.TryAgainLater, `${describe(cmd, args)} timed out after ${TIMEOUT_MS / 1000}s`);
    }
    throw new CniError(ErrCode.FirewallFailure, `${describe(cmd, args)} could not run: ${e.message}`);
  }
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Runs cmd and returns its stdout; a nonzero exit becomes toolError. */
export function runToolOk(cmd: string, args: string[], input = ''): string {
  const r = runTool(cmd, args, input);
  if (r.status !== 0) throw toolError(cmd, args, r, input);
  return r.stdout;
}

const LOCK_BUSY = /xtables lock|holding the xtables lock|Can't lock \/run\/xtables\.lock/i;

/** 11 (try again later) when another iptables user held the lock too long, else 106 with stderr. */
export function toolError(cmd: string, args: string[], r: ToolResult, input = ''): CniError {
  const stderr = r.stderr.trim();
  // nft names the failing statement on the line after its "Error:" line.
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const first = lines.length ? lines.slice(0, 2).join(' | ') : `exit status ${r.status}`;
  const details = input ? `${stderr}\n--- input ---\n${input}` : stderr;
  if (LOCK_BUSY.test(stderr)) {
    return new CniError(
      ErrCode.TryAgainLater,
      `${describe(cmd, args)}: xtables lock is busy, try again later: ${first}`,
      details,
    );
  }
  return new CniError(ErrCode.FirewallFailure, `${describe(cmd, args)} failed: ${first}`, details);
}

function describe(cmd: string, args: string[]): string {
  return [cmd, ...args].join(' ');
}
