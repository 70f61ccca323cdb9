// DEL: best effort and idempotent. Everything is found from what ADD left behind, not from the
// container: firewall rules by their tag, the host veth by its deterministic name, IPs by the IPAM
// store. So DEL works with an empty or vanished CNI_NETNS (containerd's ctr always sends an empty
// one), where the reference leaks its MASQUERADE rules (plugins#810).
import { CniEnv } from '../cni/env';
import { removeAttachmentEverywhere } from '../firewall';
import { mayHaveRules } from '../attachment/rules';
import { spoofNameProblem } from '../firewall/nft/spoofcheck';
import { removeSpoofCheck } from '../firewall/nft/backend';
import * as link from '../netlink/link';
import { ENODEV, NetlinkError, Rtnl } from '../netlink/socket';
import { log, trace } from '../log';
import { BridgeConfig } from '../attachment/config';
import { openIpam } from './ipam';
import { hostVethName } from '../attachment/names';
import { asCniError } from './errors';
import { bareAddress } from '../ip/cidr';

export async function cmdDel(cfg: BridgeConfig, env: CniEnv): Promise<void> {
  try {
    trace('DEL start');
    // Both backends, whatever ipMasqBackend resolves to now (the attachment may be from another
    // setting, or from the reference: same iptables chains; its nftables tables by ifname too),
    // only the families of the attachment's IPs: one read per family/backend, one batch each.
    // Rules left by a config that turned ipMasq off are GC's. Port mappings are not validated here.
    const ipam = openIpam(cfg.net, env);
    trace('ipam opened');
    if (mayHaveRules(cfg))
      removeAttachmentEverywhere(cfg.net.name, env.containerId, attachmentIps(ipam.held(), cfg), env.ifname);
    // keyed by (container ID, ifname) as the reference's; names nft cannot carry were never made
    if (cfg.macspoofchk && !spoofNameProblem(env.containerId, env.ifname))
      removeSpoofCheck(env.containerId, env.ifname);
    trace('rules removed');
    await deleteContainerIface(env);
    await deleteHostVeth(hostVethName(env.containerId, env.ifname));
    await deletePrevResultVeths(cfg);
    trace('links removed');
    ipam.del();
    trace('ipam released');
  } catch (e) {
    throw asCniError(e);
  }
}

/**
 * This attachment's IPs, so only its masquerade jumps go (another interface of the same container
 * keeps its own): from the IPAM store, else from prevResult; undefined (remove all) when unknown.
 */
function attachmentIps(held: string[], cfg: BridgeConfig): string[] | undefined {
  if (held.length) return held;
  const prev = (cfg.net.prevResult?.ips ?? []).map((ip) => bareAddress(ip.address));
  return prev.length ? prev : undefined;
}

/** The container end, when the namespace still exists (covers pairs whose host end was named by another plugin). */
async function deleteContainerIface(env: CniEnv): Promise<void> {
  if (!env.netns) return;
  let nl: Rtnl;
  try {
    nl = Rtnl.open(env.netns); // one open of the path (Netns.open: never blocks, only a network namespace)
  } catch (e) {
    log.info(`DEL: netns ${env.netns} is gone (${(e as Error).message}); nothing to delete inside it`);
    return;
  }
  try {
    const iface = await link.getLink(nl, env.ifname);
    if (iface) await ignoreGone(link.deleteLink(nl, iface.index));
  } finally {
    nl.close();
  }
}

export async function deleteHostVeth(name: string): Promise<void> {
  const nl = Rtnl.open();
  try {
    const veth = await link.getLink(nl, name);
    if (veth && veth.kind === 'veth') await ignoreGone(link.deleteLink(nl, veth.index));
  } finally {
    nl.close();
  }
}

/**
 * Host ends named in prevResult (a pod the reference made has a random veth name), when the
 * container's namespace could not be used to remove the pair: only veths on this network's bridge.
 */
async function deletePrevResultVeths(cfg: BridgeConfig): Promise<void> {
  const names = (cfg.net.prevResult?.interfaces ?? [])
    .filter((i) => !i.sandbox && i.name && i.name !== cfg.bridge)
    .map((i) => i.name);
  if (!names.length) return;
  const nl = Rtnl.open();
  try {
    const br = await link.getLink(nl, cfg.bridge);
    for (const name of names) {
      const veth = await link.getLink(nl, name);
      if (br && veth?.kind === 'veth' && veth.master === br.index) await ignoreGone(link.deleteLink(nl, veth.index));
    }
  } finally {
    nl.close();
  }
}

async function ignoreGone(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof NetlinkError && e.errno === ENODEV)) throw e;
  }
}
