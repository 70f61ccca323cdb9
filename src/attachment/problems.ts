// What is wrong with an attachment: pure comparisons of what ADD made (config, prevResult) with
// what was read from the kernel. CHECK joins the messages; `tsbridge doctor` places each problem
// on a hop of the packet's path, from facts it collects itself. Every problem is named in plain
// words: which piece, what is wrong, a likely cause.
import { IPConfig, Result } from '../cni/result';
import { familyOf } from '../ip/addr';
import { Addr } from '../netlink/addr';
import { PortVlan } from '../netlink/bridge-vlan';
import { IFF_UP } from '../netlink/constants';
import * as link from '../netlink/link';
import { RouteEntry } from '../netlink/route';
import { BridgeConfig } from './config';
import { containerRoutes } from './routes';
import { VlanConfig, wantsVlans } from './vlan-config';

/** Which piece a problem is about (doctor places each on a hop of the packet's path). */
export type CheckPiece =
  | 'bridge'
  | 'bridge-up'
  | 'gateway-address'
  | 'veth'
  | 'veth-master'
  | 'veth-up'
  | 'ipv4-forwarding'
  | 'ipv6-forwarding'
  | 'iface'
  | 'iface-mac'
  | 'iface-up'
  | 'address'
  | 'route';
export interface CheckProblem {
  piece: CheckPiece;
  msg: string;
  /** The address ("10.0.0.1", "10.0.0.5/24") or route destination the problem is about, if any. */
  what?: string;
}

/** The bridge: exists and is up. */
export function bridgeProblems(cfg: BridgeConfig, br: link.Link | undefined): CheckProblem[] {
  if (!br) return [{ piece: 'bridge', msg: `bridge ${cfg.bridge} does not exist (deleted by an operator?)` }];
  return br.flags & IFF_UP ? [] : [{ piece: 'bridge-up', msg: `bridge ${cfg.bridge} is down` }];
}

/** The host end of the veth pair: exists, on the bridge, up. */
export function vethProblems(
  cfg: BridgeConfig,
  vethName: string,
  veth: link.Link | undefined,
  br: link.Link | undefined,
): CheckProblem[] {
  if (!veth) return [{ piece: 'veth', msg: `host veth ${vethName} does not exist` }];
  const out: CheckProblem[] = [];
  if (!br || veth.master !== br.index)
    out.push({ piece: 'veth-master', msg: `host veth ${vethName} is not attached to bridge ${cfg.bridge}` });
  if (!(veth.flags & IFF_UP)) out.push({ piece: 'veth-up', msg: `host veth ${vethName} is down` });
  return out;
}

/** isGateway: each gateway address is on the bridge. */
export function gatewayProblems(cfg: BridgeConfig, ips: IPConfig[], bridgeAddrs: Addr[]): CheckProblem[] {
  if (!cfg.isGateway) return [];
  return ips
    .filter((ip) => ip.gateway && !bridgeAddrs.some((a) => a.address === ip.gateway))
    .map((ip) => ({
      piece: 'gateway-address' as const,
      msg: `bridge ${cfg.bridge} lacks gateway address ${ip.gateway}`,
      what: ip.gateway,
    }));
}

/** isGateway: forwarding is on for each family the container has (values as read from /proc/sys). */
export function forwardingProblems(
  cfg: BridgeConfig,
  ips: IPConfig[],
  ipv4Forward: string | undefined,
  ipv6Forward: string | undefined,
): CheckProblem[] {
  if (!cfg.isGateway) return [];
  const out: CheckProblem[] = [];
  if (ips.some((ip) => familyOf(ip.address) === 4) && ipv4Forward !== '1') {
    out.push({
      piece: 'ipv4-forwarding',
      msg: 'IPv4 forwarding is off (net.ipv4.ip_forward=0): the container cannot reach beyond the bridge',
    });
  }
  if (ips.some((ip) => familyOf(ip.address) === 6) && ipv6Forward !== '1') {
    out.push({ piece: 'ipv6-forwarding', msg: 'IPv6 forwarding is off (net.ipv6.conf.all.forwarding=0)' });
  }
  return out;
}

/** What was read inside the container's namespace. */
export interface ContainerState {
  iface?: link.Link;
  /** Addresses of the interface. */
  addrs: Addr[];
  /** Routes (both families) whose output interface is the interface. */
  routes: RouteEntry[];
}

/** The container interface: exists (with ADD's MAC), up, its addresses and tsbridge's routes. */
export function containerProblems(cfg: BridgeConfig, ifname: string, prev: Result, s: ContainerState): CheckProblem[] {
  const iface = s.iface;
  if (!iface) return [{ piece: 'iface', msg: `interface ${ifname} is missing in the container` }];
  const out: CheckProblem[] = [];
  const mine = prev.interfaces?.find((i) => i.name === ifname && i.sandbox);
  if (mine?.mac && mine.mac !== iface.mac)
    out.push({ piece: 'iface-mac', msg: `interface ${ifname} has MAC ${iface.mac}, ADD reported ${mine.mac}` });
  if (cfg.disableContainerInterface) return out;
  if (!(iface.flags & IFF_UP)) out.push({ piece: 'iface-up', msg: `interface ${ifname} is down in the container` });
  for (const ip of prev.ips ?? []) {
    const [addr, prefix] = ip.address.split('/');
    if (!s.addrs.some((a) => a.address === addr && String(a.prefix) === prefix)) {
      out.push({ piece: 'address', msg: `address ${ip.address} is missing from ${ifname}`, what: ip.address });
    }
  }
  // Only the routes tsbridge itself adds are checked: later plugins may add more (spec).
  for (const r of containerRoutes(prev, cfg)) {
    if (!s.routes.some((h) => h.dst === r.dst))
      out.push({ piece: 'route', msg: `route to ${r.dst} is missing in the container`, what: r.dst });
  }
  return out;
}

/** What is wrong with a port's VLAN entries. */
export function portVlanProblems(port: string, c: VlanConfig, filtering: boolean, have: PortVlan[]): string[] {
  if (!wantsVlans(c)) return [];
  const out: string[] = [];
  if (!filtering) out.push('VLAN filtering is off on the bridge: every port reaches every other');
  if (c.vlan) {
    const e = have.find((v) => v.vid === c.vlan);
    if (!e?.pvid || !e.untagged) out.push(`port ${port} is not an untagged PVID member of VLAN ${c.vlan}`);
    const other = have.find((v) => v.pvid && v.vid !== c.vlan);
    if (other) out.push(`port ${port} has PVID ${other.vid}, not ${c.vlan}`);
  }
  const missing = c.vlanTrunk.filter((id) => !have.some((v) => v.vid === id && !v.untagged));
  if (missing.length) out.push(`port ${port} lacks tagged trunk VLAN(s) ${missing.join(', ')}`);
  if (!c.preserveDefaultVlan && c.vlan && have.some((v) => v.vid === 1))
    out.push(`port ${port} is still a member of VLAN 1 (preserveDefaultVlan is off)`);
  return out;
}
