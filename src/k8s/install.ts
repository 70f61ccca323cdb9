// Puts tsbridge on a node: the binary into the CNI bin dir, then the conflist into the CNI conf dir
// (config last: runtimes take "a config exists" as "the network is ready"). Each step is skipped
// when the file already holds exactly what we would write, so a restart or a periodic check does
// not touch the files. Uninstall removes them again, only when they are ours.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BOOT_MARK } from '../ipam/boot-mark';
import { isCanonicalIP } from '../ip/addr';
import { copyFileAtomic, sweepTemps, writeFileAtomic } from '../sys/atomic';
import { pathProblem, trustedUid } from '../sys/owner';
import { isOurConflist } from './conflist';

export interface Logger {
  info(m: string): void;
  warn(m: string): void;
}

export interface InstallTarget {
  /** the binary to copy (normally this very executable) */
  source: string;
  binPath: string;
  confPath: string;
  conflist: string;
}

export type Change = 'written' | 'unchanged';

/**
 * Present in the code of every tsbridge build, so in every tsbridge binary: uninstall recognises a
 * tsbridge of another version as ours by it (bun build --compile keeps the source text in the binary).
 */
export const BINARY_MARKER = 'tsbridge:cni-binary-marker:v1';

const TEMP_MAX_AGE_MS = 10 * 60_000;

export function hashFile(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** True when the file contains `marker` (read in chunks overlapping by the marker's length). */
export function fileContains(file: string, marker: string): boolean {
  const m = Buffer.from(marker);
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  try {
    const buf = Buffer.allocUnsafe((4 << 20) + m.length);
    let keep = 0;
    for (let n; (n = fs.readSync(fd, buf, keep, buf.length - keep, null)) > 0; ) {
      const end = keep + n;
      if (buf.subarray(0, end).indexOf(m) >= 0) return true;
      keep = Math.min(m.length - 1, end);
      buf.copy(buf, 0, end - keep, end);
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

const stamp = (st: fs.Stats): string => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.mode}:${st.uid}`;

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function readOrUndefined(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Make `dir` a directory only root may change: created 0755 when missing, group/other write taken
 * away when it is ours; one owned by another user, or under such a directory, is refused (whoever
 * may write it may replace what we install there).
 */
export function ensureTrustedDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const st = fs.statSync(dir);
  if (st.isDirectory() && trustedUid(st.uid) && st.mode & 0o022 && !(st.mode & 0o1000))
    fs.chmodSync(dir, st.mode & 0o7755);
  const why = pathProblem(dir);
  if (why)
    throw new Error(
      `refusing to install into ${dir}: ${why}; make it (and its parents) root-owned and not ` +
        `group/other-writable, or choose another directory`,
    );
}

/** A file we wrote and nobody else can have changed since: ours, of the mode we give it. */
const trustedFile = (st: fs.Stats | undefined, mode: number): st is fs.Stats =>
  !!st?.isFile() && trustedUid(st.uid) && (st.mode & 0o7777) === mode;

export class Installer {
  private source?: { hash: string; size: number };
  /** stat stamp of the installed binary when we last knew it equal to the source: no re-hash until it changes */
  private verified?: string;

  constructor(readonly t: InstallTarget) {}

  /** Make the node hold our files: binary first, config last. */
  ensure(): { binary: Change; conflist: Change } {
    const binary = this.ensureBinary();
    return { binary, conflist: this.ensureConflist() };
  }

  private ensureBinary(): Change {
    const { source, binPath } = this.t;
    ensureTrustedDir(path.dirname(binPath));
    if (path.resolve(source) === path.resolve(binPath)) return 'unchanged';
    const st = lstatOrUndefined(binPath);
    if (st && stamp(st) === this.verified) return 'unchanged';
    if (!this.source) this.source = { hash: hashFile(source), size: fs.statSync(source).size };
    // the right bytes are not enough: a file another user owns (or may write) is rewritten
    if (trustedFile(st, 0o755) && st.size === this.source.size && hashFile(binPath) === this.source.hash) {
      this.verified = stamp(st);
      return 'unchanged';
    }
    sweepTemps(path.dirname(binPath), path.basename(binPath), TEMP_MAX_AGE_MS);
    copyFileAtomic(source, binPath, 0o755);
    this.verified = stamp(fs.lstatSync(binPath));
    return 'written';
  }

  private ensureConflist(): Change {
    const { confPath, conflist } = this.t;
    ensureTrustedDir(path.dirname(confPath));
    const st = lstatOrUndefined(confPath);
    if (trustedFile(st, 0o644) && readOrUndefined(confPath) === conflist) return 'unchanged';
    sweepTemps(path.dirname(confPath), path.basename(confPath), TEMP_MAX_AGE_MS);
    writeFileAtomic(confPath, conflist, 0o644);
    return 'written';
  }
}

export type Removal = 'removed' | 'absent' | 'kept (not ours)';

export interface UninstallTarget {
  binPath: string;
  confPath: string;
  network: string;
  /** our own binary: an installed file with the same bytes is ours */
  source?: string;
  /** remove the files even when they do not look like ours */
  force?: boolean;
}

/** Config first (the runtime stops using the network), then the binary. */
export function uninstall(t: UninstallTarget): { conflist: Removal; binary: Removal } {
  const conf = readOrUndefined(t.confPath);
  let conflist: Removal = 'absent';
  if (conf !== undefined) {
    conflist = t.force || isOurConflist(conf, t.network) ? 'removed' : 'kept (not ours)';
    if (conflist === 'removed') fs.rmSync(t.confPath, { force: true });
  }
  let binary: Removal = 'absent';
  const st = lstatOrUndefined(t.binPath);
  if (st) {
    const ours =
      t.force ||
      (st.isFile() &&
        ((t.source !== undefined &&
          path.resolve(t.source) !== path.resolve(t.binPath) &&
          hashFile(t.source) === hashFile(t.binPath)) ||
          fileContains(t.binPath, BINARY_MARKER)));
    binary = ours ? 'removed' : 'kept (not ours)';
    if (ours) fs.rmSync(t.binPath, { force: true });
  }
  return { conflist, binary };
}

/** A CNI network name: letters, digits, "_", ".", "-", not starting with "." or "-" (so never "", "..", or a path). */
export const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Remove host-local's reservations of `network` (`<dataDir>/<network>`), for after the node's pods are
 * gone. Only files of host-local's layout are removed (`lock`, `last_reserved_ip.N`, and addresses
 * in canonical text: not "1" or "0x1f", which ipaddr.js would also take; tsbridge's boot mark);
 * anything else keeps the directory.
 */
export function purgeIpam(dataDir: string, network: string): { removed: number; kept: string[] } {
  if (!NETWORK_NAME.test(network)) throw new Error(`"${network}" is not a network name`);
  const dir = path.join(dataDir, network);
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort(); // stable report order under any runtime
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { removed: 0, kept: [] };
    throw e;
  }
  const kept: string[] = [];
  let removed = 0;
  for (const n of names) {
    const p = path.join(dir, n);
    const ipamFile = n === 'lock' || n === BOOT_MARK || /^last_reserved_ip\.\d+$/.test(n) || isCanonicalIP(n);
    if (ipamFile && fs.lstatSync(p).isFile()) {
      fs.unlinkSync(p);
      removed++;
    } else {
      kept.push(n);
    }
  }
  if (!kept.length) fs.rmdirSync(dir);
  return { removed, kept };
}
