// ADD: IPAM -> bridge -> veth pair -> container addresses/routes -> forwarding -> MASQUERADE.
// Each step that makes something pushes its undo; a failure part-way runs them in reverse, so a
// failed ADD leaves no veth, IP reservation or rule behind.
import { CniEnv } from '../cni/env';
import { CniError, ErrCode } from '../cni/errors';
import { Interface, Result } from '../cni/result';
import { requiredSysctls, selectBackend } from '../firewall';
import { spoofNameProblem } from '../firewall/nft/spoofcheck';
import { applySpoofCheck, removeSpoofCheck } from '../firewall/nft/backend';
import * as link from '../netlink/link';
import { Rtnl } from '../netlink/socket';
import { Netns, openContainerNetns, refuseOwnNetns } from '../sys/netns';
import { readSysctl, writeSysctl } from '../sys/sysctl';
import { BridgeConfig } from '../attachment/config';
import { configureContainer, setContainerSysctls } from './container-side';
import { containerRoutes, gatewayCidrs, withGateways } from '../attachment/routes';
import { asCniError } from './errors';
import { getKey, JsonObject } from '../cni/json';
import { isLegacyResult } from '../cni/version';
import { attachToBridge, createVethPair, ensureBridge, ensureGatewayAddrs } from './host-side';
import { openIpam } from './ipam';
import { faultPoint } from './faults';
import { hostVethName } from '../attachment/names';
import { ensureVlanGateway } from './vlan';
import { attachmentRules, needsRules } from '../attachment/rules';
import { log, trace } from '../log';
import { familyOf } from '../ip/addr';

type Undo = () => unknown;

export async function cmdAdd(cfg: BridgeConfig, env: CniEnv): Promise<Result> {
  const undo: Undo[] = [];
  trace('opening host netlink');
  const host = Rtnl.open();
  let cont: Rtnl | undefined;
  let ns: Netns | undefined;
  try {
    if (cfg.macspoofchk) {
      const why = spoofNameProblem(env.containerId, env.ifname);
      if (why) throw new CniError(ErrCode.InvalidEnv, why);
    }
    const ipam = openIpam(cfg.net, env);
    trace('ADD start');
    if (cfg.layer3 && cfg.disableContainerInterface) {
      // as upstream (bridge >= 1.5, on ADD only): an interface left down cannot carry IPAM's addresses
      throw new CniError(
        ErrCode.InvalidConfig,
        'cannot use IPAM when disableContainerInterface is set: remove "ipam" (L2-only network) or ' +
          'disableContainerInterface',
      );
    }
    if (!cfg.layer3 && isLegacyResult(cfg.net.cniVersion)) {
      // the reference makes everything, then fails converting the result ("no valid IP addresses")
      throw new CniError(
        ErrCode.IncompatibleVersion,
        `an L2-only network (no ipam type) has no IP address to put in a cniVersion ${cfg.net.cniVersion} result: ` +
          `use cniVersion 0.3.0 or later`,
      );
    }
    // opened once, before anything is made (a gone container gets a clear error), and used for every step
    ns = openContainerNetns(env.netns);
    refuseOwnNetns(ns);
    // the reference's rule (1.1.1 and later): hairpin lets frames back out of their port, promisc floods them
    if (cfg.hairpinMode && cfg.promiscMode) {
      throw new CniError(
        ErrCode.InvalidConfig,
        'cannot set hairpin mode and promiscuous mode at the same time: set hairpinMode or promiscMode, not both',
      );
    }
    const alloc = ipam.add(cfg.requestedIps);
    trace('ipam allocated');
    faultPoint('after-ipam');
    undo.push(() => ipam.del());
    const ips = withGateways(alloc.ips ?? [], cfg.isGateway);
    alloc.ips = ips;
    // port mappings are read (and refused if malformed) before anything is made in the kernel
    const rules = attachmentRules(
      cfg,
      env.containerId,
      env.ifname,
      ips.map((ip) => ip.address),
    );

    const br = await ensureBridge(host, cfg);
    let vlanGw: link.Link | undefined;
    if (cfg.isGateway) {
      const gws = gatewayCidrs(ips);
      // with a VLAN the gateway lives on <bridge>.<vlan>, a port of that VLAN (upstream)
      if (gws.length && cfg.vlans.vlan) vlanGw = await ensureVlanGateway(host, br, cfg.vlans, cfg.mtu);
      await ensureGatewayAddrs(host, vlanGw ?? br, gws, cfg.forceAddress);
    }

    trace('bridge ready');
    faultPoint('after-bridge');

    const hostName = hostVethName(env.containerId, env.ifname);
    let hostVeth = await createVethPair(host, hostName, env.ifname, ns, cfg);
    undo.push(() => link.deleteLink(host, hostVeth.index));
    // hairpinMode as configured (as the reference): with br_netfilter the DNAT to a container's own
    // published port happens while bridging, so reaching it needs hairpin on its port (README)
    hostVeth = await attachToBridge(host, hostVeth, br, cfg);
    trace('veth attached');
    faultPoint('after-veth');

    if (ips.length) ns.run(() => setContainerSysctls(env.ifname, alloc, cfg));
    cont = Rtnl.open(ns);
    if (cfg.macspoofchk) {
      // in place before the container interface comes up, so no spoofed frame gets out first
      const peer = await link.getLink(cont, env.ifname);
      if (!peer)
        throw new CniError(ErrCode.NetlinkFailure, `container interface ${env.ifname} missing right after creation`);
      undo.push(() => removeSpoofCheck(env.containerId, env.ifname));
      applySpoofCheck(hostVeth.name, peer.mac, env.containerId, env.ifname);
      trace('macspoofchk applied');
    }
    const routes = containerRoutes(alloc, cfg);
    const cIface = await configureContainer(cont, env.ifname, alloc, routes, cfg);
    trace('container configured');
    faultPoint('after-container');
    if (cfg.isGateway || rules.portMappings.length) enableForwarding(ips.map((ip) => ip.address));

    // L2-only: no address to masquerade or map a port to (the reference applies ipMasq only with IPAM)
    if (cfg.layer3 && needsRules(rules)) {
      const fw = selectBackend(cfg.ipMasqBackend);
      const sysctls = requiredSysctls(rules);
      // CVE-2020-8558: the guard first, as its own step that no rollback removes; then
      // route_localnet, reset by the rollback when this ADD is what turned it on
      if (sysctls.length) fw.ensureLocalnetGuard(cfg.bridge);
      for (const s of sysctls) {
        const was = readSysctl(s.path);
        if (was === s.value) continue;
        writeSysctl(s.path, s.value);
        undo.push(() => writeSysctl(s.path, was ?? '0'));
      }
      undo.push(() =>
        fw.removeAttachment(
          cfg.net.name,
          env.containerId,
          rules.ips.map((i) => i.ip),
        ),
      );
      fw.applyAttachment(rules);
      trace(`rules applied (${fw.name})`);
      faultPoint('after-rules');
    }

    const brNow = (await link.getLinkByIndex(host, br.index)) ?? br;
    const interfaces: Interface[] = [
      { name: brNow.name, mac: brNow.mac },
      { name: hostVeth.name, mac: hostVeth.mac },
      { name: cIface.name, mac: cIface.mac, sandbox: env.netns },
      // upstream lists the VLAN gateway interface after the container's
      ...(vlanGw ? [{ name: vlanGw.name, mac: vlanGw.mac }] : []),
    ];
    return {
      cniVersion: cfg.net.cniVersion,
      interfaces,
      ips: ips.map((ip) => ({ address: ip.address, gateway: ip.gateway, interface: 2 })),
      routes,
      dns: mergeDns(alloc.dns, cfg.net.dns),
    };
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (ue) {
        log.warn(`rollback step failed: ${(ue as Error).message}`);
      }
    }
    throw asCniError(e);
  } finally {
    host.close();
    cont?.close();
    ns?.close();
  }
}

/** ip_forward (and IPv6 forwarding when the container has an IPv6 address) so the bridge routes. */
function enableForwarding(addresses: string[]): void {
  if (addresses.some((a) => familyOf(a) === 4)) writeSysctl('net.ipv4.ip_forward', '1');
  if (addresses.some((a) => familyOf(a) === 6)) writeSysctl('net.ipv6.conf.all.forwarding', '1');
}

/**
 * The config's `dns`, when it sets anything, replaces IPAM's (e.g. host-local's resolvConf) as a
 * whole; else IPAM's is kept. That is upstream's rule (bridge >= 1.2); 1.1.1 always returned the
 * config's, dropping IPAM's. "Sets anything" as Go sees it: a list key present (even []) or a domain.
 */
export function mergeDns(fromIpam: Result['dns'], conf: JsonObject | undefined): Result['dns'] {
  const set =
    conf !== undefined &&
    (['nameservers', 'search', 'options'].some((k) => Array.isArray(getKey(conf, k))) || !!getKey(conf, 'domain'));
  if (!set) return fromIpam ?? {};
  const list = (k: string): string[] | undefined => {
    const v = getKey(conf, k);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
  };
  const domain = getKey(conf, 'domain');
  return {
    nameservers: list('nameservers'),
    domain: typeof domain === 'string' ? domain : undefined,
    search: list('search'),
    options: list('options'),
  };
}
