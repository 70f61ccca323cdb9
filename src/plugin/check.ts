// CHECK: prove that what ADD made is still there. Every problem is named in plain words (which
// piece, what is wrong, a likely cause) and all of them are reported at once.
import { CniEnv } from '../cni/env';
import { CniError, ErrCode } from '../cni/errors';
import { Result } from '../cni/result';
import { selectBackend } from '../firewall';
import { listAddresses } from '../netlink/addr';
import * as link from '../netlink/link';
import { listRoutes } from '../netlink/route';
import { Rtnl } from '../netlink/socket';
import { readSysctl } from '../sys/sysctl';
import { BridgeConfig } from './config';
import { openIpam } from './ipam';
import { attachmentRules, needsRules } from './firewall-rules';
import { hostVethName } from './names';
import { asCniError } from './add';
import { containerRoutes } from './container-side';

export async function cmdCheck(cfg: BridgeConfig, env: CniEnv): Promise<void> {
  const prev = cfg.net.prevResult;
  if (!prev) throw new CniError(ErrCode.InvalidConfig, 'CHECK needs prevResult (the result of ADD) in the config');
  let problems: string[];
  try {
    problems = [
      ...(await checkHost(cfg, env)),
      ...(await checkContainer(cfg, env, prev)),
      ...checkIpamAndRules(cfg, env, prev),
    ];
  } catch (e) {
    throw asCniError(e);
  }
  if (problems.length) throw new CniError(ErrCode.CheckFailed, `CHECK failed: ${problems.join('; ')}`);
}

async function checkHost(cfg: BridgeConfig, env: CniEnv): Promise<string[]> {
  const out: string[] = [];
  const nl = Rtnl.open();
  try {
    const br = await link.getLink(nl, cfg.bridge);
    if (!br) return [`bridge ${cfg.bridge} does not exist (deleted by an operator?)`];
    if (!(br.flags & 1)) out.push(`bridge ${cfg.bridge} is down`);
    const vethName = hostVethName(env.containerId, env.ifname);
    const veth = await link.getLink(nl, vethName);
    if (!veth) out.push(`host veth ${vethName} does not exist`);
    else {
      if (veth.master !== br.index) out.push(`host veth ${vethName} is not attached to bridge ${cfg.bridge}`);
      if (!(veth.flags & 1)) out.push(`host veth ${vethName} is down`);
    }
    if (cfg.isGateway) {
      const addrs = await listAddresses(nl, br.index);
      for (const ip of cfg.net.prevResult?.ips ?? []) {
        if (ip.gateway && !addrs.some((a) => a.address === ip.gateway)) out.push(`bridge ${cfg.bridge} lacks gateway address ${ip.gateway}`);
      }
      const v4 = (cfg.net.prevResult?.ips ?? []).some((ip) => !ip.address.includes(':'));
      const v6 = (cfg.net.prevResult?.ips ?? []).some((ip) => ip.address.includes(':'));
      if (v4 && readSysctl('net.ipv4.ip_forward') !== '1') out.push('IPv4 forwarding is off (net.ipv4.ip_forward=0): the container cannot reach beyond the bridge');
      if (v6 && readSysctl('net.ipv6.conf.all.forwarding') !== '1') out.push('IPv6 forwarding is off (net.ipv6.conf.all.forwarding=0)');
    }
  } finally {
    nl.close();
  }
  return out;
}

async function checkContainer(cfg: BridgeConfig, env: CniEnv, prev: Result): Promise<string[]> {
  let nl: Rtnl;
  try {
    nl = Rtnl.open(env.netns);
  } catch (e) {
    return [`container network namespace ${env.netns} cannot be entered: ${(e as Error).message}`];
  }
  const out: string[] = [];
  try {
    const iface = await link.getLink(nl, env.ifname);
    if (!iface) return [`interface ${env.ifname} is missing in the container`];
    const mine = prev.interfaces?.find((i) => i.name === env.ifname && i.sandbox);
    if (mine?.mac && mine.mac !== iface.mac) out.push(`interface ${env.ifname} has MAC ${iface.mac}, ADD reported ${mine.mac}`);
    if (cfg.disableContainerInterface) return out;
    if (!(iface.flags & 1)) out.push(`interface ${env.ifname} is down in the container`);
    const addrs = await listAddresses(nl, iface.index);
    for (const ip of prev.ips ?? []) {
      const [addr, prefix] = ip.address.split('/');
      if (!addrs.some((a) => a.address === addr && String(a.prefix) === prefix)) out.push(`address ${ip.address} is missing from ${env.ifname}`);
    }
    // Only the routes tsbridge itself adds are checked: later plugins may add more (spec).
    const routes = containerRoutes(prev, cfg);
    const have = [...(await listRoutes(nl, 4)), ...(await listRoutes(nl, 6))].filter((r) => r.oif === iface.index);
    for (const r of routes) {
      if (!have.some((h) => h.dst === r.dst)) out.push(`route to ${r.dst} is missing in the container`);
    }
  } finally {
    nl.close();
  }
  return out;
}

function checkIpamAndRules(cfg: BridgeConfig, env: CniEnv, prev: Result): string[] {
  const out: string[] = [];
  const ipam = openIpam(cfg.net, env);
  if (ipam.local) {
    const held = ipam.held();
    for (const ip of prev.ips ?? []) {
      const addr = ip.address.split('/')[0];
      if (!held.includes(addr)) out.push(`IPAM has no reservation of ${addr} for this container (file missing in ${ipam.local.dataDir}/${cfg.net.name})`);
    }
  }
  const rules = attachmentRules(cfg, env, (prev.ips ?? []).map((ip) => ip.address));
  if (needsRules(rules)) out.push(...selectBackend(cfg.ipMasqBackend).checkAttachment(rules));
  return out;
}
