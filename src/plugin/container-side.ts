// Container namespace steps of ADD: bring the interface up, add its addresses and routes (which
// routes, through which gateway: attachment/routes.ts).
import { Result, Route } from '../cni/result';
import { familyOf } from '../ip/addr';
import { addAddress } from '../netlink/addr';
import * as link from '../netlink/link';
import { addRoute } from '../netlink/route';
import { Rtnl } from '../netlink/socket';
import { BridgeConfig } from '../attachment/config';
import { routeGateway } from '../attachment/routes';
import { readSysctl, writeSysctl } from '../sys/sysctl';

export async function configureContainer(
  nl: Rtnl,
  ifname: string,
  ipam: Result,
  routes: Route[],
  cfg: BridgeConfig,
): Promise<link.Link> {
  const iface = await link.getLink(nl, ifname);
  if (!iface) throw new Error(`container interface ${ifname} missing right after creation`);
  if (cfg.disableContainerInterface) return iface; // left down and unaddressed, as the reference does
  await link.setUp(nl, iface.index);
  for (const ip of ipam.ips ?? []) await addAddress(nl, iface.index, ip.address, { dad: cfg.enableDad });
  for (const r of routes) {
    const gw = routeGateway(r, ipam.ips ?? []);
    await addRoute(
      nl,
      { dst: r.dst, gw, oif: iface.index, priority: r.priority, table: r.table, scope: r.scope },
      true,
    );
  }
  return iface;
}

/**
 * The sysctls the reference sets on the container interface before addressing it (call inside the
 * container's namespace): DAD off (or enhanced DAD with enableDad), arp_notify=1 (a gratuitous
 * ARP when the link comes up, so a reused IP's neighbours learn the new MAC), and IPv6 enabled on
 * lo and the interface when an IPv6 address is coming. Like the reference, the first two are best
 * effort; IPv6 that cannot be enabled fails the ADD.
 */
export function setContainerSysctls(ifname: string, ipam: Result, cfg: BridgeConfig): void {
  const v6 = `/proc/sys/net/ipv6/conf/${ifname}`;
  const bestEffort = (path: string, value: string) => {
    try {
      writeSysctl(path, value);
    } catch {
      /* IPv6 off in this namespace, or an old kernel: as the reference, ignored */
    }
  };
  if (cfg.enableDad) {
    bestEffort(`${v6}/enhanced_dad`, '1');
    bestEffort(`${v6}/accept_dad`, '1');
  } else {
    bestEffort(`${v6}/accept_dad`, '0');
  }
  bestEffort(`/proc/sys/net/ipv4/conf/${ifname}/arp_notify`, '1');
  if ((ipam.ips ?? []).some((ip) => familyOf(ip.address) === 6)) {
    for (const dev of ['lo', ifname]) {
      const key = `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`;
      if (readSysctl(key) === '1') writeSysctl(key, '0');
    }
  }
}
