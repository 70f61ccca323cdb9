// Read-only extras for `tsbridge doctor`: a link's peer (IFLA_LINK, IFLA_LINK_NETNSID), its packet
// counters (IFLA_STATS64), and the route the kernel picks for one destination (RTM_GETROUTE without
// a dump). Nothing here changes kernel state; the existing link/route functions are untouched.
import * as ipaddr from 'ipaddr.js';
import * as A from './attrs';
import { ipBytes } from './addr';
import { AF, RTA, RTM } from './constants';
import { decodeLink, Link } from './link';
import { Rtnl } from './socket';

const IFLA_LINK = 5;
const IFLA_STATS64 = 23;
const IFLA_LINK_NETNSID = 37;
const RTA_PREFSRC = 7;

/** The counters of struct rtnl_link_stats64 that doctor reads. */
export interface LinkStats {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

export interface LinkDetail extends Link {
  /** IFLA_LINK: for a veth, the peer's ifindex (in the namespace `linkNetnsId` names, if set). */
  peerIndex?: number;
  /** IFLA_LINK_NETNSID: the peer is in another namespace (an id local to this one). */
  linkNetnsId?: number;
  stats?: LinkStats;
}

/** Decodes rtnl_link_stats64 (u64 fields; values here stay far below 2^53). */
export function decodeStats64(b: Buffer | undefined): LinkStats | undefined {
  if (!b || b.length < 64) return undefined;
  const u = (i: number): number => Number(b.readBigUInt64LE(i * 8));
  return {
    rxPackets: u(0),
    txPackets: u(1),
    rxBytes: u(2),
    txBytes: u(3),
    rxErrors: u(4),
    txErrors: u(5),
    rxDropped: u(6),
    txDropped: u(7),
  };
}

export function decodeLinkDetail(data: Buffer): LinkDetail {
  const attrs = A.parseAttrs(data, 16);
  const nsid = attrs.get(IFLA_LINK_NETNSID);
  return {
    ...decodeLink(data),
    peerIndex: A.readU32(attrs.get(IFLA_LINK)),
    linkNetnsId: nsid && nsid.length >= 4 ? nsid.readInt32LE(0) : undefined,
    stats: decodeStats64(attrs.get(IFLA_STATS64)),
  };
}

/** Every link of the namespace with its peer and counters. */
export async function listLinkDetails(nl: Rtnl): Promise<LinkDetail[]> {
  return (await nl.dump(RTM.GETLINK, Buffer.alloc(16), 'list links')).map((m) => decodeLinkDetail(m.data));
}

export interface RouteChoice {
  oif?: number;
  gw?: string;
  prefsrc?: string;
}

/** `ip route get DST`: the route the kernel would use now; undefined when unreachable. */
export async function routeGet(nl: Rtnl, dst: string): Promise<RouteChoice | undefined> {
  const { family, bytes } = ipBytes(dst);
  const msg = Buffer.alloc(12);
  msg.writeUInt8(family === 4 ? AF.INET : AF.INET6, 0);
  msg.writeUInt8(family === 4 ? 32 : 128, 1);
  let msgs;
  try {
    msgs = await nl.request(RTM.GETROUTE, 0, Buffer.concat([msg, A.attr(RTA.DST, bytes)]), `route get ${dst}`);
  } catch {
    return undefined;
  }
  const m = msgs.find((x) => x.type === RTM.NEWROUTE);
  if (!m) return undefined;
  const attrs = A.parseAttrs(m.data, 12);
  const ip = (b: Buffer | undefined): string | undefined => (b ? ipaddr.fromByteArray([...b]).toString() : undefined);
  return { oif: A.readU32(attrs.get(RTA.OIF)), gw: ip(attrs.get(RTA.GATEWAY)), prefsrc: ip(attrs.get(RTA_PREFSRC)) };
}

const RTM_NEWNSID = 88;
const RTM_GETNSID = 90;
const NETNSA_NSID = 1;
const NETNSA_FD = 3;

/**
 * The id the namespace `nl` lives in gives the namespace open at `fd` (what a veth's
 * IFLA_LINK_NETNSID names, `ip netns list-id`); undefined when it has none.
 */
export async function nsIdOf(nl: Rtnl, fd: number): Promise<number | undefined> {
  const msgs = await nl.request(RTM_GETNSID, 0, Buffer.concat([Buffer.alloc(4), A.u32(NETNSA_FD, fd)]), 'get nsid');
  const m = msgs.find((x) => x.type === RTM_NEWNSID);
  if (!m) return undefined;
  const id = A.parseAttrs(m.data, 4).get(NETNSA_NSID);
  if (!id || id.length < 4) return undefined;
  const n = id.readInt32LE(0);
  return n < 0 ? undefined : n;
}
