// The vocabulary of `tsbridge doctor`: the hops of a container's path in the order a packet takes
// them, the facts collected from the kernel (collect.ts), and the findings made from them (pure,
// diagnose.ts).
import type { IPConfig, Route } from '../cni/result';
import type { Addr } from '../netlink/addr';
import type { LinkDetail, LinkStats } from '../netlink/inspect';
import type { RouteEntry } from '../netlink/route';
import type { ContainerState } from '../attachment/problems';
import type { Netns } from '../sys/netns';
import type { PolicyTable } from './iptables-eval';

/** In path order: the first hop with an error is "the first broken piece". */
export const HOPS = [
  'ipam',
  'netns',
  'container',
  'host-veth',
  'bridge',
  'node-routes',
  'forwarding',
  'filter',
  'nat',
] as const;
export type Hop = (typeof HOPS)[number] | 'probe';

export type Severity = 'error' | 'warning';

export interface Finding {
  hop: Hop;
  /** Stable id, e.g. "container.address", "host-veth.master", "filter.forward-drop". */
  piece: string;
  severity: Severity;
  message: string;
  /** What an operator runs to repair it. */
  fix?: string;
  /** `--fix` repairs it: tsbridge made this piece. */
  fixable: boolean;
}

export type HopState = 'ok' | 'fail' | 'warn' | 'skip';
export interface HopStatus {
  hop: Hop;
  status: HopState;
  detail: string;
}

/** Where the attachment's namespace was found. */
export type NetnsSource = 'flag' | 'cache' | 'veth-peer' | 'address';

export interface RulesFacts {
  backend: 'iptables' | 'nftables';
  /** checkAttachment's problems ([] = present). */
  problems: string[];
  /** Port mappings from the runtime's libcni cache; null = unknown (no cache entry). */
  portMappings: number | null;
}

/** Everything read for one attachment (container ID + interface). */
export interface AttachmentFacts {
  /** '' when unknown: a container found in a namespace that IPAM has no record of. */
  containerId: string;
  ifname: string;
  /** The addresses the attachment should have ("10.0.0.5/24") with their gateways. */
  ips: IPConfig[];
  /** IPs reserved for it in the IPAM store ([] = container without IPAM file). */
  reserved: string[];
  /** Reserved IPs that lie in no configured range (the config changed since). */
  outOfRange: string[];
  /** Routes host-local gives every container (ipam.routes). */
  ipamRoutes: Route[];
  netns?: string;
  /** The namespace as opened once for this run (collect, --fix and --probe all use it). */
  netnsHandle?: Netns;
  netnsFoundBy?: NetnsSource;
  /** More than one namespace claimed it (only by address). */
  netnsCandidates: string[];
  netnsError?: string;
  vethName: string;
  veth?: LinkDetail;
  container?: ContainerState & { ifaceStats?: LinkStats };
  rules?: RulesFacts;
  /** macspoofchk: what is wrong with the attachment's spoof-check chains ([] = in place); absent when off. */
  spoofcheck?: string[];
}

/** What was read in the node's namespace (shared by every attachment). */
export interface NodeFacts {
  bridge?: LinkDetail;
  /** Addresses of the interface holding the gateways: the bridge, or `<bridge>.<vlan>` with a VLAN. */
  bridgeAddrs: Addr[];
  /** ifindex of `<bridge>.<vlan>` (vlan with isGateway): its addresses in the pod subnet are ours. */
  vlanGateway?: number;
  links: LinkDetail[];
  addrs: Addr[];
  /** Main-table routes of both families. */
  routes: RouteEntry[];
  ipv4Forward?: string;
  ipv6Forward?: string;
  /** undefined: br_netfilter is not loaded (no /proc/sys/net/bridge). */
  brNfCallIptables?: string;
  brNfCallIp6tables?: string;
  /** net.ipv4.conf.<bridge>.route_localnet, and whether a localnet guard for the bridge exists (CVE-2020-8558). */
  routeLocalnet?: string;
  localnetGuard?: boolean;
  /** iptables filter / nat tables per family (absent: unreadable or tool missing). */
  filter: { 4?: PolicyTable; 6?: PolicyTable };
  nat: { 4?: PolicyTable; 6?: PolicyTable };
  /** nft base chains hooked at forward with policy drop, outside iptables' own tables. */
  nftForwardDrops: {
    chain: string /** family, table, chain: the words nft takes */;
    where: [string, string, string];
    acceptsBridge: boolean;
  }[];
  /** Problems reading any of the above. */
  errors: string[];
}

/** Static context: the network and how doctor was invoked (for fix commands). */
export interface DoctorContext {
  network: string;
  bridge: string;
  isGateway: boolean;
  ipMasq: boolean;
  /** The configured subnets (one per range), canonical CIDR. */
  subnets: string[];
  dataDir?: string;
  /** `tsbridge doctor --config ...` as typed, to name in fix commands. */
  doctorCmd: string;
  /** The operator's --to destination, if any (refines FORWARD/NAT evaluation). */
  to?: string;
}

export interface ProbeHop {
  name: string;
  /** Packets counted on this hop during the probe. */
  delta: number;
  seen: boolean;
}
export interface ProbeResult {
  target: string;
  kind: 'gateway' | 'peer' | 'destination';
  sent: number;
  received: number;
  ok: boolean;
  hops: ProbeHop[];
  lastSeen?: string;
  note?: string;
}

export interface AttachmentReport {
  containerId: string;
  ifname: string;
  ips: string[];
  netns?: string;
  netnsFoundBy?: NetnsSource;
  hostVeth: string;
  healthy: boolean;
  firstBroken?: Finding;
  hops: HopStatus[];
  findings: Finding[];
  probes?: ProbeResult[];
}

export interface Change {
  what: string;
  ok: boolean;
  error?: string;
}

export interface DoctorReport {
  network: string;
  bridge: string;
  config: string;
  healthy: boolean;
  firstBroken?: Finding & { containerId: string; ifname: string };
  attachments: AttachmentReport[];
  /** IPAM records with an ID or interface name no runtime gives (planted or damaged): never used. */
  corruptRecords?: { ip: string; file: string; why: string }[];
  /** Every finding once (node-wide pieces appear in each attachment's walk). */
  findings: Finding[];
  changes?: Change[];
  notes: string[];
}
