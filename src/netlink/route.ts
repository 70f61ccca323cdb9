// Routes: struct rtmsg + RTA_* attributes; the main table unless a route names another (ipam.routes' `table`).
import * as A from './attrs';
import { AF, NLM_F, RT_SCOPE, RT_TABLE_MAIN, RTA, RTM, RTN_UNICAST, RTPROT_BOOT } from './constants';
import { ipBytes } from './addr';
import { EEXIST, NetlinkError, Rtnl } from './socket';
import * as ipaddr from 'ipaddr.js';

export interface RouteEntry {
  family: 4 | 6;
  dst: string;
  gw?: string;
  oif?: number;
  table: number;
  priority?: number;
  protocol: number;
}

/** rtm_table is one byte: a larger table id goes in RTA_TABLE with rtm_table = RT_TABLE_COMPAT (as iproute2 does). */
const RT_TABLE_COMPAT = 252;

function rtmsg(
  family: 4 | 6,
  dstLen: number,
  scope: number,
  protocol: number = RTPROT_BOOT,
  type: number = RTN_UNICAST,
  table = RT_TABLE_MAIN,
): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family === 4 ? AF.INET : AF.INET6, 0);
  b.writeUInt8(dstLen, 1);
  b.writeUInt8(table > 255 ? RT_TABLE_COMPAT : table, 4);
  b.writeUInt8(protocol, 5);
  b.writeUInt8(scope, 6);
  b.writeUInt8(type, 7);
  return b;
}

/**
 * Add a route; "0.0.0.0/0" or "::/0" is the default route. Without a gateway the route is link-scoped
 * unless `scope` says otherwise; `table` (default main) and `priority` (metric) as given.
 * `existOk`: a route to the same destination that is already there (another interface's default
 * route, say) is kept and ours appended beside it, as the reference does; an identical one is success.
 */
export interface NewRoute {
  dst: string;
  gw?: string;
  oif: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export async function addRoute(nl: Rtnl, r: NewRoute, existOk = false): Promise<void> {
  const msg = newRouteMsg(r);
  const op = `add route ${r.dst}${r.gw ? ' via ' + r.gw : ''}${r.table !== undefined ? ' table ' + r.table : ''}`;
  try {
    await nl.request(RTM.NEWROUTE, NLM_F.CREATE | NLM_F.EXCL, msg, op);
  } catch (e) {
    if (!(existOk && e instanceof NetlinkError && e.errno === EEXIST)) throw e;
    try {
      await nl.request(RTM.NEWROUTE, NLM_F.CREATE | NLM_F.APPEND, msg, op);
    } catch (e2) {
      if (!(e2 instanceof NetlinkError && e2.errno === EEXIST)) throw e2;
    }
  }
}

/** The RTM_NEWROUTE body of `r` (exported for the codec's unit test). */
export function newRouteMsg(r: NewRoute): Buffer {
  const [ip, len] = r.dst.split('/');
  const dst = ipBytes(ip);
  const table = r.table || RT_TABLE_MAIN; // 0 (unspec) is the main table to the kernel too
  const attrs: Buffer[] = [A.u32(RTA.OIF, r.oif)];
  if (Number(len) > 0) attrs.push(A.attr(RTA.DST, dst.bytes));
  if (r.gw) attrs.push(A.attr(RTA.GATEWAY, ipBytes(r.gw).bytes));
  if (r.priority) attrs.push(A.u32(RTA.PRIORITY, r.priority));
  if (table !== RT_TABLE_MAIN) attrs.push(A.u32(RTA.TABLE, table));
  const scope = r.scope ?? (r.gw ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK);
  return Buffer.concat([rtmsg(dst.family, Number(len), scope, RTPROT_BOOT, RTN_UNICAST, table), ...attrs]);
}

/**
 * Create or update the main-table route to `dst` via `gw`, stamped with `protocol` (rtm_protocol), so
 * the owner can later find and delete only its own routes. No OIF: the kernel picks the device
 * through which `gw` is reachable (it must be on-link).
 */
export async function replaceRoute(nl: Rtnl, r: { dst: string; gw: string; protocol: number }): Promise<void> {
  const [ip, len] = r.dst.split('/');
  const dst = ipBytes(ip);
  const attrs: Buffer[] = [A.attr(RTA.GATEWAY, ipBytes(r.gw).bytes)];
  if (Number(len) > 0) attrs.push(A.attr(RTA.DST, dst.bytes));
  await nl.request(
    RTM.NEWROUTE,
    NLM_F.CREATE | NLM_F.REPLACE,
    Buffer.concat([rtmsg(dst.family, Number(len), RT_SCOPE.UNIVERSE, r.protocol), ...attrs]),
    `replace route ${r.dst} via ${r.gw}`,
  );
}

/**
 * Delete the main-table route to `dst`. With `protocol` the kernel matches only routes carrying that
 * protocol, so a route someone else installed to the same destination is never removed.
 */
export async function delRoute(nl: Rtnl, r: { dst: string; gw?: string; protocol?: number }): Promise<void> {
  const [ip, len] = r.dst.split('/');
  const dst = ipBytes(ip);
  const attrs: Buffer[] = [];
  if (Number(len) > 0) attrs.push(A.attr(RTA.DST, dst.bytes));
  if (r.gw) attrs.push(A.attr(RTA.GATEWAY, ipBytes(r.gw).bytes));
  // scope NOWHERE and type 0 are the kernel's wildcards for a delete (as `ip route del` sends)
  await nl.request(
    RTM.DELROUTE,
    0,
    Buffer.concat([rtmsg(dst.family, Number(len), RT_SCOPE.NOWHERE, r.protocol ?? 0, 0), ...attrs]),
    `delete route ${r.dst}${r.gw ? ' via ' + r.gw : ''}`,
  );
}

export async function listRoutes(nl: Rtnl, family: 4 | 6): Promise<RouteEntry[]> {
  const req = Buffer.alloc(12);
  req.writeUInt8(family === 4 ? AF.INET : AF.INET6, 0);
  const msgs = await nl.dump(RTM.GETROUTE, req, 'list routes');
  const out: RouteEntry[] = [];
  for (const m of msgs) {
    if (m.data.readUInt8(0) !== (family === 4 ? AF.INET : AF.INET6)) continue;
    const attrs = A.parseAttrs(m.data, 12);
    const table = A.readU32(attrs.get(RTA.TABLE)) ?? m.data.readUInt8(4);
    const dstLen = m.data.readUInt8(1);
    const dstRaw = attrs.get(RTA.DST);
    const zero = family === 4 ? '0.0.0.0' : '::';
    const gw = attrs.get(RTA.GATEWAY);
    out.push({
      family,
      table,
      dst: `${dstRaw ? ipaddr.fromByteArray([...dstRaw]).toString() : zero}/${dstLen}`,
      gw: gw ? ipaddr.fromByteArray([...gw]).toString() : undefined,
      oif: A.readU32(attrs.get(RTA.OIF)),
      priority: A.readU32(attrs.get(RTA.PRIORITY)),
      protocol: m.data.readUInt8(5),
    });
  }
  return out;
}
