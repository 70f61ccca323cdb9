// Container namespace steps of ADD: bring the interface up, add its addresses and routes.
import { Result, Route } from '../cni/result';
import { addAddress } from '../netlink/addr';
import * as link from '../netlink/link';
import { addRoute } from '../netlink/route';
import { Rtnl } from '../netlink/socket';
import { BridgeConfig } from './config';

const familyOf = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4);

/** Routes the container gets: IPAM's routes, plus a default route per family when isDefaultGateway. */
export function containerRoutes(ipam: Result, cfg: BridgeConfig): Route[] {
  const routes = [...(ipam.routes ?? [])];
  if (cfg.isDefaultGateway) {
    for (const ip of ipam.ips ?? []) {
      if (!ip.gateway) continue;
      const dst = familyOf(ip.address) === 4 ? '0.0.0.0/0' : '::/0';
      if (!routes.some((r) => r.dst === dst)) routes.push({ dst, gw: ip.gateway });
    }
  }
  return routes;
}

export async function configureContainer(nl: Rtnl, ifname: string, ipam: Result, routes: Route[], cfg: BridgeConfig): Promise<link.Link> {
  const iface = await link.getLink(nl, ifname);
  if (!iface) throw new Error(`container interface ${ifname} missing right after creation`);
  if (cfg.disableContainerInterface) return iface; // left down and unaddressed, as the reference does
  await link.setUp(nl, iface.index);
  for (const ip of ipam.ips ?? []) await addAddress(nl, iface.index, ip.address, { dad: cfg.enableDad });
  for (const r of routes) {
    // a route without gw goes via the gateway of its family (host-local semantics)
    const gw = r.gw ?? (ipam.ips ?? []).find((ip) => familyOf(ip.address) === familyOf(r.dst))?.gateway;
    await addRoute(nl, { dst: r.dst, gw, oif: iface.index }, true);
  }
  return iface;
}
