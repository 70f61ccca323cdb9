// An rtnetlink socket bound to one network namespace: a synchronous NETLINK_ROUTE socket from our
// native addon (sys/native), with the framing done here (sequence numbers, multipart dumps, ACKs,
// errno-carrying errors). No event loop is involved, so it works the same under any runtime.
// The socket is created with the thread inside the target namespace (see sys/netns) and keeps
// operating there after the thread returns home.
import { rtnetlink } from '../sys/native';
import { Netns, withNetns } from '../sys/netns';
import { NLM_F, NLMSG_DONE, NLMSG_ERROR } from './constants';

export class NetlinkError extends Error {
  constructor(
    public readonly errno: number,
    public readonly op: string,
  ) {
    super(`${op}: ${errnoName(errno)}`);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  34: 'ERANGE',
  95: 'EOPNOTSUPP',
  99: 'EADDRNOTAVAIL',
  74: 'EBADMSG',
  101: 'ENETUNREACH',
  110: 'ETIMEDOUT',
};
const errnoName = (e: number): string => ERRNO_NAMES[e] ?? `errno ${e}`;
export const EEXIST = 17;
export const ENODEV = 19;
export const ENOENT = 2;
export const ESRCH = 3;
export const EADDRNOTAVAIL = 99;
const EBADMSG = 74;

/** The kernel answers inside sendto (dumps continue inside recv): this bound only stops a hang. */
export const REPLY_TIMEOUT_MS = 10_000;
const HDR = 16; // struct nlmsghdr

export interface RawMessage {
  type: number;
  data: Buffer;
}

export class Rtnl {
  private seq = 0;
  private fd: number;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /**
   * Open a socket in a namespace (a handle, or a path opened just for this), or in the current one
   * when ns is empty. `strict`: the kernel checks requests strictly and honours dump filters.
   */
  static open(ns: string | Netns = '', opts: { strict?: boolean } = {}): Rtnl {
    const make = (): number => rtnetlink().nlOpen(opts.strict === true);
    return new Rtnl(ns ? withNetns(ns, make) : make());
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    rtnetlink().close(fd);
  }

  /** Send a request and wait for its ACK (or its dump). Netlink errors become NetlinkError with errno. */
  async request(type: number, flags: number, payload: Buffer, op: string): Promise<RawMessage[]> {
    return this.requestSync(type, flags, payload, op);
  }

  dump(type: number, payload: Buffer, op: string): Promise<RawMessage[]> {
    return this.request(type, NLM_F.DUMP, payload, op);
  }

  /** The same, blocking: the kernel has done the work (or failed) when this returns. */
  requestSync(type: number, flags: number, payload: Buffer, op: string): RawMessage[] {
    if (this.fd < 0) throw new Error(`${op}: netlink socket is closed`);
    this.seq = (this.seq % 0x7fffffff) + 1;
    const seq = this.seq;
    const dump = (flags & NLM_F.DUMP) === NLM_F.DUMP;
    rtnetlink().nlSend(this.fd, encodeRequest(type, flags | NLM_F.REQUEST | NLM_F.ACK, seq, payload));
    const out: RawMessage[] = [];
    for (;;) {
      let datagram: Buffer;
      try {
        datagram = rtnetlink().nlRecv(this.fd, REPLY_TIMEOUT_MS);
      } catch (e) {
        const errno = (e as { errno?: number }).errno;
        throw errno ? new NetlinkError(errno, op) : e;
      }
      for (const m of parseMessages(datagram)) {
        if (m.seq !== seq) continue; // a late answer to an earlier request that gave up
        if (m.type === NLMSG_ERROR) {
          const err = -m.data.readInt32LE(0);
          if (err !== 0) throw new NetlinkError(err, op);
          if (!dump) return out; // the ACK ends a request
        } else if (m.type === NLMSG_DONE) {
          // a dump that failed part-way ends with DONE carrying the negative errno
          const err = m.data.length >= 4 ? -m.data.readInt32LE(0) : 0;
          if (err > 0) throw new NetlinkError(err, op);
          return out;
        } else {
          out.push({ type: m.type, data: m.data });
        }
      }
    }
  }
}

export function encodeRequest(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const msg = Buffer.alloc(HDR + payload.length);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(type, 4);
  msg.writeUInt16LE(flags, 6);
  msg.writeUInt32LE(seq, 8);
  msg.writeUInt32LE(0, 12); // port: the kernel fills in ours
  payload.copy(msg, HDR);
  return msg;
}

export interface ParsedMessage {
  type: number;
  flags: number;
  seq: number;
  data: Buffer;
}

/** Split one datagram into its netlink messages (4-byte aligned); a malformed length is an error. */
export function parseMessages(buf: Buffer): ParsedMessage[] {
  const out: ParsedMessage[] = [];
  let off = 0;
  while (off + HDR <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < HDR || off + len > buf.length) throw new NetlinkError(EBADMSG, 'netlink: malformed message');
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      data: buf.subarray(off + HDR, off + len),
    });
    off += (len + 3) & ~3;
  }
  return out;
}
