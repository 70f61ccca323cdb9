// VLANs on the bridge (upstream bridge semantics): VLAN filtering on the bridge, the port's access
// VLAN (PVID, egress untagged) or trunk VLANs (tagged), VLAN 1 removed unless preserveDefaultVlan,
// and with isGateway the gateway on `<bridge>.<vlan>`: one end of a veth pair whose other end is a
// port of that VLAN (the bridge device itself stays on VLAN 1, as upstream leaves it).
import { sha256Hex } from '../sys/hash';
import { CniError, ErrCode } from '../cni/errors';
import {
  addPortVlans,
  BRIDGE_VLAN_INFO,
  delPortVlans,
  getVlanFiltering,
  listPortVlans,
  setVlanFiltering,
} from '../netlink/bridge-vlan';
import * as link from '../netlink/link';
import { EEXIST, NetlinkError, Rtnl } from '../netlink/socket';
import { IFF_UP } from '../netlink/constants';
import { vlanGatewayName } from '../attachment/names';
import { VlanConfig, vlanRanges, wantsVlans } from '../attachment/vlan-config';

const EOPNOTSUPP = 95;

/** The kernel's "no VLAN filtering" answer, as an error that names what is missing. */
function noVlanKernel(bridge: string): CniError {
  return new CniError(
    ErrCode.UnsupportedField,
    `"vlan"/"vlanTrunk" need bridge VLAN filtering, which this kernel lacks (Operation not supported on bridge ` +
      `${bridge}): ` +
      'boot a kernel built with CONFIG_BRIDGE_VLAN_FILTERING=y (and CONFIG_VLAN_8021Q for VLAN sub-interfaces), or ' +
      'remove the VLAN keys',
  );
}

const unsupported = (e: unknown): boolean => e instanceof NetlinkError && e.errno === EOPNOTSUPP;

/** Creates the bridge with VLAN filtering on; false when it exists already. */
export async function createFilteringBridge(nl: Rtnl, name: string, mtu: number | undefined): Promise<boolean> {
  try {
    await link.createBridge(nl, name, mtu, true);
    return true;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === EEXIST) return false;
    if (unsupported(e)) throw noVlanKernel(name);
    throw e;
  }
}

/** An existing bridge: VLAN filtering turned on if it is off. */
export async function ensureVlanFiltering(nl: Rtnl, br: link.Link): Promise<void> {
  if (await getVlanFiltering(nl, br.index)) return;
  try {
    await setVlanFiltering(nl, br.index, true);
  } catch (e) {
    if (unsupported(e)) throw noVlanKernel(br.name);
    throw e;
  }
}

/** The port's VLAN entries as the config wants them (called once the port is on the bridge). */
export async function setPortVlans(nl: Rtnl, port: link.Link, c: VlanConfig): Promise<void> {
  if (!wantsVlans(c)) return;
  if (!c.preserveDefaultVlan) {
    for (const v of (await listPortVlans(nl)).get(port.index) ?? []) await delPortVlans(nl, port.index, v.vid, v.vid);
  }
  const access = BRIDGE_VLAN_INFO.PVID | BRIDGE_VLAN_INFO.UNTAGGED;
  if (c.vlan) await addPortVlans(nl, port.index, c.vlan, c.vlan, access);
  for (const [from, to] of vlanRanges(c.vlanTrunk)) await addPortVlans(nl, port.index, from, to, 0);
  // a trunk without "vlan": untagged frames belong to VLAN 1 (upstream's native VLAN)
  if (!c.vlan && c.vlanTrunk.length) await addPortVlans(nl, port.index, 1, 1, access);
}

/** The bridge port end of the gateway pair: stable, so every ADD finds the same one. */
const gatewayPortName = (bridge: string, vlan: number): string => 'vgw' + sha256Hex(`${bridge}\0${vlan}`).slice(0, 9);

/**
 * isGateway with `vlan`: `<bridge>.<vlan>` (created with its port end on the bridge, PVID `vlan`
 * untagged, both up) to carry the gateway addresses. Shared by every container of that VLAN, so it
 * is never removed by a container's DEL or rollback (like the bridge).
 */
export async function ensureVlanGateway(nl: Rtnl, br: link.Link, c: VlanConfig, mtu?: number): Promise<link.Link> {
  const name = vlanGatewayName(br.name, c.vlan);
  let gw = await link.getLink(nl, name);
  if (!gw) {
    const portName = gatewayPortName(br.name, c.vlan);
    try {
      await link.createVeth(nl, { hostName: portName, peerName: name, mtu });
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errno === EEXIST)) throw e; // a concurrent ADD made it
    }
    const port = await link.getLink(nl, portName);
    if (port && port.master !== br.index) {
      await link.setMaster(nl, port.index, br.index);
      await setPortVlans(nl, port, { ...c, vlanTrunk: [] });
      await link.setUp(nl, port.index);
    }
    gw = await link.getLink(nl, name);
    if (!gw) throw new CniError(ErrCode.NetlinkFailure, `VLAN gateway interface ${name} vanished right after creation`);
  }
  if (!(gw.flags & IFF_UP)) await link.setUp(nl, gw.index);
  return gw;
}
