// Pure: facts in, findings out. Walks one attachment's path hop by hop (IPAM record, namespace,
// container interface, host veth, bridge, the node's routes, forwarding, the filter table, NAT) and
// names every problem with the command that repairs it. The per-piece comparisons of CHECK
// (attachment/problems.ts) are reused as they are; doctor adds the hops CHECK does not walk.
import { Result } from '../cni/result';
import { masqChainName } from '../firewall/tag';
import { familyBits, familyOf, tryParseIP } from '../ip/addr';
import { bareAddress, Cidr, cidrToString, contains, covers, parseCidr, subnetOf } from '../ip/cidr';
import { ruleFields } from '../firewall/iptables/rules';
import { BridgeConfig } from '../attachment/config';
import {
  bridgeProblems,
  CheckProblem,
  containerProblems,
  forwardingProblems,
  gatewayProblems,
  vethProblems,
} from '../attachment/problems';
import { containerRoutes, routeGateway } from '../attachment/routes';
import { IFF_UP } from '../netlink/constants';
import { shq } from '../safe-text';
import { deleteCommand, dropped, evalChain, Packet, Verdict } from './iptables-eval';
import {
  AttachmentFacts,
  AttachmentReport,
  DoctorContext,
  Finding,
  Hop,
  HOPS,
  HopState,
  HopStatus,
  NodeFacts,
} from './types';

/** A command run inside the container's namespace (cmd already quoted). */
const inNs = (netns: string | undefined, cmd: string): string =>
  `nsenter --net=${netns ? shq(netns) : '<netns>'} ${cmd}`;

export function prevResultOf(a: AttachmentFacts): Result {
  return { cniVersion: '1.1.0', ips: a.ips, routes: a.ipamRoutes };
}

function finding(
  hop: Hop,
  piece: string,
  message: string,
  fix: string | undefined,
  fixable: boolean,
  severity: Finding['severity'] = 'error',
): Finding {
  return { hop, piece, severity, message, ...(fix ? { fix } : {}), fixable };
}

/** `tsbridge doctor ... --fix` for this attachment. */
function doctorFix(ctx: DoctorContext, a: AttachmentFacts): string {
  return `${ctx.doctorCmd}${a.containerId ? ` --container ${shq(a.containerId)}` : ''} --fix`;
}

// ---- hop by hop -------------------------------------------------------------------------------

function ipamFindings(ctx: DoctorContext, a: AttachmentFacts): Finding[] {
  const out: Finding[] = [];
  const dir = ctx.dataDir ? `${ctx.dataDir}/${ctx.network}` : 'the IPAM store';
  if (a.reserved.length === 0) {
    const ips = a.ips.map((i) => i.address).join(', ');
    const write = a.containerId
      ? `printf '%s\\r\\n%s' ` +
        `${shq(a.containerId)} ${shq(a.ifname)} > ${shq(`${dir}/${bareAddress(a.ips[0]?.address ?? '<ip>')}`)}`
      : undefined;
    out.push(
      finding(
        'ipam',
        'ipam.missing',
        `container interface ${a.ifname} in ${a.netns ?? '?'} has ${ips} but IPAM holds no reservation for it (no ` +
          `file ` +
          `in ${dir}): the address can be handed to another container`,
        write
          ? `${write}   (or re-create the attachment: CNI DEL + ADD, i.e. restart the container)`
          : 're-create the attachment (CNI DEL + ADD, i.e. restart the container)',
        false,
      ),
    );
  }
  for (const ip of a.outOfRange) {
    out.push(
      finding(
        'ipam',
        'ipam.out-of-range',
        `reserved address ${ip} lies in no range of the network's config (the config changed since ADD?)`,
        're-create the attachment (restart the container) so it gets an address of the current ranges',
        false,
        'warning',
      ),
    );
  }
  return out;
}

function netnsFindings(ctx: DoctorContext, a: AttachmentFacts): Finding[] {
  if (a.netnsError) {
    return [
      finding('netns', 'netns.enter', `network namespace ${a.netns} cannot be read: ${a.netnsError}`, undefined, false),
    ];
  }
  if (!a.netns) {
    const files = a.reserved.map((ip) => shq(`${ctx.dataDir ?? '<dataDir>'}/${ctx.network}/${ip}`)).join(' ');
    if (!a.veth) {
      return [
        finding(
          'netns',
          'netns.gone',
          `no network namespace has ${a.reserved.join(', ')} and host veth ${a.vethName} does not exist: the ` +
            `container ` +
            `is gone but its IPAM reservation is left behind`,
          `rm ${files}   (only once the container is really gone; the runtime's CNI DEL/GC does the same)`,
          false,
        ),
      ];
    }
    return [
      finding(
        'netns',
        'netns.unknown',
        `host veth ${a.vethName} exists but no namespace under /run/netns or /proc/*/ns/net holds its peer or ` +
          `${a.reserved.join(', ')}`,
        `${ctx.doctorCmd} --container ${a.containerId ? shq(a.containerId) : '<id>'} --netns <path of the ` +
          `container's ` +
          `netns>`,
        false,
      ),
    ];
  }
  if (a.netnsCandidates.length > 1) {
    return [
      finding(
        'netns',
        'netns.ambiguous',
        `${a.netnsCandidates.length} namespaces have ` +
          `${a.ips.map((i) => bareAddress(i.address)).join(', ')} (${a.netnsCandidates.join(', ')}); checked ` +
          `${a.netns}`,
        `${ctx.doctorCmd} --netns <the container's> to choose`,
        false,
        'warning',
      ),
    ];
  }
  return [];
}

function containerFix(p: CheckProblem, a: AttachmentFacts): { fix?: string; fixable: boolean } {
  switch (p.piece) {
    case 'iface':
      return { fix: 're-create the attachment (CNI DEL + ADD, i.e. restart the container)', fixable: false };
    case 'iface-up':
      return { fix: inNs(a.netns, `ip link set ${shq(a.ifname)} up`), fixable: true };
    case 'address':
      return {
        fix: inNs(
          a.netns,
          `ip addr add ${shq(p.what ?? '')} dev ${shq(a.ifname)}${p.what?.includes(':') ? ' nodad' : ''}`,
        ),
        fixable: true,
      };
    case 'route': {
      // a route without gw goes via the family's gateway, as ADD adds it
      const gw = routeGateway({ dst: p.what ?? '', gw: a.ipamRoutes.find((x) => x.dst === p.what)?.gw }, a.ips);
      const dst = p.what === '0.0.0.0/0' || p.what === '::/0' ? 'default' : p.what;
      return {
        fix: inNs(
          a.netns,
          `ip ${familyOf(p.what ?? '') === 6 ? '-6 ' : ''}route add ` +
            `${shq(dst ?? '')}${gw ? ` via ${shq(gw)}` : ''} dev ${shq(a.ifname)}`,
        ),
        fixable: true,
      };
    }
    default:
      return { fixable: false };
  }
}

function containerFindings(cfg: BridgeConfig, a: AttachmentFacts): Finding[] {
  if (!a.container) return [];
  return containerProblems(cfg, a.ifname, prevResultOf(a), a.container).map((p) => {
    const f = containerFix(p, a);
    return finding(
      'container',
      `container.${p.piece}`,
      p.msg,
      f.fix,
      f.fixable,
      p.piece === 'iface-mac' ? 'warning' : 'error',
    );
  });
}

function vethFindings(ctx: DoctorContext, cfg: BridgeConfig, node: NodeFacts, a: AttachmentFacts): Finding[] {
  return vethProblems(cfg, a.vethName, a.veth, node.bridge)
    .map((p) => {
      if (p.piece === 'veth') {
        return finding(
          'host-veth',
          'host-veth.missing',
          p.msg,
          're-create the attachment (CNI DEL + ADD, i.e. restart the container)',
          false,
        );
      }
      if (p.piece === 'veth-master') {
        const why = node.bridge ? '' : ` (the bridge ${ctx.bridge} itself is missing)`;
        return finding(
          'host-veth',
          'host-veth.master',
          p.msg + why,
          `ip link set ${shq(a.vethName)} master ${shq(ctx.bridge)}`,
          true,
        );
      }
      return finding('host-veth', 'host-veth.up', p.msg, `ip link set ${shq(a.vethName)} up`, true);
    })
    .concat(spoofFindings(a));
}

/** macspoofchk: every problem of the attachment's chains in one finding (frames enter the bridge there). */
function spoofFindings(a: AttachmentFacts): Finding[] {
  const problems = a.spoofcheck ?? [];
  if (!problems.length) return [];
  const allowed = /lets only (\S+) through/.exec(problems.join(' '))?.[1];
  const fix = allowed
    ? `${inNs(a.netns, `ip link set ${shq(a.ifname)} address ${shq(allowed)}`)}   (the MAC ADD gave it; or re-create ` +
      `the attachment: CNI DEL + ADD)`
    : 're-create the attachment (CNI DEL + ADD, i.e. restart the container)';
  const msg = `macspoofchk: ${problems.map((p) => p.replace(/^macspoofchk: /, '')).join('; ')}`;
  return [finding('host-veth', 'host-veth.macspoofchk', msg, fix, false)];
}

function bridgeFindings(ctx: DoctorContext, cfg: BridgeConfig, node: NodeFacts, a: AttachmentFacts): Finding[] {
  const out: Finding[] = [];
  const br = shq(ctx.bridge);
  for (const p of bridgeProblems(cfg, node.bridge)) {
    out.push(
      p.piece === 'bridge'
        ? finding('bridge', 'bridge.missing', p.msg, `ip link add ${br} type bridge && ip link set ${br} up`, true)
        : finding('bridge', 'bridge.up', p.msg, `ip link set ${br} up`, true),
    );
  }
  if (node.bridge && node.bridge.kind !== 'bridge') {
    out.push(
      finding(
        'bridge',
        'bridge.kind',
        `${ctx.bridge} is a ${node.bridge.kind ?? 'device'}, not a bridge`,
        `ip link del ${br}   (if nothing else uses it)`,
        false,
      ),
    );
  }
  if (node.bridge && node.routeLocalnet === '1' && node.localnetGuard === false) {
    out.push(
      finding(
        'bridge',
        'bridge.localnet-guard',
        `net.ipv4.conf.${ctx.bridge}.route_localnet is 1 but no localnet guard drops 127.0.0.0/8 arriving on ` +
          `${ctx.bridge}: containers can reach the node's 127.0.0.1 services (CVE-2020-8558)`,
        `iptables -t raw -A PREROUTING -d 127.0.0.0/8 -i ${ctx.bridge} -j DROP   (or restart a container with a host ` +
          `port: its ADD re-installs the guard)`,
        false,
        'warning',
      ),
    );
  }
  if (node.bridge) {
    for (const p of gatewayProblems(cfg, a.ips, node.bridgeAddrs)) {
      const ip = a.ips.find((i) => i.gateway === p.what);
      const cidr = `${p.what}/${ip?.address.split('/')[1] ?? familyBits(familyOf(p.what ?? ''))}`;
      out.push(finding('bridge', 'bridge.gateway', p.msg, `ip addr add ${shq(cidr)} dev ${br}`, true));
    }
  }
  return out;
}

/** Other interfaces of the node claiming (part of) a pod subnet: an address in it, or a route into it. */
export function routeConflicts(ctx: DoctorContext, node: NodeFacts): Finding[] {
  const out: Finding[] = [];
  const brIndex = node.bridge?.index;
  const nameOf = (i: number | undefined): string => node.links.find((l) => l.index === i)?.name ?? `#${i}`;
  for (const s of ctx.subnets) {
    const subnet = parseCidr(s);
    const inside = (c: Cidr): boolean => covers(subnet, c);
    const byIface = new Map<number, { addrs: string[]; routes: string[] }>();
    const at = (i: number) => {
      if (!byIface.has(i)) byIface.set(i, { addrs: [], routes: [] });
      return byIface.get(i)!;
    };
    for (const a of node.addrs) {
      if (a.index === brIndex || a.index === node.vlanGateway) continue;
      const ip = tryParseIP(a.address);
      if (ip && contains(subnet, ip)) at(a.index).addrs.push(`${a.address}/${a.prefix}`);
    }
    for (const r of node.routes) {
      if (r.table !== 254 || r.oif === undefined || r.oif === brIndex || r.oif === node.vlanGateway) continue;
      let c: Cidr;
      try {
        c = parseCidr(r.dst);
      } catch {
        continue;
      }
      if (inside(c)) at(r.oif).routes.push(r.dst);
    }
    for (const [index, what] of byIface) {
      const dev = nameOf(index);
      const parts = [
        ...(what.addrs.length ? [`address ${what.addrs.join(', ')}`] : []),
        ...(what.routes.length ? [`route ${what.routes.join(', ')}`] : []),
      ];
      const fix = what.addrs.length
        ? what.addrs.map((x) => `ip addr del ${shq(x)} dev ${shq(dev)}`).join(' && ')
        : what.routes.map((x) => `ip route del ${shq(x)} dev ${shq(dev)}`).join(' && ');
      out.push(
        finding(
          'node-routes',
          'node-routes.conflict',
          `interface ${dev} claims the pod subnet ${s} of bridge ${ctx.bridge} (${parts.join('; ')}): traffic to the ` +
            `containers can leave through ${dev}`,
          `${fix}   (not tsbridge's: check what put it there first)`,
          false,
        ),
      );
    }
  }
  return out;
}

function forwardingFindings(cfg: BridgeConfig, node: NodeFacts, a: AttachmentFacts): Finding[] {
  return forwardingProblems(cfg, a.ips, node.ipv4Forward, node.ipv6Forward).map((p) =>
    p.piece === 'ipv4-forwarding'
      ? finding('forwarding', 'forwarding.ipv4', p.msg, 'sysctl -w net.ipv4.ip_forward=1', true)
      : finding('forwarding', 'forwarding.ipv6', p.msg, 'sysctl -w net.ipv6.conf.all.forwarding=1', true),
  );
}

function why(v: Verdict, tool: string): string {
  if (v.outcome === 'policy') return `policy ${v.policy}${v.rule ? ` after "${v.rule.line}"` : ''}`;
  return v.rule ? `rule "${v.rule.line}"` : tool;
}

function filterFindings(ctx: DoctorContext, node: NodeFacts, a: AttachmentFacts): Finding[] {
  const out: Finding[] = [];
  const br = ctx.bridge;
  const qbr = shq(br);
  for (const family of [4, 6] as const) {
    const ip = a.ips.find((i) => familyOf(i.address) === family);
    const table = node.filter[family];
    if (!ip || !table) continue;
    const tool = family === 4 ? 'iptables' : 'ip6tables';
    const pod = bareAddress(ip.address);
    const subnet = cidrOf(ip.address);
    const to = ctx.to && familyOf(ctx.to) === family ? ctx.to : undefined;
    const verdicts: { key: string; v: Verdict; what: string; fix: string }[] = [];
    /** What the FORWARD chain does with one kind of the container's packets. */
    const forward = (key: string, what: string, pkt: Parameters<typeof evalChain>[2], fix: string): void => {
      verdicts.push({ key, what, v: evalChain(table, 'FORWARD', pkt), fix });
    };
    if (ctx.isGateway) {
      forward(
        'filter.forward-drop',
        'new traffic from the container to beyond the node',
        { iif: { name: br }, oif: { not: br }, src: pod, dst: to, dstOutside: subnet, state: 'NEW' },
        `${tool} -I FORWARD -i ${qbr} -j ACCEPT`,
      );
      forward(
        'filter.forward-drop-replies',
        'replies coming back to the container',
        { iif: { not: br }, oif: { name: br }, src: to, dst: pod, state: 'ESTABLISHED' },
        `${tool} -I FORWARD -o ${qbr} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      );
    }
    const brnf = family === 4 ? node.brNfCallIptables : node.brNfCallIp6tables;
    if (brnf === '1') {
      forward(
        'filter.bridge-nf',
        `traffic between containers on ${br} (br_netfilter: ` +
          `net.bridge.bridge-nf-call-${tool}=1 sends bridged frames through ${tool})`,
        { iif: { name: br }, oif: { name: br }, src: pod, state: 'NEW' },
        `${tool} -I FORWARD -i ${qbr} -o ${qbr} -j ACCEPT   (or sysctl -w ` +
          `net.bridge.bridge-nf-call-${tool}=0 if nothing on the node needs it)`,
      );
    }
    for (const { key, v, what, fix } of verdicts) {
      if (dropped(v)) {
        out.push(
          finding(
            'filter',
            key,
            `${tool} FORWARD drops ${what}: ${why(v, tool)}`,
            `${fix}   (not tsbridge's rule: your firewall's policy)`,
            false,
          ),
        );
      } else if (v.outcome === 'policy' && v.policy === 'DROP' && v.uncertain.length) {
        out.push(
          finding(
            'filter',
            key,
            `${tool} FORWARD may drop ${what}: policy DROP, and only conditional rules ` +
              `could accept it (${v.uncertain.map((r) => `"${r.line}"`).join(', ')})`,
            `${fix}   (if those rules do not cover it)`,
            false,
            'warning',
          ),
        );
      }
    }
  }
  for (const c of node.nftForwardDrops) {
    if (c.acceptsBridge) continue;
    out.push(
      finding(
        'filter',
        'filter.nft-forward-drop',
        `nftables chain ${c.chain} (hook forward) has policy drop ` +
          `and no rule naming ${br}: forwarded container traffic is likely dropped`,
        `nft insert rule ${c.where.map(shq).join(' ')} iifname ${qbr} accept; nft insert rule ` +
          `${c.where.map(shq).join(' ')} oifname ${qbr} ct state established,related accept`,
        false,
        'warning',
      ),
    );
  }
  return out;
}

function natFindings(ctx: DoctorContext, node: NodeFacts, a: AttachmentFacts): Finding[] {
  const out: Finding[] = [];
  const r = a.rules;
  if (!r) return out;
  for (const p of r.problems) out.push(finding('nat', 'nat.rules', p, doctorFix(ctx, a), true));
  if (r.backend !== 'iptables' || !ctx.ipMasq || !a.containerId) return out;
  const chain = masqChainName(ctx.network, a.containerId);
  for (const family of [4, 6] as const) {
    const ip = a.ips.find((i) => familyOf(i.address) === family);
    const table = node.nat[family];
    if (!ip || !table) continue;
    const tool = family === 4 ? 'iptables' : 'ip6tables';
    const pod = bareAddress(ip.address);
    const to = ctx.to && familyOf(ctx.to) === family ? ctx.to : undefined;
    const pkt: Packet = { oif: { not: ctx.bridge }, src: pod, dst: to, dstOutside: cidrOf(ip.address), state: 'NEW' };
    const ours = (rule: { args: string[] }) => {
      const f = ruleFields(rule.args);
      return f.target === chain && !f.srcNegated && f.src !== undefined && bareAddress(f.src) === pod;
    };
    const v = evalChain(table, 'POSTROUTING', pkt, ours);
    if (v.outcome === 'stop') {
      if (v.uncertain.length) {
        out.push(
          finding(
            'nat',
            'nat.shadowed',
            `${tool} nat POSTROUTING has rules before tsbridge's masquerade jump ` +
              `that may end it for the container's traffic: ${v.uncertain.map((x) => `"${x.line}"`).join(', ')}`,
            "check those rules; they win over tsbridge's masquerade for the traffic they match",
            false,
            'warning',
          ),
        );
      }
      continue;
    }
    if (v.outcome === 'nat' && v.rule) {
      out.push(
        finding(
          'nat',
          'nat.other-snat',
          `${tool} nat POSTROUTING rule "${v.rule.line}" translates the ` +
            `container's traffic before tsbridge's masquerade jump`,
          `${deleteCommand(tool, 'nat', v.rule)}   (if that translation is not wanted)`,
          false,
          'warning',
        ),
      );
    } else if (v.rule && (v.outcome === 'accept' || v.outcome === 'policy' || v.outcome === 'return')) {
      out.push(
        finding(
          'nat',
          'nat.shadowed',
          `${tool} nat POSTROUTING rule "${v.rule.line}" ends the chain for the ` +
            `container's traffic before tsbridge's masquerade jump: it leaves the node unmasqueraded`,
          `${deleteCommand(tool, 'nat', v.rule)}   (not tsbridge's rule)`,
          false,
        ),
      );
    }
  }
  return out;
}

/** The subnet of "10.1.0.5/24": "10.1.0.0/24". */
function cidrOf(address: string): string {
  const c = parseCidr(address);
  return cidrToString(subnetOf(c));
}

// ---- the walk -------------------------------------------------------------------------------

/** Every finding of one attachment, in path order. */
export function diagnoseAttachment(
  ctx: DoctorContext,
  cfg: BridgeConfig,
  node: NodeFacts,
  a: AttachmentFacts,
): Finding[] {
  const early = [...ipamFindings(ctx, a), ...netnsFindings(ctx, a)];
  // the container is gone: what is left is its reservation; the rest of its path no longer exists
  if (early.some((f) => f.piece === 'netns.gone')) return early;
  const findings = [
    ...early,
    ...containerFindings(cfg, a),
    ...vethFindings(ctx, cfg, node, a),
    ...bridgeFindings(ctx, cfg, node, a),
    ...routeConflicts(ctx, node),
    ...forwardingFindings(cfg, node, a),
    ...filterFindings(ctx, node, a),
    ...natFindings(ctx, node, a),
  ];
  // a missing bridge is the cause of its ports being detached: it comes first
  const order = (f: Finding): number =>
    f.piece === 'bridge.missing' ? HOPS.indexOf('host-veth') - 0.5 : (HOPS as readonly string[]).indexOf(f.hop);
  return findings
    .map((f, i) => ({ f, i }))
    .sort((x, y) => order(x.f) - order(y.f) || x.i - y.i)
    .map((x) => x.f);
}

/** The first error in path order. */
export function firstBroken(findings: Finding[]): Finding | undefined {
  return findings.find((f) => f.severity === 'error');
}

/** One line per hop: ok (with what was found), fail, warn, or skip (not applicable). */
export function hopStatuses(
  ctx: DoctorContext,
  cfg: BridgeConfig,
  node: NodeFacts,
  a: AttachmentFacts,
  findings: Finding[],
): HopStatus[] {
  const okDetail: Record<(typeof HOPS)[number], () => string | null> = {
    ipam: () => `reserved ${a.reserved.join(', ')}`,
    netns: () => (a.netns ? `${a.netns} (found by ${a.netnsFoundBy})` : null),
    container: () => {
      const c = a.container;
      if (!c?.iface) return null;
      if (cfg.disableContainerInterface) return `${a.ifname} present (disableContainerInterface)`;
      const routes = containerRoutes(prevResultOf(a), cfg).map((r) => (r.dst.endsWith('/0') ? 'default' : r.dst));
      const state = c.iface.flags & IFF_UP ? 'up' : 'down';
      const addrs = a.ips.map((i) => i.address).join(', ');
      return `${a.ifname} ${state}, ${addrs}${routes.length ? `, routes: ${routes.join(', ')}` : ''}`;
    },
    'host-veth': () =>
      a.veth
        ? `${a.vethName} ${a.veth.flags & IFF_UP ? 'up' : 'down'}, on ` +
          `${ctx.bridge}${a.spoofcheck ? ', macspoofchk in place' : ''}`
        : null,
    bridge: () => {
      const gws = node.bridgeAddrs.filter((x) => !x.address.startsWith('fe80:')).map((x) => `${x.address}/${x.prefix}`);
      return node.bridge ? `${ctx.bridge} up${gws.length ? `, ${gws.join(', ')}` : ''}` : null;
    },
    'node-routes': () => `no other interface claims ${ctx.subnets.join(', ')}`,
    forwarding: () => {
      if (!cfg.isGateway) return 'not managed (isGateway off)';
      const v4 = a.ips.some((i) => familyOf(i.address) === 4) ? [`net.ipv4.ip_forward=${node.ipv4Forward}`] : [];
      const v6 = a.ips.some((i) => familyOf(i.address) === 6)
        ? [`net.ipv6.conf.all.forwarding=${node.ipv6Forward}`]
        : [];
      return [...v4, ...v6].join(', ');
    },
    filter: () => {
      const parts: string[] = [];
      for (const f of [4, 6] as const) {
        const t = node.filter[f];
        if (t && a.ips.some((i) => familyOf(i.address) === f))
          parts.push(`${f === 4 ? 'iptables' : 'ip6tables'} FORWARD policy ${t.policies.get('FORWARD') ?? '?'}`);
      }
      if (node.brNfCallIptables !== undefined) parts.push(`bridge-nf-call-iptables=${node.brNfCallIptables}`);
      return parts.length ? parts.join(', ') : 'no filter table read';
    },
    nat: () => {
      if (!a.rules) return ctx.ipMasq ? 'not checked' : 'no rules (ipMasq off, no port mappings)';
      const pm =
        a.rules.portMappings === null
          ? 'port mappings unknown (no libcni cache entry)'
          : `${a.rules.portMappings} port mapping(s)`;
      return `${a.rules.backend}: masquerade${ctx.ipMasq ? '' : ' off'}, ${pm}`;
    },
  };
  const gone = findings.some((f) => f.piece === 'netns.gone');
  const skipped = (hop: (typeof HOPS)[number]): boolean => {
    if (gone) return HOPS.indexOf(hop) > HOPS.indexOf('netns');
    if (hop === 'container') return !a.container;
    if (hop === 'nat') return !a.rules;
    return false;
  };
  return HOPS.map((hop) => {
    const mine = findings.filter((f) => f.hop === hop);
    const err = mine.find((f) => f.severity === 'error');
    const warn = mine.find((f) => f.severity === 'warning');
    const status: HopState = err ? 'fail' : warn ? 'warn' : skipped(hop) ? 'skip' : 'ok';
    const detail = (err ?? warn)?.message ?? okDetail[hop]() ?? (status === 'skip' ? 'not reachable (see above)' : '');
    const skipWhy = gone ? 'container gone' : hop === 'container' ? 'namespace not found' : detail;
    return { hop, status, detail: status === 'skip' ? skipWhy : detail };
  });
}

export function attachmentReport(
  ctx: DoctorContext,
  cfg: BridgeConfig,
  node: NodeFacts,
  a: AttachmentFacts,
): AttachmentReport {
  const findings = diagnoseAttachment(ctx, cfg, node, a);
  const first = firstBroken(findings);
  return {
    containerId: a.containerId,
    ifname: a.ifname,
    ips: a.ips.map((i) => i.address),
    ...(a.netns ? { netns: a.netns, netnsFoundBy: a.netnsFoundBy } : {}),
    hostVeth: a.vethName,
    healthy: !first,
    ...(first ? { firstBroken: first } : {}),
    hops: hopStatuses(ctx, cfg, node, a, findings),
    findings,
  };
}
