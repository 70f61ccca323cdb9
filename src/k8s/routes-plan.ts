// What the route table should hold for cross-node pod traffic, and the changes that get it there.
// Every other node's pod CIDR is reached via that node's InternalIP of the same family. Routes are
// ours when they carry our rtnetlink protocol number; we only ever delete those, and never replace
// a route someone else owns to the same destination. Pure.
import { canonicalIp, familyOf, overlaps, parseCidr } from './cidr';
import { NodeInfo } from './node';

/** rtm_protocol of tsbridge routes ("proto 116" in `ip route`); unassigned in iproute2's rt_protos. */
export const RTPROT_TSBRIDGE = 116;

export interface WantedRoute { dst: string; gw: string; node: string }
export interface KernelRoute { dst: string; gw?: string; protocol: number }

export interface Desired { routes: WantedRoute[]; problems: string[] }

export function desiredRoutes(self: string, nodes: NodeInfo[]): Desired {
  const problems: string[] = [];
  const own = nodes.find((n) => n.name === self)?.podCidrs ?? [];
  const routes: WantedRoute[] = [];
  // sorted: with two nodes claiming one CIDR the outcome must not depend on event order
  for (const n of [...nodes].sort((a, b) => a.name.localeCompare(b.name))) {
    if (n.name === self) continue;
    for (const raw of n.podCidrs) {
      let dst: string;
      try {
        dst = parseCidr(raw).cidr;
      } catch (e) {
        problems.push(`node ${n.name}: ${(e as Error).message}`);
        continue;
      }
      const fam = familyOf(dst.split('/')[0]);
      const gw = n.internalIps.find((ip) => safeFamily(ip) === fam);
      if (!gw) {
        problems.push(`node ${n.name}: no IPv${fam} InternalIP for pod CIDR ${dst}`);
        continue;
      }
      if (own.some((o) => safeOverlaps(o, dst))) {
        problems.push(`node ${n.name}: pod CIDR ${dst} overlaps this node's own`);
        continue;
      }
      const clash = routes.find((r) => safeOverlaps(r.dst, dst));
      if (clash) {
        problems.push(`node ${n.name}: pod CIDR ${dst} overlaps ${clash.dst} of node ${clash.node}`);
        continue;
      }
      routes.push({ dst, gw: canonicalIp(gw), node: n.name });
    }
  }
  return { routes, problems };
}

function safeFamily(ip: string): 4 | 6 | 0 {
  try {
    return familyOf(ip);
  } catch {
    return 0;
  }
}

function safeOverlaps(a: string, b: string): boolean {
  try {
    return overlaps(a, b);
  } catch {
    return false;
  }
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
