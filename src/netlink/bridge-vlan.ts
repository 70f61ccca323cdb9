// Bridge VLAN filtering through rtnetlink: the bridge's IFLA_BR_VLAN_FILTERING (in IFLA_INFO_DATA),
// and a port's VLAN entries, RTM_SETLINK / RTM_DELLINK with family AF_BRIDGE and IFLA_AF_SPEC
// holding IFLA_BRIDGE_VLAN_INFO {flags, vid} (what `bridge vlan add/del/show` sends).
import * as A from './attrs';
import { AF, IFLA, IFLA_INFO, RTM } from './constants';
import { Rtnl } from './socket';

const IFLA_AF_SPEC = 26;
const IFLA_EXT_MASK = 29;
const RTEXT_FILTER_BRVLAN = 1 << 1;
const IFLA_BR_VLAN_FILTERING = 7;
const IFLA_BRIDGE_VLAN_INFO = 2;
export const BRIDGE_VLAN_INFO = { PVID: 1 << 1, UNTAGGED: 1 << 2, RANGE_BEGIN: 1 << 3, RANGE_END: 1 << 4 } as const;

export interface PortVlan {
  vid: number;
  pvid: boolean;
  untagged: boolean;
}

function ifinfomsg(index: number, family: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  return b;
}

function vlanInfo(flags: number, vid: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt16LE(flags, 0);
  p.writeUInt16LE(vid, 2);
  return A.attr(IFLA_BRIDGE_VLAN_INFO, p);
}

/** The IFLA_AF_SPEC entries for VLANs from..to with `flags` (a range is a RANGE_BEGIN/RANGE_END pair). */
export function vlanSpec(from: number, to: number, flags: number): Buffer {
  const entries =
    from === to
      ? [vlanInfo(flags, from)]
      : [vlanInfo(flags | BRIDGE_VLAN_INFO.RANGE_BEGIN, from), vlanInfo(flags | BRIDGE_VLAN_INFO.RANGE_END, to)];
  return A.nested(IFLA_AF_SPEC, ...entries);
}

/** The IFLA_LINKINFO of a bridge with VLAN filtering on/off (for RTM_NEWLINK, create or change). */
export const bridgeVlanFilteringInfo = (on: boolean): Buffer =>
  A.nested(
    IFLA.LINKINFO,
    A.str(IFLA_INFO.KIND, 'bridge'),
    A.nested(IFLA_INFO.DATA, A.u8(IFLA_BR_VLAN_FILTERING, on ? 1 : 0)),
  );

/** Turn VLAN filtering on for an existing bridge. */
export async function setVlanFiltering(nl: Rtnl, index: number, on: boolean): Promise<void> {
  await nl.request(
    RTM.NEWLINK,
    0,
    Buffer.concat([ifinfomsg(index, AF.UNSPEC), bridgeVlanFilteringInfo(on)]),
    `set vlan_filtering on bridge #${index}`,
  );
}

/** Whether the bridge filters VLANs (IFLA_BR_VLAN_FILTERING as the kernel reports it). */
export async function getVlanFiltering(nl: Rtnl, index: number): Promise<boolean> {
  const [m] = await nl.request(RTM.GETLINK, 0, ifinfomsg(index, AF.UNSPEC), `get bridge #${index}`);
  const info = m ? A.parseAttrs(m.data, 16).get(IFLA.LINKINFO) : undefined;
  const data = info ? A.parseAttrs(info).get(IFLA_INFO.DATA) : undefined;
  return (data ? A.readU8(A.parseAttrs(data).get(IFLA_BR_VLAN_FILTERING)) : 0) === 1;
}

/** Add VLANs from..to to a bridge port (pvid + untagged for an access VLAN, neither for a trunk). */
export async function addPortVlans(nl: Rtnl, index: number, from: number, to: number, flags: number): Promise<void> {
  await nl.request(
    RTM.SETLINK,
    0,
    Buffer.concat([ifinfomsg(index, AF.BRIDGE), vlanSpec(from, to, flags)]),
    `add vlan ${from}${to !== from ? `-${to}` : ''} to port #${index}`,
  );
}

export async function delPortVlans(nl: Rtnl, index: number, from: number, to: number): Promise<void> {
  await nl.request(
    RTM.DELLINK,
    0,
    Buffer.concat([ifinfomsg(index, AF.BRIDGE), vlanSpec(from, to, 0)]),
    `delete vlan ${from}${to !== from ? `-${to}` : ''} from port #${index}`,
  );
}

/** Every IFLA_BRIDGE_VLAN_INFO in an IFLA_AF_SPEC payload (several of the same type: parseAttrs keeps one). */
export function decodeVlanSpec(spec: Buffer): PortVlan[] {
  const out: PortVlan[] = [];
  let begin: number | undefined;
  for (let o = 0; o + 4 <= spec.length; ) {
    const len = spec.readUInt16LE(o);
    const type = spec.readUInt16LE(o + 2) & ~A.NLA_F_NESTED;
    if (len < 4 || o + len > spec.length) break;
    if (type === IFLA_BRIDGE_VLAN_INFO && len >= 8) {
      const flags = spec.readUInt16LE(o + 4);
      const vid = spec.readUInt16LE(o + 6);
      const pvid = (flags & BRIDGE_VLAN_INFO.PVID) !== 0;
      const untagged = (flags & BRIDGE_VLAN_INFO.UNTAGGED) !== 0;
      if (flags & BRIDGE_VLAN_INFO.RANGE_BEGIN) begin = vid;
      else if (flags & BRIDGE_VLAN_INFO.RANGE_END && begin !== undefined) {
        for (let v = begin; v <= vid; v++) out.push({ vid: v, pvid, untagged });
        begin = undefined;
      } else out.push({ vid, pvid, untagged });
    }
    o += (len + 3) & ~3;
  }
  return out;
}

/** The VLAN entries of every bridge port (and bridge) in the namespace, by ifindex. */
export async function listPortVlans(nl: Rtnl): Promise<Map<number, PortVlan[]>> {
  const msgs = await nl.dump(
    RTM.GETLINK,
    Buffer.concat([ifinfomsg(0, AF.BRIDGE), A.u32(IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN)]),
    'list bridge vlans',
  );
  const out = new Map<number, PortVlan[]>();
  for (const m of msgs) {
    const spec = A.parseAttrs(m.data, 16).get(IFLA_AF_SPEC);
    if (spec) out.set(m.data.readInt32LE(4), decodeVlanSpec(spec));
  }
  return out;
}
