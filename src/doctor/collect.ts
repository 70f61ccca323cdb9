// Collection: every kernel read doctor makes (links, addresses, routes, sysctls, netfilter tables,
// the IPAM store, the libcni cache, the containers' namespaces). Read-only; diagnose.ts judges.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ifnameProblem, isValidContainerId } from '../cni/env';
import { getKey, isObject } from '../cni/json';
import { IPConfig } from '../cni/result';
import { AttachmentRules, localnetGuardProblems, parsePortMappings, selectBackend } from '../firewall';
import { runTool, which } from '../sys/exec';
import { spoofNameProblem } from '../firewall/nft/spoofcheck';
import { checkSpoofCheck } from '../firewall/nft/backend';
import { HostLocalConfig } from '../ipam/config';
import { listAttachments } from '../ipam/host-local';
import { parseIP } from '../ip/addr';
import { cidrToString, contains, parseCidr, subnetOf } from '../ip/cidr';
import { listAddresses } from '../netlink/addr';
import { LinkDetail, listLinkDetails } from '../netlink/inspect';
import { listRoutes } from '../netlink/route';
import { Rtnl } from '../netlink/socket';
import { BridgeConfig } from '../attachment/config';
import { attachmentRules, needsRules } from '../attachment/rules';
import { hostVethName } from '../attachment/names';
import { readContainerState } from '../attachment/read';
import { readSysctl } from '../sys/sysctl';
import { parseTable } from './iptables-eval';
import { byAddress, NetnsScanner, NsView, peerIn } from './netns-scan';
import { AttachmentFacts, NetnsSource, NodeFacts } from './types';

export interface Target {
  container?: string;
  ifname?: string;
  netns?: string;
  ip?: string;
}

export interface CollectOptions {
  cfg: BridgeConfig;
  ipam: HostLocalConfig;
  target: Target;
  /** libcni's cache directory (results/<network>-<id>-<ifname>): netns and port mappings. */
  cacheDir: string;
}

// ---- the node ---------------------------------------------------------------------------------

function readTable(family: 4 | 6, table: string, errors: string[]): ReturnType<typeof parseTable> | undefined {
  const tool = family === 4 ? 'iptables-save' : 'ip6tables-save';
  if (!which(tool)) return undefined;
  try {
    const r = runTool(tool, ['-t', table]);
    if (r.status !== 0) {
      if (!/does ?n[o']t exist|not supported|can't initialize/i.test(r.stderr))
        errors.push(`${tool} -t ${table}: ${r.stderr.trim()}`);
      return undefined;
    }
    return parseTable(r.stdout, table);
  } catch (e) {
    errors.push(`${tool} -t ${table}: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * nft base chains at hook forward with policy drop (iptables-nft's own ip/ip6 filter tables excluded: read through
 * iptables-save).
 */
function nftForwardDrops(bridge: string, errors: string[]): NodeFacts['nftForwardDrops'] {
  if (!which('nft')) return [];
  try {
    const r = runTool('nft', ['-j', 'list', 'chains']);
    if (r.status !== 0) return [];
    const doc = JSON.parse(r.stdout) as {
      nftables?: { chain?: { family: string; table: string; name: string; hook?: string; policy?: string } }[];
    };
    const out: NodeFacts['nftForwardDrops'] = [];
    for (const e of doc.nftables ?? []) {
      const c = e.chain;
      if (c?.hook !== 'forward' || c.policy !== 'drop') continue;
      if ((c.family === 'ip' || c.family === 'ip6') && c.table === 'filter') continue;
      const text = runTool('nft', ['list', 'chain', c.family, c.table, c.name]).stdout;
      const acceptsBridge = text.split('\n').some((l) => l.includes(`"${bridge}"`) && /\baccept\b/.test(l));
      out.push({ chain: `${c.family} ${c.table} ${c.name}`, where: [c.family, c.table, c.name], acceptsBridge });
    }
    return out;
  } catch (e) {
    errors.push(`nft -j list chains: ${(e as Error).message}`);
    return [];
  }
}

export async function collectNode(cfg: BridgeConfig): Promise<NodeFacts> {
  const errors: string[] = [];
  const nl = Rtnl.open();
  try {
    const links = await listLinkDetails(nl);
    const bridge = links.find((l) => l.name === cfg.bridge);
    const addrs = await listAddresses(nl);
    const routes = [...(await listRoutes(nl, 4)), ...(await listRoutes(nl, 6))].filter((r) => r.table === 254);
    // with a VLAN the gateways live on <bridge>.<vlan> (upstream), a port of that VLAN
    const gwName = cfg.isGateway && cfg.vlans.vlan ? `${cfg.bridge}.${cfg.vlans.vlan}` : undefined;
    const gwLink = gwName ? links.find((l) => l.name === gwName) : bridge;
    return {
      bridge,
      bridgeAddrs: gwLink ? addrs.filter((a) => a.index === gwLink.index) : [],
      ...(gwName && gwLink ? { vlanGateway: gwLink.index } : {}),
      links,
      addrs,
      routes,
      ipv4Forward: readSysctl('net.ipv4.ip_forward'),
      ipv6Forward: readSysctl('net.ipv6.conf.all.forwarding'),
      brNfCallIptables: readSysctl('net.bridge.bridge-nf-call-iptables'),
      brNfCallIp6tables: readSysctl('net.bridge.bridge-nf-call-ip6tables'),
      ...localnet(cfg.bridge),
      filter: { 4: readTable(4, 'filter', errors), 6: readTable(6, 'filter', errors) },
      nat: { 4: readTable(4, 'nat', errors), 6: readTable(6, 'nat', errors) },
      nftForwardDrops: nftForwardDrops(cfg.bridge, errors),
      errors,
    };
  } finally {
    nl.close();
  }
}

/** route_localnet of the bridge, and (only where it is on: it costs two reads) whether its guard exists. */
function localnet(bridge: string): Pick<NodeFacts, 'routeLocalnet' | 'localnetGuard'> {
  const routeLocalnet = readSysctl(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`);
  return routeLocalnet === '1'
    ? { routeLocalnet, localnetGuard: localnetGuardProblems(bridge).length === 0 }
    : { routeLocalnet };
}

// ---- which attachments ------------------------------------------------------------------------

/** The address with its range's prefix and gateway, or undefined when it lies in no range. */
export function ipConfigOf(ipam: HostLocalConfig, ip: string): IPConfig | undefined {
  let addr;
  try {
    addr = parseIP(ip);
  } catch {
    return undefined;
  }
  for (const set of ipam.ranges) {
    for (const r of set) {
      const subnet = parseCidr(r.subnet);
      if (contains(subnet, addr))
        return { address: `${ip}/${subnet.prefix}`, ...(r.gateway ? { gateway: r.gateway } : {}) };
    }
  }
  return undefined;
}

export function subnetsOf(ipam: HostLocalConfig): string[] {
  return [...new Set(ipam.ranges.flat().map((r) => cidrToString(subnetOf(parseCidr(r.subnet)))))];
}

interface Seed {
  containerId: string;
  ifname: string;
  reserved: string[];
  /** For a container without IPAM file, or one named by --netns: where it was found. */
  netns?: string;
  view?: NsView;
  netnsFoundBy?: NetnsSource;
  ips?: string[];
  veth?: LinkDetail;
}

/** An IPAM record whose container ID or interface name no runtime would give: never used in a path or a command. */
export interface CorruptRecord {
  ip: string;
  file: string;
  why: string;
}

/** Why a record's attachment cannot be taken as a real one, or ''. */
export function recordProblem(containerId: string, ifname: string): string {
  if (!isValidContainerId(containerId)) return `container ID ${JSON.stringify(containerId)} is not one a runtime gives`;
  const bad = ifname === '' ? '' : ifnameProblem(ifname); // '' = host-local's old ID-only format
  return bad ? `interface name ${JSON.stringify(ifname)} is invalid (${bad})` : '';
}

function reservations(
  ipam: HostLocalConfig,
  network: string,
): { records: { ip: string; containerId: string; ifname: string }[]; corrupt: CorruptRecord[] } {
  if (!fs.existsSync(path.join(ipam.dataDir, network))) return { records: [], corrupt: [] };
  const records: { ip: string; containerId: string; ifname: string }[] = [];
  const corrupt: CorruptRecord[] = [];
  for (const r of listAttachments(ipam, network)) {
    const why = recordProblem(r.containerId, r.ifname);
    if (why) corrupt.push({ ip: r.ip, file: path.join(ipam.dataDir, network, r.ip), why });
    else records.push({ ...r, ifname: r.ifname || 'eth0' });
  }
  return { records, corrupt };
}

function groupSeeds(rs: { ip: string; containerId: string; ifname: string }[]): Seed[] {
  const m = new Map<string, Seed>();
  for (const r of rs) {
    const k = `${r.containerId}\n${r.ifname}`;
    const s = m.get(k) ?? { containerId: r.containerId, ifname: r.ifname, reserved: [] };
    s.reserved.push(r.ip);
    m.set(k, s);
  }
  return [...m.values()];
}

/**
 * Interfaces of `views` attached (through their veth peer) to our bridge, or holding an address of the network, that
 * IPAM does not know.
 */
function unrecorded(
  views: NsView[],
  node: NodeFacts,
  ipam: HostLocalConfig,
  reserved: Set<string>,
  requireBridge: boolean,
): Seed[] {
  const out: Seed[] = [];
  const subnets = subnetsOf(ipam).map((s) => parseCidr(s));
  for (const v of views) {
    for (const l of v.links) {
      const peer =
        l.peerIndex !== undefined && l.linkNetnsId !== undefined && v.nsid !== undefined
          ? node.links.find((n) => n.index === l.peerIndex && n.peerIndex === l.index && n.linkNetnsId === v.nsid)
          : undefined;
      const onBridge = peer !== undefined && node.bridge !== undefined && peer.master === node.bridge.index;
      if (requireBridge && !onBridge) continue;
      const ips = v.addrs
        .filter((a) => a.index === l.index && subnets.some((s) => contains(s, parseIP(a.address))))
        .map((a) => a.address);
      if (!ips.length || ips.some((ip) => reserved.has(ip))) continue;
      out.push({
        containerId: '',
        ifname: l.name,
        reserved: [],
        netns: v.path,
        view: v,
        netnsFoundBy: 'address',
        ips,
        veth: onBridge ? peer : undefined,
      });
    }
  }
  return out;
}

/** Attachments to check, and the ones IPAM lacks, for the target. Empty list: nothing matched. */
export async function selectSeeds(
  o: CollectOptions,
  node: NodeFacts,
  scan: NetnsScanner,
): Promise<{ seeds: Seed[]; notes: string[]; corrupt: CorruptRecord[] }> {
  const { records: all, corrupt } = reservations(o.ipam, o.cfg.net.name);
  // a corrupt record still holds its address: its IP is not "unrecorded"
  const reservedSet = new Set([...all.map((r) => r.ip), ...corrupt.map((r) => r.ip)]);
  const t = o.target;
  const notes: string[] = [];
  let rs = all;
  if (t.container) rs = rs.filter((r) => r.containerId === t.container);
  if (t.ifname) rs = rs.filter((r) => r.ifname === t.ifname);
  if (t.ip) rs = rs.filter((r) => r.ip === t.ip);
  if (t.netns && !t.container && !t.ip) {
    // the attachments whose IP is in that namespace, and its interfaces IPAM does not know
    const v = await scan.get(t.netns);
    const here = new Set(v.addrs.map((a) => a.address));
    rs = rs.filter((r) => here.has(r.ip));
    const seeds = groupSeeds(rs).map((s) => ({ ...s, netns: t.netns, netnsFoundBy: 'flag' as const }));
    const extra = unrecorded([v], node, o.ipam, reservedSet, false).map((s) => ({
      ...s,
      netnsFoundBy: 'flag' as const,
    }));
    return { seeds: [...seeds, ...extra], notes, corrupt };
  }
  const seeds: Seed[] = groupSeeds(rs).map((s) =>
    t.netns ? { ...s, netns: t.netns, netnsFoundBy: 'flag' as const } : s,
  );
  if (t.ip && seeds.length === 0) {
    // no reservation: a container that has the address without IPAM knowing
    const hits = byAddress(await scan.all(), [t.ip], t.ifname ?? 'eth0');
    for (const v of hits.slice(0, 1))
      seeds.push(...unrecorded([v], node, o.ipam, reservedSet, false).filter((s) => s.ips?.includes(t.ip!)));
    if (!seeds.length)
      notes.push(`IPAM has no reservation of ${t.ip} in network ${o.cfg.net.name} and no namespace has that address`);
  } else if (t.container && seeds.length === 0) {
    notes.push(
      `IPAM has no reservation for container ${t.container}${t.ifname ? `/${t.ifname}` : ''} in network ` +
        `${o.cfg.net.name}`,
    );
  } else if (!t.container && !t.ip) {
    seeds.push(...unrecorded(await scan.all(), node, o.ipam, reservedSet, true));
  }
  return { seeds, notes, corrupt };
}

// ---- one attachment ---------------------------------------------------------------------------

interface CacheEntry {
  netns?: string;
  portMappings?: unknown;
}

/** libcni's cached ADD (`<cacheDir>/results/<network>-<id>-<ifname>`): netns and capability args. */
export function readCniCache(
  cacheDir: string,
  network: string,
  containerId: string,
  ifname: string,
): CacheEntry | undefined {
  // the ID and name become part of a path: only what a runtime could have written
  if (recordProblem(containerId, ifname) || ifname === '') return undefined;
  const file = path.join(cacheDir, 'results', `${network}-${containerId}-${ifname}`);
  let fd = -1;
  try {
    // a FIFO planted there must not hang doctor; a symlink is not followed
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
    if (!fs.fstatSync(fd).isFile()) return undefined;
    const doc: unknown = JSON.parse(fs.readFileSync(fd, 'utf8'));
    if (!isObject(doc)) return undefined;
    const caps = getKey(doc, 'capabilityArgs');
    const netns = getKey(doc, 'netns');
    return {
      netns: typeof netns === 'string' && netns ? netns : undefined,
      portMappings: isObject(caps) ? getKey(caps, 'portMappings') : undefined,
    };
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** The rules the attachment should have; null when there is nothing of ours to hold. */
export function expectedRules(
  cfg: BridgeConfig,
  a: { containerId: string; ifname: string; ips: IPConfig[] },
  portMappings: unknown,
): AttachmentRules | null {
  if (!a.containerId || !a.ips.length) return null;
  const r = attachmentRules(
    cfg,
    a.containerId,
    a.ifname,
    a.ips.map((i) => i.address),
  );
  let pm: AttachmentRules['portMappings'] = [];
  try {
    pm = portMappings === undefined ? [] : parsePortMappings(portMappings);
  } catch {
    pm = [];
  }
  const rules = { ...r, portMappings: pm };
  return needsRules(rules) ? rules : null;
}

export async function collectAttachment(
  o: CollectOptions,
  node: NodeFacts,
  scan: NetnsScanner,
  seed: Seed,
): Promise<AttachmentFacts> {
  const { cfg, ipam } = o;
  const vethName = seed.containerId ? hostVethName(seed.containerId, seed.ifname) : (seed.veth?.name ?? '?');
  const veth = seed.veth ?? node.links.find((l) => l.name === vethName);
  const ipTexts = seed.reserved.length ? seed.reserved : (seed.ips ?? []);
  const ips: IPConfig[] = [];
  const outOfRange: string[] = [];
  for (const ip of ipTexts) {
    const c = ipConfigOf(ipam, ip);
    if (c) ips.push(c);
    else outOfRange.push(ip);
  }
  const cache = seed.containerId ? readCniCache(o.cacheDir, cfg.net.name, seed.containerId, seed.ifname) : undefined;
  const facts: AttachmentFacts = {
    containerId: seed.containerId,
    ifname: seed.ifname,
    ips,
    reserved: seed.reserved,
    outOfRange,
    ipamRoutes: ipam.routes,
    netnsCandidates: [],
    vethName,
    veth,
  };

  // the namespace: given, cached by the runtime, the veth's peer, or by address
  let view: NsView | undefined;
  let how = seed.netnsFoundBy;
  if (seed.netns) {
    try {
      view = seed.view ?? (await scan.get(seed.netns));
    } catch (e) {
      facts.netns = seed.netns;
      facts.netnsFoundBy = how;
      facts.netnsError = (e as Error).message;
    }
  }
  if (!seed.netns && cache?.netns) {
    try {
      const v = await scan.get(cache.netns);
      if ((veth && peerIn(v, veth)) || (!v.foreign && v.addrs.some((a) => ipTexts.includes(a.address))))
        [view, how] = [v, 'cache'];
    } catch {
      /* stale cache entry */
    }
  }
  if (!seed.netns && !view) {
    const views = await scan.all();
    const peerNs = veth ? views.filter((v) => peerIn(v, veth)) : [];
    if (peerNs.length) [view, how] = [peerNs[0], 'veth-peer'];
    else if (!veth || veth.linkNetnsId === undefined) {
      // by address only when there is no veth peer to go by: an unrelated namespace can hold the same IP
      const hits = byAddress(views, ipTexts, seed.ifname);
      if (hits.length) [view, how] = [hits[0], 'address'];
      facts.netnsCandidates = hits.map((v) => v.path);
    }
  }
  if (view) {
    facts.netns = view.path;
    facts.netnsHandle = view.ns;
    facts.netnsFoundBy = how;
    let nl: Rtnl | undefined;
    try {
      nl = Rtnl.open(view.ns);
      facts.container = await readContainerState(nl, seed.ifname);
    } catch (e) {
      facts.netnsError = (e as Error).message;
    } finally {
      nl?.close();
    }
  }

  const rules = expectedRules(cfg, facts, cache?.portMappings);
  if (rules) {
    const fw = selectBackend(cfg.ipMasqBackend);
    let problems: string[];
    try {
      problems = fw.checkAttachment(rules);
    } catch (e) {
      problems = [`cannot check ${fw.name} rules: ${(e as Error).message}`];
    }
    facts.rules = {
      backend: fw.name,
      problems,
      portMappings: cache?.portMappings === undefined ? null : rules.portMappings.length,
    };
  }
  if (cfg.macspoofchk && facts.containerId && !spoofNameProblem(facts.containerId, facts.ifname)) {
    // against the MAC the interface has now: one it took since ADD is what the chain drops
    facts.spoofcheck = checkSpoofCheck(facts.vethName, facts.container?.iface?.mac, facts.containerId, facts.ifname);
  }
  return facts;
}
