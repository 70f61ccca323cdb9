// Which pod CIDRs and gateways a Node object may bring onto this node. Anyone who can patch Nodes
// (or a compromised kubelet) writes spec.podCIDRs and status.addresses; without these checks a Node
// claiming 169.254.169.254/32, the Service range or 128.0.0.0/1 would get that route on every node.
// A pod CIDR must lie inside the cluster CIDR of its family and must not touch this node's own
// networks or the API server; a gateway must be a neighbour on a node network, not this node and
// not a pod. Pure: the host's addresses come in as data.
import * as ipaddr from 'ipaddr.js';
import { bareAddress } from '../ip/cidr';
import { addressOf, canonicalAddress, cidrCovers, cidrsOverlap, hostCidrText, networkText } from './cidr';

/** One address of this node, with its prefix (its connected subnet) and interface when known. */
export interface HostAddr {
  address: string;
  prefix: number;
  ifname?: string;
}

export interface TrustPolicy {
  /** canonical, at most one per family */
  clusterCidrs: string[];
  /** this node's addresses */
  hostAddrs: HostAddr[];
  /** the API server's address(es), when it is given as an IP */
  apiServer: string[];
}

export const DEFAULT_MAX_ROUTES = 5000;
/** ipaddr.js ranges no node's InternalIP can be a gateway in (fe80:: would also need a device). */
const NO_GATEWAY = ['unspecified', 'broadcast', 'multicast', 'loopback', 'linkLocal'];

const safe = <T>(f: () => T, dflt: T): T => {
  try {
    return f();
  } catch {
    return dflt;
  }
};
const fam = (cidrOrIp: string): 4 | 6 | 0 => addressOf(bareAddress(cidrOrIp))?.family ?? 0;
const lap = (a: string, b: string): boolean => safe(() => cidrsOverlap(a, b), false);
const within = (outer: string, inner: string): boolean => safe(() => cidrCovers(outer, inner), false);

/** Why `cidr` (canonical) may not be a pod CIDR on this node; undefined when it may. */
export function podCidrProblem(cidr: string, p: TrustPolicy, needCluster = true): string | undefined {
  const f = fam(cidr);
  const cluster = p.clusterCidrs.find((c) => fam(c) === f);
  if (!cluster && needCluster) return `has no IPv${f} cluster CIDR to be inside (--cluster-cidr)`;
  if (cluster && !within(cluster, cidr)) return `is outside the cluster CIDR ${cluster}`;
  for (const a of p.hostAddrs) {
    if (lap(cidr, hostCidrText(a.address))) return `contains ${canonicalAddress(a.address)}, an address of this node`;
  }
  for (const a of p.hostAddrs) {
    const net = networkText(a.address, a.prefix);
    if (lap(cidr, net)) return `overlaps ${net}, a connected subnet of this node${a.ifname ? ` (${a.ifname})` : ''}`;
  }
  for (const ip of p.apiServer) {
    if (lap(cidr, hostCidrText(ip))) return `contains the API server address ${canonicalAddress(ip)}`;
  }
  return undefined;
}

/**
 * Why `ip` may not be the gateway to another node's pods; undefined when it may. `pods`: the pod
 * CIDRs taken so far (this node's first): a gateway there would be a pod, not a node.
 */
export function gatewayProblem(
  ip: string,
  p: TrustPolicy,
  pods: { cidr: string; node: string }[] = [],
): string | undefined {
  const gw = hostCidrText(ip);
  if (p.hostAddrs.some((a) => lap(gw, hostCidrText(a.address)))) return 'is an address of this node';
  const range = ipaddr.parse(ip).range();
  if (NO_GATEWAY.includes(range)) return `is a ${range} address`;
  const pod = pods.find((c) => lap(c.cidr, gw));
  if (pod) return `is inside the pod CIDR ${pod.cidr} of node ${pod.node} (a pod address)`;
  // on-link: inside a connected subnet that is no pod network (a /32 or /128 has no neighbours)
  const onLink = p.hostAddrs.some((a) => {
    const net = networkText(a.address, a.prefix);
    return within(net, gw) && net !== hostCidrText(a.address) && !pods.some((c) => lap(c.cidr, net));
  });
  return onLink ? undefined : 'is not on a connected subnet of this node (off-link)';
}

/**
 * Reasons the node's own pod CIDRs (the conflist's ranges) are refused; empty when they are fine.
 * `p.hostAddrs` must leave out the pod bridge (it holds the gateway address of these very CIDRs);
 * without any cluster CIDR configured (a plain install) only the node-network checks apply.
 */
export function ownPodCidrProblems(cidrs: string[], p: TrustPolicy): string[] {
  const out: string[] = [];
  for (const c of cidrs) {
    const why = podCidrProblem(c, p, p.clusterCidrs.length > 0);
    if (why) out.push(`pod CIDR ${c} ${why}`);
  }
  return out;
}
