// Network namespaces by handle. A path (CNI_NETNS, /run/netns/x, /proc/PID/ns/net) is opened once
// into a Netns, checked to be a network namespace, and that fd serves every later use in the
// command (setns, IFLA_NET_NS_FD, the nsid query): the path may name another namespace a moment
// later (a PID reused, a bind mount replaced), the fd cannot.
//
// Running code inside one: a netlink socket belongs to the namespace of the thread that created
// it, and a child process forks into the namespace of the thread that spawns it, so creating the
// socket (or spawning nft/iptables/ping) inside `run` is all it takes. (Node and Bun open every file
// with O_CLOEXEC, so no fd here leaks into those children.) fn must be synchronous: nothing else may run
// while we are away.
import * as fs from 'node:fs';
import { CniError, ErrCode } from '../cni/errors';
import { sys } from './native';
import { writeFully } from './write';

const CLONE_NEWNET = 0x40000000;
/** O_PATH (same value on x86_64 and arm64): names the file without opening it for I/O. */
const O_PATH = 0o10000000;
const NSFS_MAGIC = 0x6e736673;

export type NetnsErrorKind = 'missing' | 'not-netns' | 'unopenable';

export class NetnsError extends Error {
  constructor(
    public readonly kind: NetnsErrorKind,
    public readonly nsPath: string,
    why: string,
  ) {
    super(`failed to open netns ${JSON.stringify(nsPath)}: ${why}`);
    this.name = 'NetnsError';
  }
}

export class Netns {
  private closed = false;

  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly ino: number,
  ) {}

  /**
   * Open `nsPath` as a network namespace. Symlinks are followed on purpose: /proc/PID/ns/net is a
   * magic link, and /var/run is often a link to /run. So the path is first opened with O_PATH,
   * which neither blocks (a FIFO) nor reaches a device driver's open, and the opened file must be
   * on nsfs; only then is that same file opened for real, through /proc/self/fd, with
   * O_RDONLY|O_NONBLOCK (setns does not take an O_PATH fd), and its type must be a network
   * namespace (ioctl NS_GET_NSTYPE: a bind mount of a mount namespace is nsfs too).
   */
  static open(nsPath: string): Netns {
    let pathFd: number;
    try {
      pathFd = fs.openSync(nsPath, O_PATH);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new NetnsError(
        err.code === 'ENOENT' || err.code === 'ENOTDIR' ? 'missing' : 'unopenable',
        nsPath,
        err.message,
      );
    }
    const notNetns = (): NetnsError =>
      new NetnsError(
        'not-netns',
        nsPath,
        'not a network namespace (want a file like /proc/PID/ns/net or a bind mount of one)',
      );
    try {
      // statfs through the fd's /proc link: the file system of the very file opened
      if (fs.statfsSync(`/proc/self/fd/${pathFd}`).type !== NSFS_MAGIC) throw notNetns();
      const fd = fs.openSync(`/proc/self/fd/${pathFd}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      let ok = false;
      try {
        ok = sys().nsType(fd) === CLONE_NEWNET;
      } catch {
        ok = false;
      }
      const ino = fs.fstatSync(fd).ino;
      if (!ok || ino !== fs.fstatSync(pathFd).ino) {
        fs.closeSync(fd);
        throw notNetns();
      }
      return new Netns(nsPath, fd, ino);
    } catch (e) {
      if (e instanceof NetnsError) throw e;
      throw new NetnsError('unopenable', nsPath, (e as Error).message);
    } finally {
      fs.closeSync(pathFd);
    }
  }

  /** Run fn with this thread inside the namespace; back home afterwards (or abort). */
  run<T>(fn: () => T): T {
    if (this.closed) throw new Error(`netns ${this.path}: used after close`);
    const home = fs.openSync('/proc/thread-self/ns/net', fs.constants.O_RDONLY);
    try {
      sys().setns(this.fd, CLONE_NEWNET);
      try {
        return fn();
      } finally {
        returnHome(home);
      }
    } finally {
      fs.closeSync(home);
    }
  }

  /**
   * True when the user namespace owning this network namespace is ours. One created by an
   * unprivileged `unshare -Urn` is owned by that user's namespace. If the owner cannot be
   * read (EPERM: owned by an ancestor of ours), it is not ours.
   */
  ownedByOurUserns(): boolean {
    try {
      return sys().nsOwner(this.fd) === fs.statSync('/proc/self/ns/user').ino;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

function returnHome(home: number): void {
  try {
    sys().setns(home, CLONE_NEWNET);
  } catch (e) {
    // Staying in the container's namespace would point every later step at the wrong kernel state.
    try {
      writeFully(2, `tsbridge: fatal: cannot return to the host network namespace: ${(e as Error).message}\n`);
    } catch {
      /* stderr closed: abort all the same */
    }
    process.abort();
  }
}

/** Run fn inside a namespace given by handle, or by path (opened and closed around the call). */
export function withNetns<T>(ns: string | Netns, fn: () => T): T {
  if (ns instanceof Netns) return ns.run(fn);
  const h = Netns.open(ns);
  try {
    return h.run(fn);
  } finally {
    h.close();
  }
}

/**
 * CNI_NETNS as a handle the command keeps using. A missing path is CNI error 3 (the container is
 * gone); anything that is not a network namespace (a FIFO, a plain file, a mount of another
 * namespace type) is error 4, invalid environment (the reference answers 999 for both, "failed to
 * open netns"; its message is kept).
 */
export function openContainerNetns(nsPath: string): Netns {
  try {
    return Netns.open(nsPath);
  } catch (e) {
    if (e instanceof NetnsError && e.kind === 'missing')
      throw new CniError(ErrCode.UnknownContainer, `${e.message} (container gone?)`);
    throw new CniError(ErrCode.InvalidEnv, `CNI_NETNS: ${(e as Error).message}`);
  }
}

/**
 * CNI_NETNS naming the plugin's own network namespace (the node's) is refused, code 4: the
 * "container" interface, its addresses and routes would be made on the node itself. Same
 * namespace = same nsfs device and inode. The reference (1.1.1 and later) goes ahead.
 */
export function refuseOwnNetns(ns: Netns): void {
  const want = fs.fstatSync(ns.fd);
  const own = fs.statSync('/proc/thread-self/ns/net');
  if (want.dev === own.dev && want.ino === own.ino) {
    throw new CniError(
      ErrCode.InvalidEnv,
      `CNI_NETNS ${ns.path} is the plugin's own network namespace (the node's), not a container's: refusing to ` +
        `configure the node as a container; pass the container's network namespace`,
    );
  }
}
