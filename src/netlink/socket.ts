// An rtnetlink socket bound to one network namespace. The `netlink` package gives us the raw
// socket and netlink framing (sequence numbers, multipart dumps, ACKs); we add errno-carrying
// errors. The socket is created with the thread inside the target namespace (see sys/netns) and
// keeps operating there after the thread returns home.
import { createNetlink, NetlinkSocket } from 'netlink/dist/netlink';
import { Netns, withNetns } from '../sys/netns';
import { NLM_F, NLMSG_DONE, NLMSG_ERROR } from './constants';

const NETLINK_ROUTE = 0;

export class NetlinkError extends Error {
  constructor(public readonly errno: number, public readonly op: string) {
    super(`${op}: ${errnoName(errno)}`);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 34: 'ERANGE',
  95: 'EOPNOTSUPP', 99: 'EADDRNOTAVAIL', 101: 'ENETUNREACH',
};
const errnoName = (e: number): string => ERRNO_NAMES[e] ?? `errno ${e}`;
export const EEXIST = 17;
export const ENODEV = 19;
export const ENOENT = 2;
export const ESRCH = 3;
export const EADDRNOTAVAIL = 99;

export interface RawMessage { type: number; data: Buffer }

export class Rtnl {
  private constructor(private readonly sock: NetlinkSocket) {}

  /** Open a socket in a namespace (a handle, or a path opened just for this), or in the current one when ns is empty. */
  static open(ns: string | Netns = ''): Rtnl {
    const make = (): NetlinkSocket => createNetlink(NETLINK_ROUTE, { ref: false } as never);
    return new Rtnl(ns ? withNetns(ns, make) : make());
  }

  close(): void {
    this.sock.close();
  }

  /** Send a request and wait for its ACK (or its dump). Netlink errors become NetlinkError with errno. */
  async request(type: number, flags: number, payload: Buffer, op: string): Promise<RawMessage[]> {
    const [msgs] = await this.sock.request(type, payload, { flags, checkError: false });
    const out: RawMessage[] = [];
    for (const m of msgs) {
      if (m.type === NLMSG_ERROR) {
        const err = -m.data.readInt32LE(0);
        if (err !== 0) throw new NetlinkError(err, op);
      } else if (m.type !== NLMSG_DONE) {
        out.push({ type: m.type, data: m.data });
      }
    }
    return out;
  }

  dump(type: number, payload: Buffer, op: string): Promise<RawMessage[]> {
    return this.request(type, NLM_F.DUMP, payload, op);
  }
}
