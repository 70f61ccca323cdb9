// `--probe`: ping from inside the container's own namespace (its gateway, another container on the
// bridge, and destinations the operator names with --to — nothing else) and read packet counters
// on each hop before and after, so a failed ping says where its packets were last seen: the
// container interface, the host veth, the bridge, the FORWARD policy's drop counter, the
// masquerade jump, the node's egress interface, and the same hops back. No packet capture.
import { spawnSync } from 'node:child_process';
import { runTool, which } from '../sys/exec';
import { masqChainName } from '../firewall/tag';
import { LinkDetail, listLinkDetails, routeGet } from '../netlink/inspect';
import { Rtnl } from '../netlink/socket';
import { Netns } from '../sys/netns';
import { AttachmentFacts, Finding, ProbeHop, ProbeResult } from './types';
import { familyOf } from '../ip/addr';
import { bareAddress } from '../ip/cidr';

type CounterKey = string;
type Counters = Map<CounterKey, number>;

interface HopSpec {
  name: string;
  key: CounterKey;
  /** informational: not part of the path walk (e.g. the NAT counter only sees a flow's first packet) */
  info?: boolean;
  /** a drop counter: packets counted here were thrown away */
  drop?: boolean;
}

interface Plan {
  target: string;
  kind: ProbeResult['kind'];
  hops: HopSpec[];
  read: () => Promise<Counters>;
}

async function linkStats(
  ns: Netns | undefined,
  prefix: string,
  pick: Record<string, (l: LinkDetail[]) => LinkDetail | undefined>,
  out: Counters,
): Promise<void> {
  const nl = Rtnl.open(ns ?? '');
  try {
    const links = await listLinkDetails(nl);
    for (const [name, f] of Object.entries(pick)) {
      const l = f(links);
      if (!l?.stats) continue;
      out.set(`${prefix}${name}.rx`, l.stats.rxPackets);
      out.set(`${prefix}${name}.tx`, l.stats.txPackets);
    }
  } finally {
    nl.close();
  }
}

/** Packets counted by the first rule of `table` matching `pred`, or a chain's policy (iptables-save -c). */
export function savedCounter(
  text: string,
  table: string,
  pred: { chainPolicy?: string; rule?: (line: string) => boolean },
): number | undefined {
  let inTable = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) inTable = line === `*${table}`;
    if (!inTable) continue;
    if (pred.chainPolicy && line.startsWith(`:${pred.chainPolicy} `)) {
      const m = /\[(\d+):\d+\]/.exec(line);
      return m ? Number(m[1]) : undefined;
    }
    if (pred.rule) {
      const m = /^\[(\d+):\d+\] (-A .*)$/.exec(line);
      if (m && pred.rule(m[2])) return Number(m[1]);
    }
  }
  return undefined;
}

function iptablesCounters(family: 4 | 6, table: string): string {
  const tool = family === 4 ? 'iptables-save' : 'ip6tables-save';
  if (!which(tool)) return '';
  try {
    const r = runTool(tool, ['-c', '-t', table]);
    return r.status === 0 ? r.stdout : '';
  } catch {
    return '';
  }
}

/** The FORWARD policy's packet counter, when the policy is DROP. */
function forwardDrops(family: 4 | 6, c: Counters): void {
  const filter = iptablesCounters(family, 'filter');
  const n = savedCounter(filter, 'filter', { chainPolicy: 'FORWARD' });
  if (n !== undefined && /^:FORWARD DROP /m.test(filter)) c.set('fw.drop', n);
}

export function ping(netns: Netns, dst: string, count: number): { sent: number; received: number; error?: string } {
  const exe = which('ping');
  if (!exe) return { sent: 0, received: 0, error: 'ping not found' };
  const r = netns.run(() =>
    spawnSync(exe, ['-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', dst], {
      encoding: 'utf8',
      timeout: 30_000,
    }),
  );
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout ?? '');
  if (!m) return { sent: count, received: 0, error: (r.stderr || r.stdout || r.error?.message || '').trim() };
  return { sent: Number(m[1]), received: Number(m[2]) };
}

export interface ProbeContext {
  network: string;
  bridge: string;
  bridgeIndex?: number;
  /** The other attachments (one may serve as the peer). */
  others: AttachmentFacts[];
  to: string[];
  count: number;
}

function plans(ctx: ProbeContext, a: AttachmentFacts): { plans: Plan[]; notes: string[] } {
  const out: Plan[] = [];
  const notes: string[] = [];
  const ns = a.netnsHandle!;
  const veth = a.veth;
  const base = async (c: Counters): Promise<void> => {
    await linkStats(ns, 'c.', { if: (ls) => ls.find((l) => l.name === a.ifname) }, c);
  };
  const hostPick = (extra: Record<string, (l: LinkDetail[]) => LinkDetail | undefined> = {}) => ({
    veth: (ls: LinkDetail[]) => ls.find((l) => veth !== undefined && l.index === veth.index),
    br: (ls: LinkDetail[]) => ls.find((l) => l.name === ctx.bridge),
    ...extra,
  });
  const cIf = `${a.ifname} (container)`;
  const vName = a.vethName;

  for (const ip of a.ips) {
    if (!ip.gateway) continue;
    out.push({
      target: ip.gateway,
      kind: 'gateway',
      hops: [
        { name: `${cIf} tx`, key: 'c.if.tx' },
        { name: `${vName} rx`, key: 'h.veth.rx' },
        { name: `${ctx.bridge} rx`, key: 'h.br.rx' },
        { name: `${ctx.bridge} tx`, key: 'h.br.tx' },
        { name: `${vName} tx`, key: 'h.veth.tx' },
        { name: `${cIf} rx`, key: 'c.if.rx' },
      ],
      read: async () => {
        const c: Counters = new Map();
        await base(c);
        await linkStats(undefined, 'h.', hostPick(), c);
        return c;
      },
    });
  }

  for (const ip of a.ips) {
    const peer = ctx.others.find(
      (o) =>
        o !== a &&
        o.netnsHandle &&
        o.container?.iface &&
        o.veth &&
        o.veth.master === ctx.bridgeIndex &&
        o.ips.some((x) => familyOf(x.address) === familyOf(ip.address)),
    );
    if (!peer) {
      notes.push(`no other container on ${ctx.bridge} with an IPv${familyOf(ip.address)} address to probe`);
      continue;
    }
    const pip = bareAddress(peer.ips.find((x) => familyOf(x.address) === familyOf(ip.address))!.address);
    const pIf = `${peer.ifname} (${peer.containerId ? peer.containerId.slice(0, 12) : 'peer'})`;
    out.push({
      target: pip,
      kind: 'peer',
      hops: [
        { name: `${cIf} tx`, key: 'c.if.tx' },
        { name: `${vName} rx`, key: 'h.veth.rx' },
        {
          name: `${familyOf(pip) === 4 ? 'iptables' : 'ip6tables'} FORWARD policy drops (br_netfilter)`,
          key: 'fw.drop',
          drop: true,
        },
        { name: `${peer.vethName} tx`, key: 'h.pveth.tx' },
        { name: `${pIf} rx`, key: 'p.if.rx' },
        { name: `${pIf} tx`, key: 'p.if.tx' },
        { name: `${peer.vethName} rx`, key: 'h.pveth.rx' },
        { name: `${vName} tx`, key: 'h.veth.tx' },
        { name: `${cIf} rx`, key: 'c.if.rx' },
      ],
      read: async () => {
        const c: Counters = new Map();
        await base(c);
        await linkStats(undefined, 'h.', hostPick({ pveth: (ls) => ls.find((l) => l.index === peer.veth!.index) }), c);
        await linkStats(peer.netnsHandle, 'p.', { if: (ls) => ls.find((l) => l.name === peer.ifname) }, c);
        forwardDrops(familyOf(pip), c);
        return c;
      },
    });
    break;
  }

  for (const dst of ctx.to) {
    const ip = a.ips.find((x) => familyOf(x.address) === familyOf(dst));
    if (!ip) {
      notes.push(`--to ${dst}: the container has no IPv${familyOf(dst)} address`);
      continue;
    }
    const family = familyOf(dst);
    const pod = bareAddress(ip.address);
    const chain = a.containerId ? masqChainName(ctx.network, a.containerId) : '';
    const tool = family === 4 ? 'iptables' : 'ip6tables';
    let egress: LinkDetail | undefined;
    const hops: HopSpec[] = [
      { name: `${cIf} tx`, key: 'c.if.tx' },
      { name: `${vName} rx`, key: 'h.veth.rx' },
      { name: `${ctx.bridge} rx`, key: 'h.br.rx' },
      { name: `${tool} FORWARD policy drops`, key: 'fw.drop', drop: true },
      { name: `${tool} nat masquerade jump (first packet of a flow)`, key: 'nat.jump', info: true },
    ];
    out.push({
      target: dst,
      kind: 'destination',
      hops,
      read: async () => {
        const c: Counters = new Map();
        await base(c);
        const nl = Rtnl.open();
        try {
          if (!egress) {
            const rt = await routeGet(nl, dst);
            const links = await listLinkDetails(nl);
            egress = links.find((l) => l.index === rt?.oif);
            if (egress && egress.name !== ctx.bridge) {
              hops.push(
                { name: `${egress.name} tx (node egress)`, key: 'h.eg.tx' },
                { name: `${egress.name} rx (node egress)`, key: 'h.eg.rx' },
              );
            }
            hops.push(
              { name: `${ctx.bridge} tx`, key: 'h.br.tx' },
              { name: `${vName} tx`, key: 'h.veth.tx' },
              { name: `${cIf} rx`, key: 'c.if.rx' },
            );
          }
        } finally {
          nl.close();
        }
        await linkStats(
          undefined,
          'h.',
          hostPick({ eg: (ls) => ls.find((l) => egress !== undefined && l.index === egress.index) }),
          c,
        );
        forwardDrops(family, c);
        const nat = iptablesCounters(family, 'nat');
        const jump = chain
          ? savedCounter(nat, 'nat', {
              rule: (l) => l.startsWith('-A POSTROUTING ') && l.includes(`-j ${chain}`) && l.includes(`-s ${pod}/`),
            })
          : undefined;
        if (jump !== undefined) c.set('nat.jump', jump);
        return c;
      },
    });
  }
  return { plans: out, notes };
}

function judge(
  plan: Plan,
  before: Counters,
  after: Counters,
  sent: number,
  received: number,
  error?: string,
): ProbeResult {
  const hops: ProbeHop[] = [];
  let lastSeen: string | undefined;
  let walking = true;
  let dropNote: string | undefined;
  for (const h of plan.hops) {
    const b = before.get(h.key);
    const e = after.get(h.key);
    if (b === undefined || e === undefined) continue;
    const delta = e - b;
    if (h.drop) {
      if (delta > 0) dropNote = `${delta} packet(s) counted by ${h.name}`;
      hops.push({ name: h.name, delta, seen: delta > 0 });
      // the lost packets were thrown away here: what later counters show is other traffic
      if (walking && delta >= Math.max(1, sent - received)) walking = false;
      continue;
    }
    const seen = h.info ? delta > 0 : delta >= Math.max(1, sent);
    hops.push({ name: h.name, delta, seen });
    if (h.info) continue;
    if (walking && seen) lastSeen = h.name;
    else walking = false;
  }
  const ok = received > 0;
  return {
    target: plan.target,
    kind: plan.kind,
    sent,
    received,
    ok,
    hops,
    ...(lastSeen ? { lastSeen } : {}),
    ...(error || dropNote ? { note: [error, dropNote].filter(Boolean).join('; ') } : {}),
  };
}

export async function probeAttachment(
  ctx: ProbeContext,
  a: AttachmentFacts,
): Promise<{ results: ProbeResult[]; findings: Finding[]; notes: string[] }> {
  if (!a.netnsHandle)
    return { results: [], findings: [], notes: [`${a.containerId}/${a.ifname}: no namespace, nothing to probe`] };
  const { plans: ps, notes } = plans(ctx, a);
  const results: ProbeResult[] = [];
  const findings: Finding[] = [];
  for (const p of ps) {
    const before = await p.read();
    const r = ping(a.netnsHandle, p.target, ctx.count);
    const after = await p.read();
    const res = judge(p, before, after, r.sent, r.received, r.error);
    results.push(res);
    if (!res.ok) {
      const next = res.hops.find(
        (h) => !h.seen && !p.hops.find((s) => s.name === h.name)?.info && !p.hops.find((s) => s.name === h.name)?.drop,
      );
      findings.push({
        hop: 'probe',
        piece: `probe.${p.kind}`,
        severity: 'error',
        fixable: false,
        message:
          `ping ${p.target} (${p.kind}) from ${a.ifname}: ${r.received}/${r.sent} replies; last seen at ` +
          `${res.lastSeen ?? 'nowhere (not even sent)'}${
            next ? `, not at ${next.name}` : ''
          }${res.note ? ` (${res.note})` : ''}`,
      });
    }
  }
  return { results, findings, notes };
}
