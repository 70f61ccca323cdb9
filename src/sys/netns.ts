// Run synchronous code with the main thread inside another network namespace. A netlink socket
// (libuv opens every file with O_CLOEXEC, so no fd here leaks into the iptables/nft children.)
// belongs to the namespace of the thread that created it, and a child process forks into the
// namespace of the thread that spawns it, so creating the socket (or spawning nft/iptables) inside
// `withNetns` is all it takes. fn must be synchronous: nothing else may run while we are away.
import * as fs from 'node:fs';
import { CniError, ErrCode } from '../cni/errors';
import { sys } from './native';

const CLONE_NEWNET = 0x40000000;

export function withNetns<T>(nsPath: string, fn: () => T): T {
  const target = fs.openSync(nsPath, fs.constants.O_RDONLY);
  let home = -1;
  try {
    home = fs.openSync('/proc/thread-self/ns/net', fs.constants.O_RDONLY);
    sys().setns(target, CLONE_NEWNET);
    try {
      return fn();
    } finally {
      returnHome(home);
    }
  } finally {
    fs.closeSync(target);
    if (home >= 0) fs.closeSync(home);
  }
}

function returnHome(home: number): void {
  try {
    sys().setns(home, CLONE_NEWNET);
  } catch (e) {
    // Staying in the container's namespace would point every later step at the wrong kernel state.
    process.stderr.write(`tsbridge: fatal: cannot return to the host network namespace: ${(e as Error).message}\n`);
    process.abort();
  }
}

/** True when the path names a network namespace we can enter (it may have been deleted). */
export function netnsExists(nsPath: string): boolean {
  try {
    withNetns(nsPath, () => undefined);
    return true;
  } catch {
    return false;
  }
}

/**
 * CNI_NETNS must name a network namespace we can enter: a missing one is CNI error 3 (the container
 * is gone), anything else (a plain file, a mount of another namespace type) error 4.
 */
export function requireNetns(nsPath: string): void {
  try {
    withNetns(nsPath, () => undefined);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new CniError(ErrCode.UnknownContainer, `network namespace ${nsPath} does not exist (container gone?)`);
    throw new CniError(ErrCode.InvalidEnv, `CNI_NETNS ${nsPath} is not a network namespace we can enter: ${err.message}`);
  }
}

/**
 * CNI_NETNS naming the plugin's own network namespace (the node's) is refused, code 4: the
 * "container" interface, its addresses and routes would be made on the node itself. Same
 * namespace = same nsfs device and inode. The reference (1.1.1 and later) goes ahead.
 */
export function refuseOwnNetns(nsPath: string): void {
  let same = false;
  try {
    const want = fs.statSync(nsPath);
    const own = fs.statSync('/proc/thread-self/ns/net');
    same = want.dev === own.dev && want.ino === own.ino;
  } catch {
    return; // unreadable: requireNetns / opening it names the problem
  }
  if (same) {
    throw new CniError(ErrCode.InvalidEnv,
      `CNI_NETNS ${nsPath} is the plugin's own network namespace (the node's), not a container's: refusing to configure the node as a container; pass the container's network namespace`);
  }
}
