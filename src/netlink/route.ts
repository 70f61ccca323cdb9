// Routes: struct rtmsg + RTA_* attributes, main table only (what the bridge plugin manages).
import * as A from './attrs';
import { AF, NLM_F, RT_SCOPE, RT_TABLE_MAIN, RTA, RTM, RTN_UNICAST, RTPROT_BOOT } from './constants';
import { ipBytes } from './addr';
import { EEXIST, NetlinkError, Rtnl } from './socket';
import * as ipaddr from 'ipaddr.js';

export interface RouteEntry { family: 4 | 6; dst: string; gw?: string; oif?: number; table: number; priority?: number }

function rtmsg(family: 4 | 6, dstLen: number, scope: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family === 4 ? AF.INET : AF.INET6, 0);
  b.writeUInt8(dstLen, 1);
  b.writeUInt8(RT_TABLE_MAIN, 4);
  b.writeUInt8(RTPROT_BOOT, 5);
  b.writeUInt8(scope, 6);
  b.writeUInt8(RTN_UNICAST, 7);
  return b;
}

/** Add a route; "0.0.0.0/0" or "::/0" is the default route. Without a gateway the route is link-scoped. */
export async function addRoute(nl: Rtnl, r: { dst: string; gw?: string; oif: number; priority?: number }, existOk = false): Promise<void> {
  const [ip, len] = r.dst.split('/');
  const dst = ipBytes(ip);
  const attrs: Buffer[] = [A.u32(RTA.OIF, r.oif)];
  if (Number(len) > 0) attrs.push(A.attr(RTA.DST, dst.bytes));
  if (r.gw) attrs.push(A.attr(RTA.GATEWAY, ipBytes(r.gw).bytes));
  if (r.priority) attrs.push(A.u32(RTA.PRIORITY, r.priority));
  try {
    await nl.request(RTM.NEWROUTE, NLM_F.CREATE | NLM_F.EXCL,
      Buffer.concat([rtmsg(dst.family, Number(len), r.gw ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK), ...attrs]),
      `add route ${r.dst}${r.gw ? ' via ' + r.gw : ''}`);
  } catch (e) {
    if (!(existOk && e instanceof NetlinkError && e.errno === EEXIST)) throw e;
  }
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
      family, table,
      dst: `${dstRaw ? ipaddr.fromByteArray([...dstRaw]).toString() : zero}/${dstLen}`,
      gw: gw ? ipaddr.fromByteArray([...gw]).toString() : undefined,
      oif: A.readU32(attrs.get(RTA.OIF)),
      priority: A.readU32(attrs.get(RTA.PRIORITY)),
    });
  }
  return out;
}
