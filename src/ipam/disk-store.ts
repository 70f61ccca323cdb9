// host-local's on-disk store, byte for byte, so the reference plugin and tsbridge can share a
// network directory (and a node can switch between them):
//   <dataDir>/<network>/            0755
//   <ip text>                       0644, created O_EXCL, content "<containerID>\r\n<ifname>"
//   last_reserved_ip.<set index>    the last IP handed out in that range set
//   lock                            flock(LOCK_EX) around every ADD/DEL/GC
// A DiskStore exists only inside withDiskStore(), i.e. while the lock is held, and is unusable after.
// Nothing here follows a symlink, blocks on a FIFO, or names a file outside the directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, ErrCode } from '../cni/errors';
import { withFileLock } from '../sys/flock';
import { validateNetworkName } from './config';
import { ipToString, tryParseIP } from './ip';
import { ATTACHMENT_PART, checkAttachment, matchesAttachment, Reservation, selectForRelease, Store } from './store';
import { mkdirp } from '../sys/mkdirp';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const LAST_IP_PREFIX = 'last_reserved_ip.';
const LINE_BREAK = '\r\n';
// Records are an ID and an interface name; anything much larger is not one of ours.
const MAX_RECORD = 64 * 1024;

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

function ioError(what: string, e: unknown): CniError {
  return new CniError(ErrCode.IOFailure, `${what}: ${(e as Error)?.message ?? String(e)}`);
}

/** The file's text if it is a regular file we can read without following a link; else undefined. */
function readSmallFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_RECORD) return undefined;
    const buf = Buffer.alloc(st.size);
    const n = fs.readSync(fd, buf, 0, st.size, 0);
    return buf.toString('utf8', 0, n);
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** An IP file name is the canonical text of an address; other names (lock, last_reserved_ip.N, strays) are not records. */
function isCanonicalIP(name: string): boolean {
  const ip = tryParseIP(name);
  return ip !== undefined && ipToString(ip) === name;
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

class DiskStore implements Store {
  private names?: Set<string>; // directory listing, valid while we hold the lock
  usable = true;

  constructor(readonly dir: string) {}

  private file(name: string): string {
    if (!this.usable) throw new CniError(ErrCode.Internal, 'host-local store used after its lock was released');
    return path.join(this.dir, name);
  }

  private ipFile(ip: string): string {
    if (!isCanonicalIP(ip)) throw new CniError(ErrCode.Internal, `not a canonical IP: ${JSON.stringify(ip)}`);
    return this.file(ip);
  }

  private listing(): Set<string> {
    if (!this.names) {
      const dir = this.file('');
      try {
        this.names = new Set(fs.readdirSync(dir));
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
    let fd: number;
    try {
      fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    } catch (e) {
      if (errno(e) === 'EEXIST') {
        this.listing().add(ip);
        return false;
      }
      throw ioError(`cannot create ${file}`, e);
    }
    try {
      try {
        fs.fchmodSync(fd, 0o644); // the layout says 0644 whatever the runtime's umask
        fs.writeSync(fd, containerId.trim() + LINE_BREAK + ifname);
      } finally {
        fs.closeSync(fd);
      }
      this.listing().add(ip);
      this.writeLastReserved(rangeSetIndex, ip);
    } catch (e) {
      this.unlinkQuiet(ip);
      throw e instanceof CniError ? e : ioError(`cannot write ${file}`, e);
    }
    return true;
  }

  private writeLastReserved(rangeSetIndex: number, ip: string): void {
    const file = this.file(LAST_IP_PREFIX + rangeSetIndex);
    const write = (): void => {
      const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK, 0o644); // a FIFO must not block us
      try {
        fs.writeSync(fd, ip);
      } finally {
        fs.closeSync(fd);
      }
    };
    try {
      write();
    } catch (e) {
      if (errno(e) !== 'ELOOP') throw ioError(`cannot write ${file}`, e);
      // A symlink planted in our place: replace the link itself, never write through it.
      try {
        fs.unlinkSync(file);
        write();
      } catch (e2) {
        throw ioError(`cannot write ${file}`, e2);
      }
    }
  }

  lastReservedIP(rangeSetIndex: number): string | undefined {
    const text = readSmallFile(this.file(LAST_IP_PREFIX + rangeSetIndex));
    const ip = text === undefined ? undefined : tryParseIP(text.trim());
    return ip && ipToString(ip);
  }

  private unlinkQuiet(name: string): void {
    try {
      fs.unlinkSync(this.file(name));
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
      if (errno(e) !== 'ENOENT') throw ioError(`cannot remove ${file}`, e);
    }
    this.names?.delete(ip);
  }

  /** Frees as much as it can (DEL must make progress), then reports the first failure. */
  releaseByAttachment(containerId: string, ifname: string): string[] {
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
    return this.listAll().filter((r) => matchesAttachment(r, containerId, ifname, true)).map((r) => r.ip);
  }

  listAll(): Reservation[] {
    const out: Reservation[] = [];
    for (const name of this.listing()) {
      if (!isCanonicalIP(name)) continue;
      const content = readSmallFile(this.file(name));
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
}

export type { DiskStore };

/** The network's directory, created 0755 if missing; a symlink or non-directory there is refused. */
export function networkDir(dataDir: string, network: string): string {
  validateNetworkName(network);
  const dir = path.join(dataDir, network);
  try {
    mkdirp(dir, 0o755);
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) throw new Error('not a directory (symlinks are not followed)');
  } catch (e) {
    throw ioError(`cannot use ${dir}`, e);
  }
  return dir;
}

/** Runs fn with the network's store under one hold of `<dir>/lock`: one ADD, DEL or GC = one lock. */
export function withDiskStore<T>(dataDir: string, network: string, fn: (store: DiskStore) => T, lockTimeoutMs?: number): T {
  const dir = networkDir(dataDir, network);
  return withFileLock(path.join(dir, 'lock'), () => {
    const store = new DiskStore(dir);
    try {
      return fn(store);
    } finally {
      store.usable = false;
    }
  }, lockTimeoutMs);
}
