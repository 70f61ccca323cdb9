// An attachment as the kernel has it, read (never changed) through our netlink codecs: the
// container side and the host end of the veth pair. CHECK and `tsbridge doctor` read the same way,
// so a pod doctor calls healthy passes CHECK. Kept apart from problems.ts, which stays pure.
import { Result } from '../cni/result';
import { listAddresses } from '../netlink/addr';
import * as link from '../netlink/link';
import { listRoutes } from '../netlink/route';
import { Rtnl } from '../netlink/socket';
import { BridgeConfig } from './config';
import { hostVethName } from './names';
import { ContainerState } from './problems';

/** The container side as the kernel has it: the interface, its addresses and routes. */
export async function readContainerState(nl: Rtnl, ifname: string): Promise<ContainerState> {
  const iface = await link.getLink(nl, ifname);
  if (!iface) return { addrs: [], routes: [] };
  const addrs = await listAddresses(nl, iface.index);
  const routes = [...(await listRoutes(nl, 4)), ...(await listRoutes(nl, 6))].filter((r) => r.oif === iface.index);
  return { iface, addrs, routes };
}

/**
 * The host end of the pair, found as the reference finds it, so pods either plugin made pass:
 * the container interface's peer (its IFLA_LINK, an ifindex in this namespace), else tsbridge's
 * hashed name, else a host-side interface named in prevResult (the reference's random names).
 */
export async function findHostVeth(
  nl: Rtnl,
  cfg: BridgeConfig,
  containerId: string,
  ifname: string,
  prev: Result | undefined,
  peerIndex?: number,
): Promise<{ name: string; veth?: link.Link }> {
  const ours = hostVethName(containerId, ifname);
  if (peerIndex) {
    const peer = await link.getLinkByIndex(nl, peerIndex);
    if (peer?.kind === 'veth') return { name: peer.name, veth: peer };
  }
  const named = [
    ours,
    ...(prev?.interfaces ?? []).filter((i) => !i.sandbox && i.name !== cfg.bridge).map((i) => i.name),
  ];
  for (const name of new Set(named)) {
    const l = await link.getLink(nl, name);
    if (l?.kind === 'veth') return { name, veth: l };
  }
  return { name: named.length > 1 ? named[1] : ours };
}
