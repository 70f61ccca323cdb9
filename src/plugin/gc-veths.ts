// GC of veth pairs whose host end tsbridge cannot name: pods the reference bridge made have random
// host veth names, and GC has no prevResult. Such a pair is identified by its container end, read
// through the host end's peer netnsid/ifindex without entering the namespace: it is a pair on this
// network's bridge whose container end has the reservation's ifname and holds an address GC is
// releasing for that attachment, and no address that stays reserved. (The pod whose address it
// is has been declared gone by the runtime, so nothing else can hold that address legitimately.)
import { canonicalOrAsIs } from '../ip/addr';
import * as link from '../netlink/link';
import { NetnsidReader } from '../netlink/netnsid';
import { Rtnl } from '../netlink/socket';

/** A veth on the bridge whose peer lives in another namespace, as read from the kernel. */
export interface BridgePort {
  /** The host end. */
  name: string;
  /** The container end's name and addresses. */
  peerName: string;
  peerAddrs: string[];
}

export interface Released {
  ip: string;
  ifname: string;
}

/**
 * The ports whose pair belongs to an attachment GC releases: the container end is named as the
 * released reservation's ifname and holds its address, and holds none of `kept` (addresses that
 * stay reserved: a live pod keeps its pair even if it also carries a stale address).
 */
export function portsOfReleased(ports: BridgePort[], released: Released[], kept: string[]): BridgePort[] {
  const keep = new Set(kept.map(canonicalOrAsIs));
  return ports.filter((p) => {
    const addrs = p.peerAddrs.map(canonicalOrAsIs);
    if (addrs.some((a) => keep.has(a))) return false;
    return released.some((r) => r.ifname !== '' && r.ifname === p.peerName && addrs.includes(canonicalOrAsIs(r.ip)));
  });
}

/** The bridge's veth ports whose peer is in another namespace, with that peer's name and addresses. */
export async function readBridgePorts(bridge: string): Promise<BridgePort[]> {
  const nl = Rtnl.open();
  let other: NetnsidReader | undefined;
  try {
    const br = await link.getLink(nl, bridge);
    if (!br) return [];
    const out: BridgePort[] = [];
    for (const l of await link.listLinks(nl)) {
      if (l.kind !== 'veth' || l.master !== br.index || l.linkNetnsid === undefined || !l.link) continue;
      other ??= new NetnsidReader();
      const peer = other.link(l.linkNetnsid, l.link);
      if (!peer) continue; // the namespace went away meanwhile, and the pair with it
      out.push({
        name: l.name,
        peerName: peer.name,
        peerAddrs: other.addresses(l.linkNetnsid, l.link).map((a) => a.address),
      });
    }
    return out;
  } finally {
    other?.close();
    nl.close();
  }
}
