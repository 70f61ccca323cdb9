// Host namespace steps of ADD: the bridge, its gateway addresses, the veth pair and the port.
import { CniError, ErrCode } from '../cni/errors';
import { addAddress, delAddress, listAddresses } from '../netlink/addr';
import { IFF_UP } from '../netlink/constants';
import * as link from '../netlink/link';
import { EEXIST, NetlinkError, Rtnl } from '../netlink/socket';
import { Cidr, overlaps, parseCidr } from '../ip/cidr';
import type { Netns } from '../sys/netns';
import { writeSysctl } from '../sys/sysctl';
import { BridgeConfig } from '../attachment/config';
import { createFilteringBridge, ensureVlanFiltering, setPortVlans } from './vlan';
import { wantsVlans } from '../attachment/vlan-config';

/** The bridge, created if missing (with the configured MTU), and up. An existing bridge keeps its settings. */
export async function ensureBridge(nl: Rtnl, cfg: BridgeConfig): Promise<link.Link> {
  let br = await link.getLink(nl, cfg.bridge);
  const vlans = wantsVlans(cfg.vlans);
  if (!br) {
    try {
      // with VLANs, created filtering (a kernel without it refuses: nothing is made)
      if (vlans) await createFilteringBridge(nl, cfg.bridge, cfg.mtu);
      else await link.createBridge(nl, cfg.bridge, cfg.mtu);
    } catch (e) {
      // a concurrent ADD created it first: fine
      if (!(e instanceof NetlinkError && e.errno === EEXIST)) throw e;
    }
    br = await link.getLink(nl, cfg.bridge);
    if (!br) throw new CniError(ErrCode.NetlinkFailure, `bridge ${cfg.bridge} vanished right after creation`);
  }
  if (br.kind !== 'bridge')
    throw new CniError(
      ErrCode.InvalidConfig,
      `${cfg.bridge} already exists and is not a bridge (it is a ${br.kind ?? 'device'})`,
    );
  if (vlans) await ensureVlanFiltering(nl, br);
  if (!(br.flags & IFF_UP)) await link.setUp(nl, br.index);
  if (cfg.promiscMode) await link.setPromisc(nl, br.index, true);
  refuseRouterAdverts(br.name);
  return br;
}

/**
 * Put each gateway (as "gw/prefix") on the bridge, with the reference's rule: an IPv4 bridge
 * holds one IPv4 address, so any other IPv4 address (other subnet, or the same IP with another
 * prefix) is an error, or is removed with forceAddress; other IPv6 addresses may stay when their
 * subnets do not overlap. Our own other gateways (a second range set) are never in the way.
 * Then the bridge's MAC is pinned (see pinMac).
 */
export async function ensureGatewayAddrs(
  nl: Rtnl,
  br: link.Link,
  gateways: string[],
  forceAddress: boolean,
): Promise<void> {
  if (!gateways.length) return;
  const existing = await listAddresses(nl, br.index);
  const wanted = gateways.map((g) => parseCidr(g));
  const isWanted = (c: Cidr) =>
    wanted.some((w) => w.ip.value === c.ip.value && w.prefix === c.prefix && w.ip.family === c.ip.family);
  for (const gw of gateways) {
    const want = parseCidr(gw);
    let present = false;
    for (const a of existing) {
      if (a.family !== want.ip.family || (a.family === 6 && a.address.startsWith('fe80:'))) continue;
      const have = parseCidr(`${a.address}/${a.prefix}`);
      if (have.ip.value === want.ip.value && have.prefix === want.prefix) {
        present = true;
        continue;
      }
      if (isWanted(have)) continue;
      const overlap = overlaps(have, want);
      if (want.ip.family === 6 && !overlap) continue;
      if (!forceAddress) {
        throw new CniError(
          ErrCode.InvalidConfig,
          `bridge ${br.name} already has an IP address ` +
            `${a.address}/${a.prefix} different from ${gw} (remove it, or set forceAddress to replace it)`,
        );
      }
      await delAddress(nl, br.index, `${a.address}/${a.prefix}`);
    }
    if (!present) await addAddress(nl, br.index, gw, { existOk: true });
  }
  await pinMac(nl, br);
}

/**
 * Sets the bridge's MAC to its current one (addr_assign_type becomes 3, "set"), as the reference
 * does after giving it an address: otherwise the bridge takes the lowest MAC of its ports and the
 * gateway's MAC changes as containers come and go (stale neighbour entries in every container).
 * `br` is read before this ADD's veth joins, so a new bridge keeps its own random MAC.
 */
export async function pinMac(nl: Rtnl, br: link.Link): Promise<void> {
  if (br.mac) await link.setMac(nl, br.index, br.mac);
}

/**
 * accept_ra=0 on a host-side interface (the bridge, a host veth), as the reference does: tsbridge
 * owns its routes, and a container must not be able to give the node an IPv6 default route with a
 * router advertisement (CVE-2020-10749). No file (IPv6 off) = nothing to do.
 */
export function refuseRouterAdverts(ifname: string): void {
  try {
    writeSysctl(`/proc/sys/net/ipv6/conf/${ifname}/accept_ra`, '0');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Create the pair with the peer straight in the container's namespace, named `ifname` there. */
export async function createVethPair(
  nl: Rtnl,
  hostName: string,
  ifname: string,
  netns: Netns,
  cfg: BridgeConfig,
): Promise<link.Link> {
  try {
    await link.createVeth(nl, { hostName, peerName: ifname, peerNetnsFd: netns.fd, mtu: cfg.mtu, peerMac: cfg.mac });
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === EEXIST) {
      throw new CniError(
        ErrCode.InvalidConfig,
        `interface ${ifname} or host veth ${hostName} already exists (is ` +
          `${ifname} already attached to this container?)`,
      );
    }
    throw e;
  }
  const host = await link.getLink(nl, hostName);
  if (!host) throw new CniError(ErrCode.NetlinkFailure, `host veth ${hostName} vanished right after creation`);
  refuseRouterAdverts(host.name);
  return host;
}

/**
 * Enslave the host end to the bridge, set port flags, bring it up; returns it re-read (its MAC can change,
 * plugins#805).
 */
export async function attachToBridge(nl: Rtnl, host: link.Link, br: link.Link, cfg: BridgeConfig): Promise<link.Link> {
  await link.setMaster(nl, host.index, br.index);
  await link.setBridgePort(nl, host.index, {
    hairpin: cfg.hairpinMode || undefined,
    isolated: cfg.portIsolation || undefined,
  });
  await setPortVlans(nl, host, cfg.vlans); // before the port comes up: no frame on VLAN 1 first
  await link.setUp(nl, host.index);
  return (await link.getLinkByIndex(nl, host.index)) ?? host;
}
