// Host namespace steps of ADD: the bridge, its gateway addresses, the veth pair and the port.
import { CniError, ErrCode } from '../cni/errors';
import { addAddress, delAddress, listAddresses } from '../netlink/addr';
import * as link from '../netlink/link';
import { EEXIST, NetlinkError, Rtnl } from '../netlink/socket';
import { parseCidr, contains, networkOf } from '../ipam/ip';
import type { Netns } from '../sys/netns';
import { BridgeConfig } from './config';

/** The bridge, created if missing (with the configured MTU), and up. An existing bridge keeps its settings. */
export async function ensureBridge(nl: Rtnl, cfg: BridgeConfig): Promise<link.Link> {
  let br = await link.getLink(nl, cfg.bridge);
  if (!br) {
    try {
      await link.createBridge(nl, cfg.bridge, cfg.mtu);
    } catch (e) {
      // a concurrent ADD created it first: fine
      if (!(e instanceof NetlinkError && e.errno === EEXIST)) throw e;
    }
    br = await link.getLink(nl, cfg.bridge);
    if (!br) throw new CniError(ErrCode.NetlinkFailure, `bridge ${cfg.bridge} vanished right after creation`);
  }
  if (br.kind !== 'bridge') throw new CniError(ErrCode.InvalidConfig, `${cfg.bridge} already exists and is not a bridge (it is a ${br.kind ?? 'device'})`);
  if (!(br.flags & 1)) await link.setUp(nl, br.index);
  if (cfg.promiscMode) await link.setPromisc(nl, br.index, true);
  return br;
}

/**
 * Put each gateway (as "gw/prefix") on the bridge. An existing different address in an
 * overlapping subnet is an error unless forceAddress, which replaces it (reference semantics).
 */
export async function ensureGatewayAddrs(nl: Rtnl, br: link.Link, gateways: string[], forceAddress: boolean): Promise<void> {
  if (!gateways.length) return;
  const existing = await listAddresses(nl, br.index);
  for (const gw of gateways) {
    const want = parseCidr(gw);
    let present = false;
    for (const a of existing) {
      if (a.family !== want.ip.family || a.address.startsWith('fe80:')) continue;
      const have = parseCidr(`${a.address}/${a.prefix}`);
      if (have.ip.value === want.ip.value && have.prefix === want.prefix) { present = true; continue; }
      const overlap = contains({ ip: networkOf(have), prefix: have.prefix }, want.ip) || contains({ ip: networkOf(want), prefix: want.prefix }, have.ip);
      if (!overlap) continue;
      if (!forceAddress) {
        throw new CniError(ErrCode.InvalidConfig, `bridge ${br.name} already has an IP address ${a.address}/${a.prefix} different from ${gw} (set forceAddress to replace it)`);
      }
      await delAddress(nl, br.index, `${a.address}/${a.prefix}`);
    }
    if (!present) await addAddress(nl, br.index, gw, { existOk: true });
  }
}

/** Create the pair with the peer straight in the container's namespace, named `ifname` there. */
export async function createVethPair(nl: Rtnl, hostName: string, ifname: string, netns: Netns, cfg: BridgeConfig): Promise<link.Link> {
  try {
    await link.createVeth(nl, { hostName, peerName: ifname, peerNetnsFd: netns.fd, mtu: cfg.mtu, peerMac: cfg.mac });
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === EEXIST) {
      throw new CniError(ErrCode.InvalidConfig, `interface ${ifname} or host veth ${hostName} already exists (is ${ifname} already attached to this container?)`);
    }
    throw e;
  }
  const host = await link.getLink(nl, hostName);
  if (!host) throw new CniError(ErrCode.NetlinkFailure, `host veth ${hostName} vanished right after creation`);
  return host;
}

/** Enslave the host end to the bridge, set port flags, bring it up; returns it re-read (its MAC can change, plugins#805). */
export async function attachToBridge(nl: Rtnl, host: link.Link, br: link.Link, cfg: BridgeConfig): Promise<link.Link> {
  await link.setMaster(nl, host.index, br.index);
  await link.setBridgePort(nl, host.index, { hairpin: cfg.hairpinMode || undefined, isolated: cfg.portIsolation || undefined });
  await link.setUp(nl, host.index);
  return (await link.getLinkByIndex(nl, host.index)) ?? host;
}
