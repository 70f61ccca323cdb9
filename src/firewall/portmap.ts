// Port mappings (the job of the reference `portmap` plugin), the backend-neutral part: parsing
// runtimeConfig.portMappings, turning mappings into per-family DNAT entries, deciding whether
// two mappings overlap, and the sysctls port mappings need. Pure (the conntrack cleanup after
// a change is conntrack.ts).
import { CniError, ErrCode } from '../cni/errors';
import { getKey, isObject } from '../cni/json';
import { hashedChainName } from './tag';
import { normIp } from './addr';
import type { AttachmentRules, PortConflict, PortMapping, PortProtocol } from './types';
import { Family, familyOf, tryCanonicalIP } from '../ip/addr';

export const PROTOCOLS: readonly PortProtocol[] = ['tcp', 'udp', 'sctp'];

/** The per-container chain of hairpin/localhost masquerade rules: `CNI-HM-` + 21 hex digits. */
export function hairpinChainName(network: string, containerId: string): string {
  return hashedChainName('CNI-HM-', network, containerId);
}

function bad(msg: string): CniError {
  return new CniError(ErrCode.InvalidConfig, `invalid runtimeConfig.portMappings: ${msg}`);
}

/**
 * Parses runtimeConfig.portMappings as the reference does (Go's encoding/json: keys match
 * case-insensitively, so containerd's CRI `HostPort`/`ContainerPort`/`Protocol`/`HostIP` work).
 * Protocol defaults to tcp and is case-insensitive. hostIP "" means every address; otherwise it
 * must be an IPv4 or IPv6 address ("0.0.0.0"/"::" = every address of that family), kept in
 * canonical form. Exact duplicates are dropped; two entries for the same host port, protocol
 * and overlapping hostIP that lead to different container ports are an error, since only one
 * of them could ever receive traffic. Every problem is CNI error 7.
 */
export function parsePortMappings(raw: unknown): PortMapping[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw bad(`want a list, got ${JSON.stringify(raw)}`);
  const out: PortMapping[] = [];
  raw.forEach((entry, i) => {
    const where = `entry ${i}`;
    if (!isObject(entry)) throw bad(`${where}: want an object, got ${JSON.stringify(entry)}`);
    const port = (key: string): number => {
      const v = getKey(entry, key);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
        throw bad(`${where}: ${key} must be an integer in 1..65535, got ${JSON.stringify(v)}`);
      }
      return v;
    };
    const hostPort = port('hostPort');
    const containerPort = port('containerPort');
    const proto = getKey(entry, 'protocol');
    if (proto !== undefined && proto !== null && typeof proto !== 'string') {
      throw bad(`${where}: protocol must be a string, got ${JSON.stringify(proto)}`);
    }
    const protocol = (proto || 'tcp').toLowerCase() as PortProtocol;
    if (!PROTOCOLS.includes(protocol))
      throw bad(`${where}: protocol must be tcp, udp or sctp, got ${JSON.stringify(proto)}`);
    const hip = getKey(entry, 'hostIP');
    if (hip !== undefined && hip !== null && typeof hip !== 'string') {
      throw bad(`${where}: hostIP must be a string, got ${JSON.stringify(hip)}`);
    }
    const m: PortMapping = { hostPort, containerPort, protocol };
    if (hip) {
      // an IPv4-mapped IPv6 hostIP becomes IPv4, as Go's To4 treats it
      const canon = tryCanonicalIP(hip);
      if (canon === undefined) throw bad(`${where}: hostIP must be an IP address, got ${JSON.stringify(hip)}`);
      m.hostIP = canon;
    }
    if (out.some((o) => sameMapping(o, m))) return;
    const clash = out.find(
      (o) =>
        o.protocol === m.protocol &&
        o.hostPort === m.hostPort &&
        hostIpsOverlap(o.hostIP, m.hostIP) &&
        o.containerPort !== m.containerPort,
    );
    if (clash) {
      throw bad(`${where}: host port ${describeHost(m)} is also mapped to container port ${clash.containerPort}`);
    }
    out.push(m);
  });
  return out;
}

function sameMapping(a: PortMapping, b: PortMapping): boolean {
  return (
    a.hostPort === b.hostPort &&
    a.containerPort === b.containerPort &&
    a.protocol === b.protocol &&
    a.hostIP === b.hostIP
  );
}

function isUnspecified(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

/** Whether two hostIPs (canonical; undefined = every address) can receive the same packet. */
export function hostIpsOverlap(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  if (familyOf(a) !== familyOf(b)) return false;
  return isUnspecified(a) || isUnspecified(b) || a === b;
}

/** "8080/tcp" or "192.0.2.1:8080/tcp" / "[2001:db8::1]:8080/tcp". */
export function describeHost(m: { hostPort: number; protocol: PortProtocol; hostIP?: string }): string {
  if (m.hostIP === undefined || isUnspecified(m.hostIP)) return `${m.hostPort}/${m.protocol}`;
  return `${m.hostIP.includes(':') ? `[${m.hostIP}]` : m.hostIP}:${m.hostPort}/${m.protocol}`;
}

/** One DNAT rule of one family: traffic to [hostIP]:hostPort goes to containerIp:containerPort. */
export interface DnatEntry {
  family: Family;
  protocol: PortProtocol;
  hostPort: number;
  /** Destination address to match; undefined = any local address of the family. */
  hostIP?: string;
  /** Canonical container address. */
  containerIp: string;
  containerPort: number;
}

/**
 * The DNAT entries of one family, in mapping order. The target is the container's first address
 * of that family (as the reference); mappings whose hostIP is of the other family are skipped
 * (as the reference); "0.0.0.0"/"::" match any address of their family.
 */
export function dnatEntries(r: Pick<AttachmentRules, 'ips' | 'portMappings'>, family: Family): DnatEntry[] {
  const first = r.ips.find((i) => i.family === family);
  if (!first) return [];
  const containerIp = normIp(first.ip, family);
  const out: DnatEntry[] = [];
  for (const m of r.portMappings) {
    if (m.hostIP !== undefined && familyOf(m.hostIP) !== family) continue;
    const e: DnatEntry = {
      family,
      protocol: m.protocol,
      hostPort: m.hostPort,
      containerIp,
      containerPort: m.containerPort,
    };
    if (m.hostIP !== undefined && !isUnspecified(m.hostIP)) e.hostIP = normIp(m.hostIP, family);
    if (
      !out.some(
        (o) =>
          o.protocol === e.protocol &&
          o.hostPort === e.hostPort &&
          o.hostIP === e.hostIP &&
          o.containerPort === e.containerPort,
      )
    ) {
      out.push(e);
    }
  }
  return out;
}

/**
 * The packet mark bit tsbridge's host-port DNAT chains set on what they rewrite from a hairpin
 * source (the container's subnet, 127.0.0.0/8), so that only that traffic is masqueraded: a
 * connection some other DNAT (a Service's) sent to the container keeps its client address. It is
 * the reference portmap's bit (markMasqBit 13), which Kubernetes (bits 14, 15) leaves alone.
 */
export const HAIRPIN_MARK = '0x2000/0x2000';
export const HAIRPIN_MARK_NFT = '0x00002000';

/** Host ports by protocol (sorted, distinct), protocols in PROTOCOLS order. */
export function portsByProtocol(entries: DnatEntry[]): [PortProtocol, number[]][] {
  const out: [PortProtocol, number[]][] = [];
  for (const p of PROTOCOLS) {
    const ports = [...new Set(entries.filter((e) => e.protocol === p).map((e) => e.hostPort))].sort((a, b) => a - b);
    if (ports.length) out.push([p, ports]);
  }
  return out;
}

/** A host port some attachment maps, as read back from the rules. */
export interface HeldPort {
  family: Family;
  protocol: PortProtocol;
  hostPort: number;
  hostIP?: string;
  /** The per-container chain holding the DNAT rule. */
  chain: string;
  containerId: string;
  network: string | null;
}

/** The requested entries that overlap a port held by a chain other than `ownChain`. */
export function findConflicts(held: HeldPort[], wanted: DnatEntry[], ownChain: string): PortConflict[] {
  const out: PortConflict[] = [];
  for (const w of wanted) {
    for (const h of held) {
      if (h.chain === ownChain || h.family !== w.family || h.protocol !== w.protocol || h.hostPort !== w.hostPort)
        continue;
      if (w.hostIP !== undefined && h.hostIP !== undefined && w.hostIP !== h.hostIP) continue;
      const c: PortConflict = {
        family: w.family,
        protocol: w.protocol,
        hostPort: w.hostPort,
        holder: { containerId: h.containerId, network: h.network },
      };
      if (w.hostIP !== undefined) c.hostIP = w.hostIP;
      if (h.hostIP !== undefined) c.holder.hostIP = h.hostIP;
      if (!out.some((o) => JSON.stringify(o) === JSON.stringify(c))) out.push(c);
    }
  }
  return out;
}

/**
 * CNI error 103 naming every conflicting host port and who holds it (one line per port and holder, families merged).
 */
export function portInUseError(conflicts: PortConflict[]): CniError {
  const parts = conflicts.map((c) => {
    const net = c.holder.network === null ? '' : ` of network ${JSON.stringify(c.holder.network)}`;
    const theirs =
      c.holder.hostIP === c.hostIP ? '' : ` (it maps ${c.holder.hostIP ?? `every local IPv${c.family} address`})`;
    return `host port ${describeHost(c)} is already mapped by container ${c.holder.containerId}${net}${theirs}`;
  });
  return new CniError(ErrCode.PortInUse, [...new Set(parts)].join('; '));
}

/**
 * route_localnet=1 on the bridge also lets a container (with CAP_NET_RAW, the runtimes' default)
 * send packets to the node's 127.0.0.1 services through the bridge (the hole of CVE-2020-8558).
 * The guard closes it: packets that arrive on the bridge addressed to 127.0.0.0/8 are dropped
 * before conntrack (raw priority). Replies of the node's own 127.0.0.1:hostPort connections
 * arrive addressed to the bridge address (they are de-NATed later), so they pass. One rule per
 * bridge, shared by its containers, never removed. The bridge name is checked, as it goes into
 * rule text.
 */
export const LOCALNET_GUARD_COMMENT = 'tsbridge: drop 127.0.0.0/8 arriving on a bridge with route_localnet';

/** The bridge that gets a localnet guard: when a bridge is named and there is an IPv4 mapping. */
export function guardedBridge(r: AttachmentRules): string | null {
  if (!r.bridge || dnatEntries(r, 4).length === 0) return null;
  if (!/^[A-Za-z0-9_.@+-]{1,15}$/.test(r.bridge) || r.bridge === '.' || r.bridge === '..') {
    throw new CniError(ErrCode.FirewallFailure, `invalid bridge name for firewall rule: ${JSON.stringify(r.bridge)}`);
  }
  return r.bridge;
}

export interface Sysctl {
  /** sysctl(8) name; a dot inside the interface name is written as '/', as sysctl(8) does. */
  key: string;
  /** The file to write (in the node's network namespace). */
  path: string;
  value: string;
}

/**
 * What the plugin must set before port mappings fully work: route_localnet=1 on the bridge when
 * an IPv4 mapping exists (so that 127.0.0.1:hostPort, DNAT'd and masqueraded out of the bridge,
 * is not dropped as a martian). There is no IPv6 equivalent: [::1]:hostPort cannot be forwarded.
 */
export function requiredSysctls(r: AttachmentRules): Sysctl[] {
  if (!r.bridge || dnatEntries(r, 4).length === 0) return [];
  return [
    {
      key: `net.ipv4.conf.${r.bridge.replace(/\./g, '/')}.route_localnet`,
      path: `/proc/sys/net/ipv4/conf/${r.bridge}/route_localnet`,
      value: '1',
    },
  ];
}
