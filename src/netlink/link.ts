// Links: encode/decode struct ifinfomsg + IFLA_* attributes, and the link operations ADD/DEL/CHECK
// need (bridge, veth pair with the peer created straight in another namespace, master, up, MTU,
// MAC, bridge-port flags, promiscuity).
import * as A from './attrs';
import { bridgeVlanFilteringInfo } from './bridge-vlan';
import { AF, IFF_PROMISC, IFF_UP, IFLA, IFLA_BRPORT, IFLA_INFO, NLM_F, RTM, VETH_INFO_PEER } from './constants';
import { ENODEV, NetlinkError, Rtnl } from './socket';

export interface Link {
  index: number;
  name: string;
  flags: number;
  mtu: number;
  mac: string;
  master?: number;
  kind?: string;
  /** IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace). */
  link?: number;
  /**
   * IFLA_LINK_NETNSID: the id (in this namespace's numbering) of the namespace the peer lives in, when not this one.
   */
  linkNetnsid?: number;
}

export function ifinfomsg(index = 0, flags = 0, change = 0, family: number = AF.UNSPEC): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

export function macToBuffer(mac: string): Buffer {
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)) throw new Error(`invalid MAC address "${mac}"`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}
const macToString = (b: Buffer | undefined): string =>
  b ? [...b].map((x) => x.toString(16).padStart(2, '0')).join(':') : '';

const readS32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readInt32LE(0) : undefined);

export function decodeLink(data: Buffer): Link {
  const attrs = A.parseAttrs(data, 16);
  const info = attrs.get(IFLA.LINKINFO);
  return {
    index: data.readInt32LE(4),
    flags: data.readUInt32LE(8),
    name: A.readStr(attrs.get(IFLA.IFNAME)) ?? '',
    mtu: A.readU32(attrs.get(IFLA.MTU)) ?? 0,
    mac: macToString(attrs.get(IFLA.ADDRESS)),
    master: A.readU32(attrs.get(IFLA.MASTER)),
    kind: info ? A.readStr(A.parseAttrs(info).get(IFLA_INFO.KIND)) : undefined,
    link: A.readU32(attrs.get(IFLA.LINK)),
    linkNetnsid: readS32(attrs.get(IFLA.LINK_NETNSID)),
  };
}

export async function getLink(nl: Rtnl, name: string): Promise<Link | undefined> {
  try {
    const [m] = await nl.request(
      RTM.GETLINK,
      0,
      Buffer.concat([ifinfomsg(), A.str(IFLA.IFNAME, name)]),
      `get link ${name}`,
    );
    return m ? decodeLink(m.data) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
    throw e;
  }
}

export async function getLinkByIndex(nl: Rtnl, index: number): Promise<Link | undefined> {
  try {
    const [m] = await nl.request(RTM.GETLINK, 0, ifinfomsg(index), `get link #${index}`);
    return m ? decodeLink(m.data) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
    throw e;
  }
}

export async function listLinks(nl: Rtnl): Promise<Link[]> {
  return (await nl.dump(RTM.GETLINK, ifinfomsg(), 'list links')).map((m) => decodeLink(m.data));
}

/** A new bridge; with `vlanFiltering`, created filtering (EOPNOTSUPP on a kernel without it: nothing is made). */
export async function createBridge(nl: Rtnl, name: string, mtu?: number, vlanFiltering = false): Promise<void> {
  await nl.request(
    RTM.NEWLINK,
    NLM_F.CREATE | NLM_F.EXCL,
    Buffer.concat([
      ifinfomsg(),
      A.str(IFLA.IFNAME, name),
      ...(mtu ? [A.u32(IFLA.MTU, mtu)] : []),
      vlanFiltering ? bridgeVlanFilteringInfo(true) : A.nested(IFLA.LINKINFO, A.str(IFLA_INFO.KIND, 'bridge')),
    ]),
    `create bridge ${name}`,
  );
}

export interface VethSpec {
  hostName: string;
  peerName: string;
  /** fd of the namespace the peer is created in (none: this one) */
  peerNetnsFd?: number;
  mtu?: number;
  peerMac?: string;
}

/** One request creates both ends, the peer already inside the container's namespace. */
export async function createVeth(nl: Rtnl, v: VethSpec): Promise<void> {
  const mtu = v.mtu ? [A.u32(IFLA.MTU, v.mtu)] : [];
  const peer = Buffer.concat([
    ifinfomsg(),
    A.str(IFLA.IFNAME, v.peerName),
    ...(v.peerNetnsFd !== undefined ? [A.u32(IFLA.NET_NS_FD, v.peerNetnsFd)] : []),
    ...mtu,
    ...(v.peerMac ? [A.attr(IFLA.ADDRESS, macToBuffer(v.peerMac))] : []),
  ]);
  await nl.request(
    RTM.NEWLINK,
    NLM_F.CREATE | NLM_F.EXCL,
    Buffer.concat([
      ifinfomsg(),
      A.str(IFLA.IFNAME, v.hostName),
      ...mtu,
      A.nested(IFLA.LINKINFO, A.str(IFLA_INFO.KIND, 'veth'), A.nested(IFLA_INFO.DATA, A.attr(VETH_INFO_PEER, peer))),
    ]),
    `create veth ${v.hostName}/${v.peerName}`,
  );
}

export async function deleteLink(nl: Rtnl, index: number): Promise<void> {
  await nl.request(RTM.DELLINK, 0, ifinfomsg(index), `delete link #${index}`);
}

async function setLink(
  nl: Rtnl,
  index: number,
  op: string,
  flags: number,
  change: number,
  ...attrs: Buffer[]
): Promise<void> {
  await nl.request(RTM.NEWLINK, 0, Buffer.concat([ifinfomsg(index, flags, change), ...attrs]), op);
}

export const setUp = (nl: Rtnl, index: number): Promise<void> =>
  setLink(nl, index, `set link #${index} up`, IFF_UP, IFF_UP);
export const setDown = (nl: Rtnl, index: number): Promise<void> =>
  setLink(nl, index, `set link #${index} down`, 0, IFF_UP);
export const setPromisc = (nl: Rtnl, index: number, on: boolean): Promise<void> =>
  setLink(nl, index, `set promisc on #${index}`, on ? IFF_PROMISC : 0, IFF_PROMISC);
export const setMaster = (nl: Rtnl, index: number, master: number): Promise<void> =>
  setLink(nl, index, `attach #${index} to bridge #${master}`, 0, 0, A.u32(IFLA.MASTER, master));
export const setMtu = (nl: Rtnl, index: number, mtu: number): Promise<void> =>
  setLink(nl, index, `set mtu of #${index}`, 0, 0, A.u32(IFLA.MTU, mtu));
export const setMac = (nl: Rtnl, index: number, mac: string): Promise<void> =>
  setLink(nl, index, `set mac of #${index}`, 0, 0, A.attr(IFLA.ADDRESS, macToBuffer(mac)));

/** Bridge-port flags (what `bridge link set dev X hairpin on isolated on` does). */
export async function setBridgePort(
  nl: Rtnl,
  index: number,
  opts: { hairpin?: boolean; isolated?: boolean },
): Promise<void> {
  const flags: Buffer[] = [];
  if (opts.hairpin !== undefined) flags.push(A.u8(IFLA_BRPORT.MODE, opts.hairpin ? 1 : 0));
  if (opts.isolated !== undefined) flags.push(A.u8(IFLA_BRPORT.ISOLATED, opts.isolated ? 1 : 0));
  if (!flags.length) return;
  await nl.request(
    RTM.SETLINK,
    0,
    Buffer.concat([ifinfomsg(index, 0, 0, AF.BRIDGE), A.nested(IFLA.PROTINFO, ...flags)]),
    `set bridge port flags of #${index}`,
  );
}

/** Read a bridge port's hairpin/isolated flags (for CHECK). */
export async function getBridgePort(
  nl: Rtnl,
  index: number,
): Promise<{ hairpin: boolean; isolated: boolean } | undefined> {
  const msgs = await nl.dump(RTM.GETLINK, ifinfomsg(0, 0, 0, AF.BRIDGE), 'list bridge ports');
  for (const m of msgs) {
    if (m.data.readInt32LE(4) !== index) continue;
    const p = A.parseAttrs(m.data, 16).get(IFLA.PROTINFO);
    if (!p) return undefined;
    const pa = A.parseAttrs(p);
    return {
      hairpin: A.readU8(pa.get(IFLA_BRPORT.MODE)) === 1,
      isolated: A.readU8(pa.get(IFLA_BRPORT.ISOLATED)) === 1,
    };
  }
  return undefined;
}
