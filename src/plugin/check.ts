// CHECK: prove that what ADD made is still there. Every problem is named in plain words (which
// piece, what is wrong, a likely cause) and all of them are reported at once.
// The comparisons are pure functions over what was read from the kernel (exported: `tsbridge
// doctor` walks the same pieces with the same words, from facts it collects itself).
import { CniEnv } from '../cni/env';
import { CniError, ErrCode } from '../cni/errors';
import { IPConfig, Result } from '../cni/result';
import { checkAttachmentAnywhere, guardedBridge, localnetGuardProblems, selectBackend } from '../firewall';
import { checkSpoofCheck } from '../firewall/nft/backend';
import { getVlanFiltering, listPortVlans } from '../netlink/bridge-vlan';
import { portVlanProblems, vlanGatewayName } from './vlan';
import { wantsVlans } from '../attachment/vlan-config';
import { Addr, listAddresses } from '../netlink/addr';
import * as link from '../netlink/link';
import { listRoutes, RouteEntry } from '../netlink/route';
import { Rtnl } from '../netlink/socket';
import { readSysctl } from '../sys/sysctl';
import { Netns, refuseOwnNetns } from '../sys/netns';
import { BridgeConfig } from '../attachment/config';
import { openIpam } from './ipam';
import { attachmentRules, doesPortMappings, needsRules } from '../attachment/rules';
import { hostVethName } from '../attachment/names';
import { asCniError } from './add';
import { containerRoutes } from './container-side';
import { bareAddress } from '../ip/cidr';
import { familyOf } from '../ip/addr';

export async function cmdCheck(cfg: BridgeConfig, env: CniEnv): Promise<void> {
  const prev = cfg.net.prevResult;
  if (!prev) throw new CniError(ErrCode.InvalidConfig, 'CHECK needs prevResult (the result of ADD) in the config');
  // opened once; a namespace that cannot be opened is one of CHECK's findings, not an error of its own
  let ns: Netns | Error;
  try {
    ns = Netns.open(env.netns);
  } catch (e) {
    ns = e as Error;
  }
  let problems: string[];
  try {
    if (ns instanceof Netns) refuseOwnNetns(ns);
    const cont = await checkContainer(cfg, env, prev, ns);
    problems = [
      ...(await checkHost(cfg, env, prev, cont.peerIndex)),
      ...cont.problems,
      ...checkIpamAndRules(cfg, env, prev),
    ];
  } catch (e) {
    throw asCniError(e);
  } finally {
    if (ns instanceof Netns) ns.close();
  }
  if (problems.length) throw new CniError(ErrCode.CheckFailed, `CHECK failed: ${problems.join('; ')}`);
}

/** Which piece a problem is about (doctor places each on a hop of the packet's path). */
export type CheckPiece =
  | 'bridge' | 'bridge-up' | 'gateway-address' | 'veth' | 'veth-master' | 'veth-up' | 'ipv4-forwarding' | 'ipv6-forwarding'
  | 'iface' | 'iface-mac' | 'iface-up' | 'address' | 'route';
export interface CheckProblem {
  piece: CheckPiece;
  msg: string;
  /** The address ("10.0.0.1", "10.0.0.5/24") or route destination the problem is about, if any. */
  what?: string;
}

export const IFF_UP = 1;

/** The bridge: exists and is up. */
export function bridgeProblems(cfg: BridgeConfig, br: link.Link | undefined): CheckProblem[] {
  if (!br) return [{ piece: 'bridge', msg: `bridge ${cfg.bridge} does not exist (deleted by an operator?)` }];
  return br.flags & IFF_UP ? [] : [{ piece: 'bridge-up', msg: `bridge ${cfg.bridge} is down` }];
}

/** The host end of the veth pair: exists, on the bridge, up. */
export function vethProblems(cfg: BridgeConfig, vethName: string, veth: link.Link | undefined, br: link.Link | undefined): CheckProblem[] {
  if (!veth) return [{ piece: 'veth', msg: `host veth ${vethName} does not exist` }];
  const out: CheckProblem[] = [];
  if (!br || veth.master !== br.index) out.push({ piece: 'veth-master', msg: `host veth ${vethName} is not attached to bridge ${cfg.bridge}` });
  if (!(veth.flags & IFF_UP)) out.push({ piece: 'veth-up', msg: `host veth ${vethName} is down` });
  return out;
}

/** isGateway: each gateway address is on the bridge. */
export function gatewayProblems(cfg: BridgeConfig, ips: IPConfig[], bridgeAddrs: Addr[]): CheckProblem[] {
  if (!cfg.isGateway) return [];
  return ips.filter((ip) => ip.gateway && !bridgeAddrs.some((a) => a.address === ip.gateway))
    .map((ip) => ({ piece: 'gateway-address' as const, msg: `bridge ${cfg.bridge} lacks gateway address ${ip.gateway}`, what: ip.gateway }));
}

/** isGateway: forwarding is on for each family the container has (values as read from /proc/sys). */
export function forwardingProblems(cfg: BridgeConfig, ips: IPConfig[], ipv4Forward: string | undefined, ipv6Forward: string | undefined): CheckProblem[] {
  if (!cfg.isGateway) return [];
  const out: CheckProblem[] = [];
  if (ips.some((ip) => familyOf(ip.address) === 4) && ipv4Forward !== '1') {
    out.push({ piece: 'ipv4-forwarding', msg: 'IPv4 forwarding is off (net.ipv4.ip_forward=0): the container cannot reach beyond the bridge' });
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
  if (mine?.mac && mine.mac !== iface.mac) out.push({ piece: 'iface-mac', msg: `interface ${ifname} has MAC ${iface.mac}, ADD reported ${mine.mac}` });
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
    if (!s.routes.some((h) => h.dst === r.dst)) out.push({ piece: 'route', msg: `route to ${r.dst} is missing in the container`, what: r.dst });
  }
  return out;
}

/**
 * The host end of the pair, found as the reference finds it, so pods either plugin made pass:
 * the container interface's peer (its IFLA_LINK, an ifindex in this namespace), else tsbridge's
 * hashed name, else a host-side interface named in prevResult (the reference's random names).
 */
export async function findHostVeth(nl: Rtnl, cfg: BridgeConfig, env: CniEnv, prev: Result | undefined, peerIndex?: number): Promise<{ name: string; veth?: link.Link }> {
  const ours = hostVethName(env.containerId, env.ifname);
  if (peerIndex) {
    const peer = await link.getLinkByIndex(nl, peerIndex);
    if (peer?.kind === 'veth') return { name: peer.name, veth: peer };
  }
  const named = [ours, ...(prev?.interfaces ?? []).filter((i) => !i.sandbox && i.name !== cfg.bridge).map((i) => i.name)];
  for (const name of new Set(named)) {
    const l = await link.getLink(nl, name);
    if (l?.kind === 'veth') return { name, veth: l };
  }
  return { name: named.length > 1 ? named[1] : ours };
}

async function checkHost(cfg: BridgeConfig, env: CniEnv, prev: Result, peerIndex?: number): Promise<string[]> {
  const nl = Rtnl.open();
  try {
    const br = await link.getLink(nl, cfg.bridge);
    if (!br) return bridgeProblems(cfg, br).map((p) => p.msg);
    const { name: vethName, veth } = await findHostVeth(nl, cfg, env, prev, peerIndex);
    const ips = prev.ips ?? [];
    // with a VLAN the gateway is on <bridge>.<vlan> (upstream), else on the bridge
    const gwLink = cfg.isGateway && cfg.vlans.vlan ? await link.getLink(nl, vlanGatewayName(cfg.bridge, cfg.vlans.vlan)) : br;
    const addrs = cfg.isGateway && gwLink ? await listAddresses(nl, gwLink.index) : [];
    const fwd = (key: string) => (cfg.isGateway ? readSysctl(key) : undefined);
    const vlanProblems = wantsVlans(cfg.vlans) && veth
      ? portVlanProblems(vethName, cfg.vlans, await getVlanFiltering(nl, br.index), (await listPortVlans(nl)).get(veth.index) ?? [])
      : [];
    return [
      ...bridgeProblems(cfg, br),
      ...vethProblems(cfg, vethName, veth, br),
      ...gatewayProblems(cfg, ips, addrs),
      ...forwardingProblems(cfg, ips, fwd('net.ipv4.ip_forward'), fwd('net.ipv6.conf.all.forwarding')),
    ].map((p) => p.msg).concat(vlanProblems);
  } finally {
    nl.close();
  }
}

/** The container side as the kernel has it: the interface, its addresses and routes. */
export async function readContainerState(nl: Rtnl, ifname: string): Promise<ContainerState> {
  const iface = await link.getLink(nl, ifname);
  if (!iface) return { addrs: [], routes: [] };
  const addrs = await listAddresses(nl, iface.index);
  const routes = [...(await listRoutes(nl, 4)), ...(await listRoutes(nl, 6))].filter((r) => r.oif === iface.index);
  return { iface, addrs, routes };
}

async function checkContainer(cfg: BridgeConfig, env: CniEnv, prev: Result, ns: Netns | Error): Promise<{ problems: string[]; peerIndex?: number }> {
  let nl: Rtnl;
  try {
    if (ns instanceof Error) throw ns;
    nl = Rtnl.open(ns);
  } catch (e) {
    return { problems: [`container network namespace ${env.netns} cannot be entered: ${(e as Error).message}`] };
  }
  try {
    const state = await readContainerState(nl, env.ifname);
    return { problems: containerProblems(cfg, env.ifname, prev, state).map((p) => p.msg), peerIndex: state.iface?.kind === 'veth' ? state.iface.link : undefined };
  } finally {
    nl.close();
  }
}

function checkIpamAndRules(cfg: BridgeConfig, env: CniEnv, prev: Result): string[] {
  const out: string[] = [];
  const ipam = openIpam(cfg.net, env);
  out.push(...ipam.check()); // a delegated plugin checks its own state (spec: CHECK is passed to it)
  if (ipam.local) {
    const held = ipam.held();
    for (const ip of prev.ips ?? []) {
      const addr = bareAddress(ip.address);
      if (!held.includes(addr)) out.push(`IPAM has no reservation of ${addr} for this container (file missing in ${ipam.local.dataDir}/${cfg.net.name})`);
    }
  }
  const rules = attachmentRules(cfg, env, (prev.ips ?? []).map((ip) => ip.address));
  if (cfg.layer3 && needsRules(rules)) out.push(...checkAttachmentAnywhere(selectBackend(cfg.ipMasqBackend), rules));
  // on a network where tsbridge publishes ports, route_localnet on the bridge wants the guard for
  // every pod (a pod with IPv4 host ports has it checked with its rules). With the reference
  // portmap chained after tsbridge, route_localnet is portmap's and has no guard: doctor names it.
  const ownCheck = cfg.layer3 && needsRules(rules) && guardedBridge(rules) !== null;
  if (!ownCheck && doesPortMappings(cfg) && readSysctl(`/proc/sys/net/ipv4/conf/${cfg.bridge}/route_localnet`) === '1') {
    out.push(...localnetGuardProblems(cfg.bridge));
  }
  if (cfg.macspoofchk) {
    // the MAC ADD reported; a container that changed it since is named by containerProblems too
    const mac = prev.interfaces?.find((i) => i.name === env.ifname && i.sandbox)?.mac;
    out.push(...checkSpoofCheck(hostVethName(env.containerId, env.ifname), mac, env.containerId, env.ifname));
  }
  return out;
}
