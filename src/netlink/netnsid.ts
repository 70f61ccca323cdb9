// Reading another network namespace by its netnsid (a veth's IFLA_LINK_NETNSID) without entering
// it: RTM_GETLINK / RTM_GETADDR with IFLA_/IFA_TARGET_NETNSID. Address dumps honour the target
// only on a socket with NETLINK_GET_STRICT_CHK (a plain one silently answers with this
// namespace's addresses), so these go through a strict socket, and every answer must carry the
// target id back, or it is refused.
import * as A from './attrs';
import { Addr, decodeAddr } from './addr';
import { AF, IFA, IFLA, NLM_F, RTM } from './constants';
import { decodeLink, ifinfomsg, Link } from './link';
import { ENODEV, NetlinkError, Rtnl } from './socket';

const s32 = (type: number, v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return A.attr(type, b);
};

/** Throws unless the answer names the namespace asked about (a kernel ignoring the target answers for its own). */
export function checkTarget(attrs: Map<number, Buffer>, key: number, nsid: number, op: string): void {
  const got = attrs.get(key);
  if (!got || got.length < 4 || got.readInt32LE(0) !== nsid)
    throw new Error(`${op}: the kernel did not answer for netnsid ${nsid}`);
}

/** Reads of other namespaces on one strict socket in the current namespace. */
export class NetnsidReader {
  private readonly nl = Rtnl.open('', { strict: true });

  close(): void {
    this.nl.close();
  }

  /** The link with ifindex `index` in the namespace numbered `nsid`; undefined when it is gone. */
  link(nsid: number, index: number): Link | undefined {
    const op = `get link #${index} in netnsid ${nsid}`;
    try {
      const [m] = this.nl.requestSync(
        RTM.GETLINK,
        0,
        Buffer.concat([ifinfomsg(index), s32(IFLA.TARGET_NETNSID, nsid)]),
        op,
      );
      if (!m) return undefined;
      checkTarget(A.parseAttrs(m.data, 16), IFLA.TARGET_NETNSID, nsid, op);
      return decodeLink(m.data);
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
      throw e;
    }
  }

  /** The addresses of interface `index` in the namespace numbered `nsid`. */
  addresses(nsid: number, index: number): Addr[] {
    const op = `list addresses of #${index} in netnsid ${nsid}`;
    const msg = Buffer.alloc(8);
    msg.writeUInt8(AF.UNSPEC, 0);
    msg.writeUInt32LE(index, 4); // strict checking filters by ifa_index
    const out: Addr[] = [];
    for (const m of this.nl.requestSync(
      RTM.GETADDR,
      NLM_F.DUMP,
      Buffer.concat([msg, s32(IFA.TARGET_NETNSID, nsid)]),
      op,
    )) {
      if (m.type !== RTM.NEWADDR) continue;
      checkTarget(A.parseAttrs(m.data, 8), IFA.TARGET_NETNSID, nsid, op);
      const a = decodeAddr(m.data);
      if (a && a.index === index) out.push(a);
    }
    return out;
  }
}
