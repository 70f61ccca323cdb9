// host-local's on-disk store, byte for byte, so the reference plugin and tsbridge can share a
// network directory (and a node can switch between them):
//   <dataDir>/<network>/            0755
//   <ip text>                       0600 (upstream since 1.4.0), "<containerID>\r\n<ifname>", written whole as
//                                   .tsbridge-staging, then linked to its name (EEXIST = taken, as O_EXCL)
//   last_reserved_ip.<set index>    the last IP handed out in that range set (0600 when created)
//   lock                            flock(LOCK_EX) around every ADD/DEL/GC
//   tsbridge-boot                   ours only: which records died with an earlier boot (boot-mark.ts)
// The directories must be root's and not writable by others (sys/trusted-dir.ts); the network
// directory is opened once and every file is reached through that fd, never through the path again.
// A DiskStore exists only inside withDiskStore(), i.e. while the lock is held, and is unusable after.
// Nothing here follows a symlink, blocks on a FIFO, or names a file outside the directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, ErrCode } from '../cni/errors';
import { log } from '../log';
import { withFileLock } from '../sys/flock';
import { fdPath, openTrustedChild, openTrustedDir, UntrustedDirError } from '../sys/trusted-dir';
import {
  BOOT_MARK,
  deadReservations,
  FileId,
  formatEntry,
  formatMark,
  isBootId,
  markBoot,
  parseMark,
  shouldCompact,
} from './boot-mark';
import { validateNetworkName } from './config';
import { ipToString, isCanonicalIP, tryParseIP } from '../ip/addr';
import { ATTACHMENT_PART, checkAttachment, ipsOfAttachment, Reservation, selectForRelease, Store } from './store';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
const MAX_MARK = 16 * 1024 * 1024;
const LAST_IP_PREFIX = 'last_reserved_ip.';
/** A record being written (not an address name, so host-local and tsbridge never take it for one). */
const STAGING = '.tsbridge-staging';
const LINE_BREAK = '\r\n';
// Records are an ID and an interface name; anything much larger is not one of ours.
const MAX_RECORD = 64 * 1024;

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

function ioError(what: string, e: unknown): CniError {
  return new CniError(ErrCode.IOFailure, `${what}: ${(e as Error)?.message ?? String(e)}`);
}

/** The file's text (its first `max` bytes) if it is a regular file we can read without following a link. */
function readSmallFile(file: string, max = MAX_RECORD, head = false): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || (st.size > max && !head)) return undefined;
    const size = Math.min(st.size, max);
    const buf = Buffer.alloc(size);
    const n = fs.readSync(fd, buf, 0, size, 0);
    return buf.toString('utf8', 0, n);
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads `<id>\r\n<ifname>` or the old `<id>`, whitespace-trimmed first as the reference compares
 * (so "c1\r\n" is the old form of c1). Anything else is foreign and never released or GC'd by us.
 */
export function parseRecord(ip: string, content: string): Reservation | undefined {
  const text = content.trim();
  const at = text.indexOf(LINE_BREAK);
  const [containerId, ifname] = at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + LINE_BREAK.length)];
  if (!ATTACHMENT_PART.test(containerId) || (at >= 0 && !ATTACHMENT_PART.test(ifname))) return undefined;
  return { ip, containerId, ifname };
}

/** This boot's ID from the kernel; null when it cannot be read (then no boot marks are kept). */
export function kernelBootId(): string | null {
  try {
    const text = fs.readFileSync(BOOT_ID_PATH, 'utf8').trim(); // procfs: no link or FIFO to fear
    return isBootId(text) ? text : null;
  } catch {
    return null;
  }
}

// 'current': the mark is this boot's, entries may be appended. 'absent': no mark, the first
// record creates it. 'off': no boot ID, or the mark could not be made this boot's: never append
// (an entry under an older boot's ID would later be taken for a dead record).
type MarkState = 'unknown' | 'current' | 'absent' | 'off';

class DiskStore implements Store {
  private names?: Set<string>; // directory listing, valid while we hold the lock
  private markState: MarkState = 'unknown';
  usable = true;

  /** `dirFd` is the open network directory `dir` (shown in messages); bootId null = no marks. */
  constructor(
    private readonly dirFd: number,
    readonly dir: string,
    private readonly bootId: string | null,
  ) {}

  /** Where `name` is reached: through the directory's fd, never through the path. */
  private at(name: string): string {
    if (!this.usable) throw new CniError(ErrCode.Internal, 'host-local store used after its lock was released');
    return fdPath(this.dirFd, name);
  }

  private shown(name: string): string {
    return path.join(this.dir, name);
  }

  private ipFile(ip: string): string {
    if (!isCanonicalIP(ip)) throw new CniError(ErrCode.Internal, `not a canonical IP: ${JSON.stringify(ip)}`);
    return this.at(ip);
  }

  private listing(): Set<string> {
    if (!this.names) {
      const dir = this.at('');
      try {
        // sorted, as Node's readdir (libuv) returned them: Bun's is in raw
        // directory order, and GC, doctor and CHECK report records in this order
        this.names = new Set(fs.readdirSync(dir).sort());
      } catch (e) {
        throw ioError(`cannot list ${this.dir}`, e);
      }
    }
    return this.names;
  }

  reserve(containerId: string, ifname: string, ip: string, rangeSetIndex: number): boolean {
    checkAttachment(containerId, ifname);
    const file = this.ipFile(ip);
    if (this.listing().has(ip)) return false;
    // The record is written whole under a staging name, then linked to its address's name (link
    // fails with EEXIST like O_EXCL): a kill -9 at any moment leaves either no record or a complete
    // one, never an empty file that no DEL can match (host-local's O_EXCL-then-write can). A staged
    // file left by a killed writer is removed by the next ADD, DEL, GC or STATUS (under the lock).
    this.unlinkQuiet(STAGING);
    let id: FileId;
    try {
      const fd = fs.openSync(this.at(STAGING), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o600);
      try {
        fs.fchmodSync(fd, 0o600); // upstream's mode whatever the runtime's umask
        fs.writeSync(fd, containerId.trim() + LINE_BREAK + ifname);
      } finally {
        fs.closeSync(fd);
      }
      fs.linkSync(this.at(STAGING), file);
      const st = fs.statSync(file, { bigint: true });
      id = { ino: st.ino, mtimeNs: st.mtimeNs };
    } catch (e) {
      this.unlinkQuiet(STAGING);
      if (errno(e) === 'EEXIST') {
        this.listing().add(ip);
        return false;
      }
      throw ioError(`cannot create ${this.shown(ip)}`, e);
    }
    this.unlinkQuiet(STAGING);
    try {
      this.listing().add(ip);
      this.writeLastReserved(rangeSetIndex, ip);
    } catch (e) {
      this.unlinkQuiet(ip);
      throw e instanceof CniError ? e : ioError(`cannot write ${this.shown(ip)}`, e);
    }
    this.noteInMark(ip, id);
    return true;
  }

  private writeLastReserved(rangeSetIndex: number, ip: string): void {
    const name = LAST_IP_PREFIX + rangeSetIndex;
    const file = this.at(name);
    const write = (): void => {
      // 0600 when created, an existing file keeps its mode: upstream's os.WriteFile. O_NONBLOCK: a FIFO must not block
      // us.
      const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK, 0o600);
      try {
        fs.writeSync(fd, ip);
      } finally {
        fs.closeSync(fd);
      }
    };
    try {
      write();
    } catch (e) {
      if (errno(e) !== 'ELOOP') throw ioError(`cannot write ${this.shown(name)}`, e);
      // A symlink planted in our place: replace the link itself, never write through it.
      try {
        fs.unlinkSync(file);
        write();
      } catch (e2) {
        throw ioError(`cannot write ${this.shown(name)}`, e2);
      }
    }
  }

  lastReservedIP(rangeSetIndex: number): string | undefined {
    const text = readSmallFile(this.at(LAST_IP_PREFIX + rangeSetIndex));
    const ip = text === undefined ? undefined : tryParseIP(text.trim());
    return ip && ipToString(ip);
  }

  private unlinkQuiet(name: string): void {
    try {
      fs.unlinkSync(this.at(name));
    } catch {
      // best effort: the caller is already failing
    }
    this.names?.delete(name);
  }

  release(ip: string): void {
    const file = this.ipFile(ip);
    try {
      fs.unlinkSync(file);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw ioError(`cannot remove ${this.shown(ip)}`, e);
    }
    this.names?.delete(ip);
  }

  /** Frees as much as it can (DEL must make progress), then reports the first failure. */
  /** A staging file seen under the lock was left by a writer killed mid-reserve: remove it. */
  sweepStaging(): void {
    if (this.listing().has(STAGING)) this.unlinkQuiet(STAGING);
  }

  releaseByAttachment(containerId: string, ifname: string): string[] {
    this.sweepStaging();
    const freed: string[] = [];
    let failure: unknown;
    for (const r of selectForRelease(this.listAll(), containerId, ifname)) {
      try {
        this.release(r.ip);
        freed.push(r.ip);
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure) throw failure;
    return freed;
  }

  findByAttachment(containerId: string, ifname: string): string[] {
    return ipsOfAttachment(this.listAll(), containerId, ifname);
  }

  listAll(): Reservation[] {
    const out: Reservation[] = [];
    for (const name of this.listing()) {
      if (!isCanonicalIP(name)) continue;
      const content = readSmallFile(this.at(name));
      const r = content === undefined ? undefined : parseRecord(name, content);
      if (r) out.push(r);
    }
    return out;
  }

  reservedIPs(): string[] {
    return [...this.listing()].filter(isCanonicalIP);
  }

  isReserved(ip: string): boolean {
    this.ipFile(ip);
    return this.listing().has(ip);
  }

  /**
   * The first ADD, GC or STATUS of a boot: releases the records the mark lists from an earlier boot
   * (see boot-mark.ts) and restarts the mark for this boot. Cheap when the mark is this boot's: one
   * read of its first line. Returns the IPs released.
   */
  releaseEarlierBoots(): string[] {
    if (this.markState !== 'unknown') return [];
    if (this.bootId === null) {
      this.markState = 'off';
      return [];
    }
    const file = this.at(BOOT_MARK);
    const head = readSmallFile(file, 128, true);
    if (head === undefined && !this.listing().has(BOOT_MARK)) {
      this.markState = 'absent'; // a new store, or one only the reference wrote: nothing of ours to release
      return [];
    }
    if (head !== undefined && markBoot(head) === this.bootId) {
      this.markState = 'current';
      return [];
    }
    const text = head === undefined ? undefined : readSmallFile(file, MAX_MARK);
    const mark = text === undefined ? undefined : parseMark(text);
    const freed: string[] = [];
    if (mark) {
      const files = new Map<string, FileId>();
      for (const e of mark.entries) {
        if (!isCanonicalIP(e.ip) || !this.listing().has(e.ip) || files.has(e.ip)) continue;
        const content = readSmallFile(this.at(e.ip));
        if (content === undefined || !parseRecord(e.ip, content)) continue; // only well-formed records are ours to free
        try {
          const st = fs.lstatSync(this.at(e.ip), { bigint: true });
          if (st.isFile()) files.set(e.ip, { ino: st.ino, mtimeNs: st.mtimeNs });
        } catch {
          // gone meanwhile
        }
      }
      for (const ip of deadReservations(mark, this.bootId, files)) {
        try {
          this.release(ip);
          freed.push(ip);
        } catch (e) {
          log.warn(`cannot release ${ip}, reserved in an earlier boot: ${(e as Error).message}`);
        }
      }
      if (freed.length)
        log.info(`released ${freed.length} reservation(s) of an earlier boot in ${this.dir}: ${freed.join(', ')}`);
    } else {
      log.warn(
        `${this.shown(BOOT_MARK)} is not a boot mark; it is replaced and nothing it may have listed is released`,
      );
    }
    this.markState = this.rewriteMark([]) ? 'current' : 'off';
    return freed;
  }

  /** Replaces the mark (write aside, rename over: a link or a torn write is never left in its place). */
  private rewriteMark(entries: { ip: string; ino: bigint; mtimeNs: bigint }[]): boolean {
    const tmp = `${BOOT_MARK}.tmp`;
    try {
      this.unlinkQuiet(tmp);
      const fd = fs.openSync(this.at(tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o600);
      try {
        fs.writeSync(fd, formatMark({ bootId: this.bootId!, entries }));
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(this.at(tmp), this.at(BOOT_MARK));
      this.names?.add(BOOT_MARK);
      return true;
    } catch (e) {
      this.unlinkQuiet(tmp);
      log.warn(
        `cannot write ${this.shown(BOOT_MARK)}; reservations of this boot will not be released after a ` +
          `reboot: ${(e as Error).message}`,
      );
      return false;
    }
  }

  /** Lists a record we created in this boot's mark. A failure only means the record may leak after a reboot. */
  private noteInMark(ip: string, id: FileId): void {
    this.releaseEarlierBoots(); // never append to an earlier boot's mark
    const line = formatEntry({ ip, ...id });
    if (this.markState === 'absent') {
      this.markState = this.rewriteMark([{ ip, ...id }]) ? 'current' : 'off';
      return;
    }
    if (this.markState !== 'current') return;
    const file = this.at(BOOT_MARK);
    let size: number;
    try {
      const fd = fs.openSync(file, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK);
      try {
        if (!fs.fstatSync(fd).isFile()) throw new Error('not a regular file');
        fs.writeSync(fd, line);
        size = fs.fstatSync(fd).size;
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      log.warn(
        `cannot add ${ip} to ${this.shown(BOOT_MARK)}; it will not be released after a reboot: ` +
          `${(e as Error).message}`,
      );
      this.markState = 'off';
      return;
    }
    if (shouldCompact(size, this.listing().size)) {
      // the listing's size: O(1), records plus a few others
      const mark = parseMark(readSmallFile(file, MAX_MARK) ?? '');
      if (mark?.bootId === this.bootId) this.rewriteMark(mark.entries.filter((e) => this.listing().has(e.ip)));
    }
  }
}

export type { DiskStore };

export interface StoreOptions {
  lockTimeoutMs?: number;
  /** Release the records of earlier boots before fn runs (ADD, GC, STATUS). */
  releaseEarlierBoots?: boolean;
  /** This boot's ID; read from the kernel when not given. Tests pass one to play several boots. */
  bootId?: string | null;
}

function storeDirError(e: unknown, fallback: string): CniError {
  if (e instanceof UntrustedDirError) {
    return new CniError(
      ErrCode.IOFailure,
      `IPAM store directory ${e.problem}: another user could forge or remove ` +
        `reservations there. Use a dataDir whose every directory is root's and not writable by others ` +
        `(chown root ${e.dir}; chmod go-w ${e.dir}), without symbolic links`,
    );
  }
  return e instanceof CniError ? e : ioError(`cannot use ${fallback}`, e);
}

/**
 * Opens `<dataDir>/<network>` (created 0755 if missing) after checking every directory on the way:
 * dataDir and the network directory must be root's and writable by no one else; parents too, or
 * sticky like /tmp; no symlink anywhere. Returns the directory's fd.
 */
export function openNetworkDir(dataDir: string, network: string): number {
  validateNetworkName(network);
  const dir = path.join(dataDir, network);
  let dataFd: number;
  try {
    dataFd = openTrustedDir(dataDir, path.resolve(dataDir).split('/').filter(Boolean).length - 1, {
      createMode: 0o755,
    });
  } catch (e) {
    throw storeDirError(e, dataDir);
  }
  try {
    return openTrustedChild(dataFd, network, dir, { strict: true, createMode: 0o755 });
  } catch (e) {
    throw storeDirError(e, dir);
  } finally {
    fs.closeSync(dataFd);
  }
}

/** Runs fn with the network's store under one hold of `<dir>/lock`: one ADD, DEL or GC = one lock. */
export function withDiskStore<T>(
  dataDir: string,
  network: string,
  fn: (store: DiskStore) => T,
  opts: StoreOptions = {},
): T {
  const dirFd = openNetworkDir(dataDir, network);
  const dir = path.join(dataDir, network);
  try {
    // read before the lock: less time holding it
    const bootId = opts.bootId !== undefined ? opts.bootId : kernelBootId();
    return withFileLock(
      fdPath(dirFd, 'lock'),
      () => {
        const store = new DiskStore(dirFd, dir, bootId);
        try {
          if (opts.releaseEarlierBoots) {
            store.sweepStaging();
            store.releaseEarlierBoots();
          }
          return fn(store);
        } finally {
          store.usable = false;
        }
      },
      opts.lockTimeoutMs,
      path.join(dir, 'lock'),
    );
  } finally {
    fs.closeSync(dirFd);
  }
}
