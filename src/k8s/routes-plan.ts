// What the route table should hold for cross-node pod traffic, and the changes that get it there.
// Every other node's pod CIDR is reached via that node's InternalIP of the same family, when the
// Node passes the trust checks (trust.ts). Routes are ours when they carry our rtnetlink protocol
// number; we only ever delete those, and never replace a route someone else owns to the same
// destination. Pure.
import { familyOf } from '../ip/addr';
import { addressOf, canonicalAddress, cidrsOverlap, memoGeneration, parsePodCidr } from './cidr';
import { NodeInfo } from './node';
import { DEFAULT_MAX_ROUTES, gatewayProblem, podCidrProblem, TrustPolicy } from './trust';

/** rtm_protocol of tsbridge routes ("proto 116" in `ip route`); unassigned in iproute2's rt_protos. */
export const RTPROT_TSBRIDGE = 116;

export interface WantedRoute {
  dst: string;
  gw: string;
  node: string;
}
export interface KernelRoute {
  dst: string;
  gw?: string;
  protocol: number;
}

export interface Desired {
  routes: WantedRoute[];
  problems: string[];
}

/**
 * The routes to program for the other nodes, and one line per refused claim. Nodes are taken oldest
 * first (creationTimestamp, then name: a Node cannot change when it was created), so of two nodes
 * claiming overlapping CIDRs the older keeps its route whatever order the events came in; this
 * node's own CIDRs come before all. Each pod CIDR must pass the trust checks (inside the cluster
 * CIDR, clear of this node's networks and the API server), at most one per family per node, and
 * its gateway (the node's InternalIP of that family) must be an on-link neighbour.
 */
export function desiredRoutes(
  self: string,
  nodes: NodeInfo[],
  policy: TrustPolicy,
  maxRoutes = DEFAULT_MAX_ROUTES,
): Desired {
  memoGeneration(); // parses of this plan are kept for the next; older ones go (see cidr.ts)
  const problems: string[] = [];
  const claimed: { cidr: string; node: string }[] = [];
  for (const raw of nodes.find((n) => n.name === self)?.podCidrs ?? []) {
    try {
      claimed.push({ cidr: parsePodCidr(raw).cidr, node: self });
    } catch {
      /* install reports our own bad CIDR */
    }
  }
  const routes: WantedRoute[] = [];
  const born = (n: NodeInfo): number => {
    const t = Date.parse(n.created ?? '');
    return Number.isNaN(t) ? Infinity : t;
  };
  const others = nodes
    .filter((n) => n.name !== self)
    .sort((a, b) => born(a) - born(b) || 0 || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const n of others) {
    const cidrs: string[] = [];
    for (const raw of n.podCidrs) {
      try {
        cidrs.push(parsePodCidr(raw).cidr);
      } catch (e) {
        problems.push(`node ${n.name}: ${(e as Error).message}`);
      }
    }
    for (const dst of cidrs) {
      const refuse = (why: string): void => void problems.push(`node ${n.name}: pod CIDR ${dst} refused: ${why}`);
      const fam = familyOf(dst);
      if (cidrs.filter((c) => familyOf(c) === fam).length > 1) {
        refuse(`more than one IPv${fam} pod CIDR on the node (${cidrs.join(', ')})`);
        continue;
      }
      const bad = podCidrProblem(dst, policy);
      if (bad) {
        refuse(bad);
        continue;
      }
      const clash = claimed.find((c) => cidrsOverlap(c.cidr, dst));
      if (clash) {
        refuse(
          clash.node === self
            ? `overlaps this node's own pod CIDR ${clash.cidr}`
            : `overlaps ${clash.cidr} of node ${clash.node} (older)`,
        );
        continue;
      }
      claimed.push({ cidr: dst, node: n.name });
      const ips = n.internalIps.filter((ip) => safeFamily(ip) === fam);
      if (!ips.length) {
        refuse(`no IPv${fam} InternalIP`);
        continue;
      }
      const gw = ips.find((ip) => !gatewayProblem(ip, policy, claimed));
      if (!gw) {
        refuse(`gateway ${ips[0]} ${gatewayProblem(ips[0], policy, claimed)}`);
        continue;
      }
      if (routes.length >= maxRoutes) {
        refuse(`more than ${maxRoutes} routes (--max-routes)`);
        continue;
      }
      routes.push({ dst, gw: canonicalAddress(gw), node: n.name });
    }
  }
  return { routes, problems };
}

function safeFamily(ip: string): 4 | 6 | 0 {
  return addressOf(ip)?.family ?? 0;
}

/** The lines of `now` not in `seen` (each refusal is logged once while it lasts); `seen` becomes `now`. */
export function newProblems(seen: Set<string>, now: string[]): string[] {
  const fresh = [...new Set(now)].filter((p) => !seen.has(p));
  seen.clear();
  for (const p of now) seen.add(p);
  return fresh;
}

export interface RoutePlan {
  /** create or update (replace) */
  set: WantedRoute[];
  /** our routes nobody wants any more */
  del: KernelRoute[];
  /** wanted routes whose destination a route of another owner already holds: left alone */
  blocked: WantedRoute[];
}

/** `kernel`: the main table's routes, all protocols. */
export function planRoutes(want: WantedRoute[], kernel: KernelRoute[], protocol = RTPROT_TSBRIDGE): RoutePlan {
  const ours = kernel.filter((r) => r.protocol === protocol);
  const foreign = new Set(kernel.filter((r) => r.protocol !== protocol).map((r) => r.dst));
  const plan: RoutePlan = { set: [], del: [], blocked: [] };
  for (const w of want) {
    if (foreign.has(w.dst)) plan.blocked.push(w);
    else if (!ours.some((r) => r.dst === w.dst && r.gw === w.gw)) plan.set.push(w);
  }
  for (const r of ours) {
    if (!want.some((w) => w.dst === r.dst && w.gw === r.gw && !foreign.has(w.dst))) {
      // a changed gateway is fixed by the replace in `set`; deleting first would open a gap
      if (!plan.set.some((w) => w.dst === r.dst)) plan.del.push(r);
    }
  }
  return plan;
}
