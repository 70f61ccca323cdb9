// An attachment's gateways and routes: the gateway IPAM gave or the bridge's default one, the
// routes the container gets, and which gateway a route without one goes through. ADD, CHECK and
// doctor (its findings and --fix) all use these, so the rules live once.
import { IPConfig, Result, Route } from '../cni/result';
import { familyOf, ipToString } from '../ip/addr';
import { networkOf, parseCidr } from '../ip/cidr';
import { addIP } from '../ipam/range';
import { BridgeConfig } from './config';

/**
 * With isGateway, an address IPAM gave without a gateway (static, dhcp, ...) gets its subnet's
 * first address as gateway, as the reference's calcGateways does: the bridge carries it and the
 * default route of isDefaultGateway goes through it.
 */
export function withGateways(ips: IPConfig[], isGateway: boolean): IPConfig[] {
  if (!isGateway) return ips;
  return ips.map((ip) => {
    if (ip.gateway) return ip;
    const c = parseCidr(ip.address);
    return { ...ip, gateway: ipToString(addIP(networkOf(c), 1n)) };
  });
}

/** The gateway addresses the bridge carries, with their subnet's prefix ("10.0.0.1/24"). */
export function gatewayCidrs(ips: IPConfig[]): string[] {
  return ips.filter((ip) => ip.gateway).map((ip) => `${ip.gateway}/${ip.address.split('/')[1]}`);
}

/**
 * Routes the container gets: IPAM's routes, plus a default route per family when isDefaultGateway (unless IPAM gave one
 * with a gateway).
 */
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

/** The next hop of a route: its own gw, else the gateway of the first address of its family (host-local semantics). */
export function routeGateway(r: { dst: string; gw?: string }, ips: IPConfig[]): string | undefined {
  return r.gw ?? ips.find((ip) => familyOf(ip.address) === familyOf(r.dst))?.gateway;
}
