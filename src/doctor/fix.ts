// `--fix`: repairs only what tsbridge itself made, with ADD's own steps: forwarding, the bridge (up,
// its gateway addresses), the host veth on the bridge and up, the container interface up with its
// addresses and routes, and the attachment's firewall rules. Anything else (someone's FORWARD
// policy, a foreign route, a stale IPAM file) is left alone: its finding says what to run.
import { requiredSysctls, selectBackend } from '../firewall';
import { addAddress } from '../netlink/addr';
import * as link from '../netlink/link';
import { listNeighbours4 } from '../netlink/neigh';
import { addRoute } from '../netlink/route';
import { Rtnl } from '../netlink/socket';
import { BridgeConfig } from '../attachment/config';
import { containerRoutes, gatewayCidrs, routeGateway } from '../attachment/routes';
import { attachToBridge, ensureBridge, ensureGatewayAddrs } from '../plugin/host-side';
import { shq } from '../safe-text';
import { writeSysctl } from '../sys/sysctl';
import { expectedRules, readCniCache } from './collect';
import { prevResultOf } from './diagnose';
import { AttachmentFacts, Change, Finding } from './types';
import { familyOf } from '../ip/addr';

export interface FixInput {
  facts: AttachmentFacts;
  findings: Finding[];
}

export async function applyFixes(cfg: BridgeConfig, cacheDir: string, items: FixInput[]): Promise<Change[]> {
  const changes: Change[] = [];
  const has = (piece: string, f?: FixInput): boolean =>
    (f ? [f] : items).some((i) => i.findings.some((x) => x.piece === piece && x.fixable));
  const step = async (what: string, fn: () => unknown): Promise<boolean> => {
    try {
      await fn();
      changes.push({ what, ok: true });
      return true;
    } catch (e) {
      changes.push({ what, ok: false, error: (e as Error).message });
      return false;
    }
  };

  if (has('forwarding.ipv4'))
    await step('sysctl -w net.ipv4.ip_forward=1', () => writeSysctl('net.ipv4.ip_forward', '1'));
  if (has('forwarding.ipv6'))
    await step('sysctl -w net.ipv6.conf.all.forwarding=1', () => writeSysctl('net.ipv6.conf.all.forwarding', '1'));

  const host = Rtnl.open();
  try {
    let br = await link.getLink(host, cfg.bridge);
    const recreated = !br && has('bridge.missing');
    if (has('bridge.missing') || has('bridge.up')) {
      const b = shq(cfg.bridge);
      const what = br ? `ip link set ${b} up` : `ip link add ${b} type bridge && ip link set ${b} up`;
      await step(what, async () => {
        br = await ensureBridge(host, cfg);
      });
    }
    if (br && recreated) {
      // the pods still know the old gateway MAC (ADD pinned it): give it back to the new bridge
      const mac = await knownGatewayMac(items);
      if (mac)
        await step(`ip link set ${cfg.bridge} address ${mac}`, async () => {
          await link.setMac(host, br!.index, mac);
          br = (await link.getLinkByIndex(host, br!.index)) ?? br;
        });
    }
    if (br && cfg.isGateway && (recreated || has('bridge.gateway'))) {
      const gws = [...new Set(items.flatMap((i) => gatewayCidrs(i.facts.ips)))];
      // a bridge made anew has none; else only those a finding names
      const missing = recreated
        ? gws
        : gws.filter((g) =>
            items.some((i) =>
              i.findings.some((f) => f.piece === 'bridge.gateway' && f.fix?.includes(`ip addr add ${shq(g)} `)),
            ),
          );
      for (const gw of missing) {
        await step(`ip addr add ${shq(gw)} dev ${shq(cfg.bridge)}`, () =>
          ensureGatewayAddrs(host, br!, [gw], cfg.forceAddress),
        );
      }
    }

    for (const item of items) {
      const a = item.facts;
      const veth = a.veth && (await link.getLinkByIndex(host, a.veth.index));
      if (veth && br && has('host-veth.master', item)) {
        await step(`ip link set ${shq(veth.name)} master ${shq(cfg.bridge)} && ip link set ${shq(veth.name)} up`, () =>
          attachToBridge(host, veth, br!, cfg),
        );
      } else if (veth && has('host-veth.up', item)) {
        await step(`ip link set ${shq(veth.name)} up`, () => link.setUp(host, veth.index));
      }
      if (
        a.netnsHandle &&
        (has('container.iface-up', item) || has('container.address', item) || has('container.route', item))
      ) {
        await fixContainer(cfg, item, step);
      }
      if (has('nat.rules', item)) await fixRules(cfg, cacheDir, a, step);
    }
  } finally {
    host.close();
  }
  return changes;
}

type Step = (what: string, fn: () => unknown) => Promise<boolean>;

/** The MAC a pod has cached for its IPv4 gateway (the first found), read in its namespace. */
async function knownGatewayMac(items: FixInput[]): Promise<string | undefined> {
  for (const { facts: a } of items) {
    const gw = a.ips.find((ip) => ip.gateway && familyOf(ip.gateway) === 4)?.gateway;
    if (!a.netnsHandle || !gw) continue;
    let nl: Rtnl;
    try {
      nl = Rtnl.open(a.netnsHandle);
    } catch {
      continue;
    }
    try {
      const hit = (await listNeighbours4(nl)).find((n) => n.ip === gw && n.mac !== '00:00:00:00:00:00');
      if (hit) return hit.mac;
    } finally {
      nl.close();
    }
  }
  return undefined;
}

async function fixContainer(cfg: BridgeConfig, item: FixInput, step: Step): Promise<void> {
  const a = item.facts;
  const nl = Rtnl.open(a.netnsHandle!); // the namespace doctor read, not whatever the path names now
  try {
    const iface = await link.getLink(nl, a.ifname);
    if (!iface) return;
    const pieces = new Set(item.findings.filter((f) => f.fixable).map((f) => f.piece));
    const inNs = `nsenter --net=${shq(a.netns!)}`;
    const dev = shq(a.ifname);
    if (pieces.has('container.iface-up'))
      await step(`${inNs} ip link set ${dev} up`, () => link.setUp(nl, iface.index));
    const addrFindings = item.findings.filter((f) => f.piece === 'container.address');
    for (const ip of a.ips) {
      if (!addrFindings.some((f) => f.message.includes(`address ${ip.address} `))) continue;
      await step(`${inNs} ip addr add ${shq(ip.address)} dev ${dev}`, () =>
        addAddress(nl, iface.index, ip.address, { dad: cfg.enableDad, existOk: true }),
      );
    }
    // an interface brought up again, or re-addressed, has lost its routes: put back each that is missing
    const routeFindings = item.findings.filter((f) => f.piece === 'container.route');
    for (const r of containerRoutes(prevResultOf(a), cfg)) {
      if (!routeFindings.some((f) => f.message.includes(`route to ${r.dst} `))) continue;
      const gw = routeGateway(r, a.ips);
      await step(`${inNs} ip route add ${shq(r.dst)}${gw ? ` via ${shq(gw)}` : ''} dev ${dev}`, () =>
        addRoute(nl, { dst: r.dst, gw, oif: iface.index }, true),
      );
    }
  } finally {
    nl.close();
  }
}

async function fixRules(cfg: BridgeConfig, cacheDir: string, a: AttachmentFacts, step: Step): Promise<void> {
  const cache = readCniCache(cacheDir, cfg.net.name, a.containerId, a.ifname);
  const rules = expectedRules(cfg, a, cache?.portMappings);
  if (!rules) return;
  const fw = selectBackend(cfg.ipMasqBackend);
  if (cache?.portMappings !== undefined) {
    // the full state ADD made: masquerade and the port mappings the runtime asked for
    await step(
      `${fw.name}: re-apply the rules of ` +
        `${a.containerId}/${a.ifname} (masquerade${
          rules.portMappings.length ? `, ${rules.portMappings.length} port mapping(s)` : ''
        })`,
      () => {
        const sysctls = requiredSysctls(rules);
        if (sysctls.length) fw.ensureLocalnetGuard(cfg.bridge); // first, as ADD does (CVE-2020-8558)
        for (const s of sysctls) writeSysctl(s.path, s.value);
        fw.applyAttachment(rules);
      },
    );
  } else if (rules.masquerade) {
    // port mappings unknown: applyAttachment would remove any still there, so only the masquerade is re-added
    await step(`${fw.name}: re-add the masquerade rules of ${a.containerId}/${a.ifname}`, () =>
      fw.addMasquerade(rules),
    );
  }
}
