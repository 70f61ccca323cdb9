// Loads tsbridge's native piece (.node file): our tiny syscall addon (setns, flock, the rtnetlink
// socket). In the single executable it is an embedded asset (read from Bun's /$bunfs, never
// dlopened from there: Bun would extract it to a temp file of its own) and is written once to a
// root-owned 0700 cache directory, named by content hash; every load re-verifies the file through
// an fd opened with O_NOFOLLOW and dlopens that very fd (/proc/self/fd/N), so nothing swapped in
// between the check and the load can be loaded. Outside the executable (unit tests on the compiled JS)
// it is loaded straight from the build tree.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic';
import { EMBEDDED_ROOT, isCompiled } from './compiled';
import { sha256Hex } from './hash';

export type NativeName = 'tsb_sys';

/** The system calls of the addon anyone in sys/ may use. */
export interface SysBinding {
  setns(fd: number, nstype: number): void;
  /** 0 on success, else the errno (EWOULDBLOCK when LOCK_NB and held elsewhere). */
  flock(fd: number, op: number): number;
  /**
   * flock(LOCK_EX) that blocks at most ms (woken by the release itself): 0, EWOULDBLOCK on timeout,
   * else the errno.
   */
  flockWait(fd: number, ms: number): number;
  /** CLONE_NEW* type of the namespace open at fd (ioctl NS_GET_NSTYPE). */
  nsType(fd: number): number;
  /** Inode number of the user namespace that owns the namespace open at fd (ioctl NS_GET_USERNS). */
  nsOwner(fd: number): number;
  close(fd: number): void;
}

/**
 * The rtnetlink half of the addon. Only netlink/socket.ts takes it (a lint rule in biome.jsonc):
 * every other module talks to the kernel's routing side through netlink/'s codecs.
 */
export interface RtnetlinkBinding {
  /**
   * A bound NETLINK_ROUTE socket (CLOEXEC) in the calling thread's network namespace; `strict`
   * sets NETLINK_GET_STRICT_CHK (the kernel then honours dump filters such as IFA_TARGET_NETNSID).
   */
  nlOpen(strict?: boolean): number;
  /** Send one message to the kernel; throws (with .errno) unless all of it went. */
  nlSend(fd: number, msg: Buffer): void;
  /** One datagram from the kernel; throws ETIMEDOUT (.errno 110) after ms without one. */
  nlRecv(fd: number, ms: number): Buffer;
  close(fd: number): void;
}

export const DEFAULT_CACHE_DIR = '/run/tsbridge/native';
const loaded = new Map<NativeName, unknown>();

export function loadNative(name: NativeName): unknown {
  let mod = loaded.get(name);
  if (mod === undefined) {
    mod = isCompiled() ? loadFromAsset(name, cacheDir()) : loadFromBuildTree(name);
    loaded.set(name, mod);
  }
  return mod;
}

export function sys(): SysBinding {
  return loadNative('tsb_sys') as SysBinding;
}

export function rtnetlink(): RtnetlinkBinding {
  return loadNative('tsb_sys') as RtnetlinkBinding;
}

/** The cache may be moved (tests, read-only /run); the same ownership checks apply wherever it is. */
function cacheDir(): string {
  return process.env.TSBRIDGE_CACHE_DIR || DEFAULT_CACHE_DIR;
}

function loadFromBuildTree(name: NativeName): unknown {
  const file = path.resolve(__dirname, `../../../native/${name}.node`); // build/js/src/sys -> build/native
  const m = { exports: {} as unknown };
  process.dlopen(m, file);
  return m.exports;
}

/** The embedded addon's SHA-256, fixed at build time (build/build.mjs); undefined outside the executable. */
declare const TSBRIDGE_NATIVE_SHA256: string | undefined;
const builtDigest = typeof TSBRIDGE_NATIVE_SHA256 === 'string' ? TSBRIDGE_NATIVE_SHA256 : undefined;

function loadFromAsset(name: NativeName, dir: string): unknown {
  // embedded by `bun build --asset`; reading it is a copy out of the executable's own image, needed
  // only when the cache must be (re)written: the digest to check the cache against is built in
  const asset = (): Buffer => fs.readFileSync(`${EMBEDDED_ROOT}${name}.node`);
  return loadVerified(name, builtDigest ?? sha256(asset()), asset, dir);
}

/**
 * Exported for tests: the whole cache protocol. `digest` is the SHA-256 the loaded file must have;
 * `bytes()` gives the file's content when the cache must be (re)written.
 */
export function loadVerified(name: string, digest: string, bytes: () => Buffer, dir: string): unknown {
  ensureSafeDir(path.dirname(dir), true);
  ensureSafeDir(dir, false);
  const file = path.join(dir, `${name}-${digest.slice(0, 32)}.node`);
  let fd = openVerified(file, digest);
  if (fd < 0) {
    const content = bytes();
    if (sha256(content) !== digest) throw new Error(`native cache: the embedded ${name} does not match its digest`);
    writeFileAtomic(file, content, 0o500);
    fd = openVerified(file, digest);
    if (fd < 0) throw new Error(`native cache: ${file} does not verify after writing it`);
  }
  try {
    const m = { exports: {} as unknown };
    process.dlopen(m, `/proc/self/fd/${fd}`);
    return m.exports;
  } finally {
    fs.closeSync(fd);
  }
}

const sha256 = sha256Hex; // a cryptographic content hash: a planted file must not verify

/**
 * Create the directory if missing (0700), then insist it is a real directory owned by us and
 * not writable by group or others. `parentOk` relaxes the mode for the parent (it may be 0755).
 */
function ensureSafeDir(dir: string, parentOk: boolean): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir); // looked at first: the usual case (it exists) raises no error at all
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
    }
    st = fs.lstatSync(dir);
  }
  const uid = process.geteuid ? process.geteuid() : 0;
  if (!st.isDirectory()) throw new Error(`native cache: ${dir} is not a directory (symlink or file planted?)`);
  if (st.uid !== uid) throw new Error(`native cache: ${dir} is owned by uid ${st.uid}, not ${uid}`);
  const forbidden = parentOk ? 0o022 : 0o077;
  if (st.mode & forbidden) throw new Error(`native cache: ${dir} has mode ${(st.mode & 0o777).toString(8)}, too open`);
}

/** An fd on the cached file if it is ours and holds exactly the expected bytes; -1 if it must be (re)written. */
function openVerified(file: string, digest: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return -1;
    if (code === 'ELOOP') {
      fs.unlinkSync(file);
      return -1;
    } // a planted symlink: never followed, replaced
    throw e;
  }
  const st = fs.fstatSync(fd);
  const uid = process.geteuid ? process.geteuid() : 0;
  const ok = st.isFile() && st.uid === uid && (st.mode & 0o022) === 0 && sha256(fs.readFileSync(fd)) === digest;
  if (ok) return fd;
  fs.closeSync(fd);
  fs.unlinkSync(file); // planted or damaged: refuse it and write our own
  return -1;
}
