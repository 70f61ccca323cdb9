// CHECK: prove that what ADD made is still there. Every problem is named in plain words (which
// piece, what is wrong, a likely cause) and all of them are reported at once. The comparisons
// are attachment/problems.ts (pure; `tsbridge doctor` uses them too), the reads attachment/read.ts.
import { CniEnv } from '../cni/env';
import { CniError, ErrCode } from '../cni/errors';
import { Result } from '../cni/result';
import { checkAttachmentAnywhere, guardedBridge, localnetGuardProblems, selectBackend } from '../firewall';
import { checkSpoofCheck } from '../firewall/nft/backend';
import { getVlanFiltering, listPortVlans } from '../netlink/bridge-vlan';
import { listAddresses } from '../netlink/addr';
import * as link from '../netlink/link';
import { Rtnl } from '../netlink/socket';
import { readSysctl } from '../sys/sysctl';
import { Netns, refuseOwnNetns } from '../sys/netns';
import { BridgeConfig } from '../attachment/config';
import { hostVethName, vlanGatewayName } from '../attachment/names';
import {
  bridgeProblems,
  containerProblems,
  forwardingProblems,
  gatewayProblems,
  portVlanProblems,
  vethProblems,
} from '../attachment/problems';
import { findHostVeth, readContainerState } from '../attachment/read';
import { attachmentRules, doesPortMappings, needsRules } from '../attachment/rules';
import { wantsVlans } from '../attachment/vlan-config';
import { asCniError } from './errors';
import { bareAddress } from '../ip/cidr';
import { openIpam } from './ipam';

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

async function checkHost(cfg: BridgeConfig, env: CniEnv, prev: Result, peerIndex?: number): Promise<string[]> {
  const nl = Rtnl.open();
  try {
    const br = await link.getLink(nl, cfg.bridge);
    if (!br) return bridgeProblems(cfg, br).map((p) => p.msg);
    const { name: vethName, veth } = await findHostVeth(nl, cfg, env.containerId, env.ifname, prev, peerIndex);
    const ips = prev.ips ?? [];
    // with a VLAN the gateway is on <bridge>.<vlan> (upstream), else on the bridge
    const gwLink =
      cfg.isGateway && cfg.vlans.vlan ? await link.getLink(nl, vlanGatewayName(cfg.bridge, cfg.vlans.vlan)) : br;
    const addrs = cfg.isGateway && gwLink ? await listAddresses(nl, gwLink.index) : [];
    const fwd = (key: string) => (cfg.isGateway ? readSysctl(key) : undefined);
    const vlanProblems =
      wantsVlans(cfg.vlans) && veth
        ? portVlanProblems(
            vethName,
            cfg.vlans,
            await getVlanFiltering(nl, br.index),
            (await listPortVlans(nl)).get(veth.index) ?? [],
          )
        : [];
    return [
      ...bridgeProblems(cfg, br),
      ...vethProblems(cfg, vethName, veth, br),
      ...gatewayProblems(cfg, ips, addrs),
      ...forwardingProblems(cfg, ips, fwd('net.ipv4.ip_forward'), fwd('net.ipv6.conf.all.forwarding')),
    ]
      .map((p) => p.msg)
      .concat(vlanProblems);
  } finally {
    nl.close();
  }
}

async function checkContainer(
  cfg: BridgeConfig,
  env: CniEnv,
  prev: Result,
  ns: Netns | Error,
): Promise<{ problems: string[]; peerIndex?: number }> {
  let nl: Rtnl;
  try {
    if (ns instanceof Error) throw ns;
    nl = Rtnl.open(ns);
  } catch (e) {
    return { problems: [`container network namespace ${env.netns} cannot be entered: ${(e as Error).message}`] };
  }
  try {
    const state = await readContainerState(nl, env.ifname);
    return {
      problems: containerProblems(cfg, env.ifname, prev, state).map((p) => p.msg),
      peerIndex: state.iface?.kind === 'veth' ? state.iface.link : undefined,
    };
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
      if (!held.includes(addr))
        out.push(
          `IPAM has no reservation of ${addr} for this container (file missing in ` +
            `${ipam.local.dataDir}/${cfg.net.name})`,
        );
    }
  }
  const rules = attachmentRules(
    cfg,
    env.containerId,
    env.ifname,
    (prev.ips ?? []).map((ip) => ip.address),
  );
  if (cfg.layer3 && needsRules(rules)) out.push(...checkAttachmentAnywhere(selectBackend(cfg.ipMasqBackend), rules));
  // on a network where tsbridge publishes ports, route_localnet on the bridge wants the guard for
  // every pod (a pod with IPv4 host ports has it checked with its rules). With the reference
  // portmap chained after tsbridge, route_localnet is portmap's and has no guard: doctor names it.
  const ownCheck = cfg.layer3 && needsRules(rules) && guardedBridge(rules) !== null;
  if (
    !ownCheck &&
    doesPortMappings(cfg) &&
    readSysctl(`/proc/sys/net/ipv4/conf/${cfg.bridge}/route_localnet`) === '1'
  ) {
    out.push(...localnetGuardProblems(cfg.bridge));
  }
  if (cfg.macspoofchk) {
    // the MAC ADD reported; a container that changed it since is named by containerProblems too
    const mac = prev.interfaces?.find((i) => i.name === env.ifname && i.sandbox)?.mac;
    out.push(...checkSpoofCheck(hostVethName(env.containerId, env.ifname), mac, env.containerId, env.ifname));
  }
  return out;
}
