// Pure iptables rule generation and reading for port mappings (nat table, one family at a time).
// The DNAT half is the reference portmap's layout, so each plugin finds (and DEL removes) the
// other's per-container chains and the conflict check sees ports the reference mapped:
//   -N CNI-HOSTPORT-DNAT                                               (shared, if missing)
//   -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT    (shared, if missing)
//   -A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT        (shared, if missing)
//   :CNI-DN-<hash>
//   -A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 80,8080 -m comment --comment D -j CNI-DN-<hash>
//                                                  (each protocol, at most 15 ports per rule)
//   -A CNI-DN-<hash> [-d <hostIP>/32] -p tcp -m tcp --dport <hostPort> -m comment --comment D
//                    -j DNAT --to-destination <containerIP>:<containerPort>   ([v6]:port)
// The hairpin/localhost half masquerades only what this DNAT rewrote: each DNAT rule is preceded
// by rules marking the packets from the hairpin sources (the reference portmap's mark bit,
// HAIRPIN_MARK), and the masquerade wants the mark, so a Service's DNAT to the container (whose
// port may equal the host port) keeps the client's address. It must run before the ipMasq chain's
// ACCEPT, so its jumps are inserted at the top of POSTROUTING:
//   -A CNI-DN-<hash> [-d <hostIP>/32] -s <container subnet> -p tcp -m tcp --dport <hostPort>
//                    -m comment --comment D -j MARK --set-xmark 0x2000/0x2000  (and -s 127.0.0.0/8 for IPv4)
//   :CNI-HM-<hash>
//   -I POSTROUTING -s <container subnet> -d <containerIP>/32 -m conntrack --ctstate DNAT
//                  -m comment --comment D -j CNI-HM-<hash>          (and -s 127.0.0.0/8 for IPv4)
//   -A CNI-HM-<hash> -m mark --mark 0x2000/0x2000 -m comment --comment D -j MASQUERADE
// D is the reference's `dnat name: "<network>" id: "<containerID>"`. For IPv4 with a bridge named,
// the raw table gets the bridge's localnet guard (see LOCALNET_GUARD_COMMENT in ../portmap.ts):
//   -A PREROUTING -d 127.0.0.0/8 -i <bridge> -m comment --comment G -j DROP   (raw; shared, if missing)
import { hostCidr, normIp, normSavedCidr, normSubnet } from '../addr';
import { RestoreBatch, SavedRule, SavedTable, jumpsTo } from './rules';
import {
  DnatEntry,
  HAIRPIN_MARK,
  HeldPort,
  LOCALNET_GUARD_COMMENT,
  PROTOCOLS,
  dnatEntries,
  hairpinChainName,
  portsByProtocol,
} from '../portmap';
import { dnatChainName, iptablesComment, parseIptablesComment } from '../tag';
import type { AttachmentRules, PortProtocol } from '../types';
import type { Family } from '../../ip/addr';
import { bareAddress } from '../../ip/cidr';

const HOSTPORT_CHAIN = 'CNI-HOSTPORT-DNAT';
/** iptables' multiport match takes at most 15 ports. */
const MULTIPORT_MAX = 15;
const LOOPBACK_NET = '127.0.0.0/8';
const ENTRY_RULE = ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', HOSTPORT_CHAIN];

/** The reference portmap's comment: `dnat name: "<net>" id: "<cid>"`. */
function dnatComment(network: string, containerId: string): string {
  return `dnat ${iptablesComment(network, containerId)}`;
}

function parseDnatComment(comment: string): { network: string; containerId: string } | null {
  return comment.startsWith('dnat ') ? parseIptablesComment(comment.slice(5)) : null;
}

/** Value of the first non-negated option among `names`, '!' marks the next option negated. */
function optValue(args: string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === '!') {
      i++;
      continue;
    }
    if (names.includes(args[i])) return args[i + 1];
  }
  return undefined;
}

function hasNegated(args: string[], ...names: string[]): boolean {
  return args.some((a, i) => a === '!' && names.includes(args[i + 1]));
}

const target = (r: SavedRule) => optValue(r.args, '-j', '--jump', '-g', '--goto');

/** The destination (a hostIP, if any) of a mapping's rules. */
function hostDst(e: DnatEntry): string[] {
  return e.hostIP === undefined ? [] : ['-d', hostCidr(e.hostIP, e.family)];
}

/** The port match and tag that every rule of a mapping carries, in iptables-save's order. */
function portMatch(e: DnatEntry, comment: string): string[] {
  return ['-p', e.protocol, '-m', e.protocol, '--dport', String(e.hostPort), '-m', 'comment', '--comment', comment];
}

/** Marks what the DNAT rule after it rewrites, from one hairpin source. */
function markArgs(e: DnatEntry, src: string, comment: string): string[] {
  return [...hostDst(e), '-s', src, ...portMatch(e, comment), '-j', 'MARK', '--set-xmark', HAIRPIN_MARK];
}

function dnatArgs(e: DnatEntry, comment: string): string[] {
  const to = e.family === 4 ? `${e.containerIp}:${e.containerPort}` : `[${e.containerIp}]:${e.containerPort}`;
  return [...hostDst(e), ...portMatch(e, comment), '-j', 'DNAT', '--to-destination', to];
}

/** Source networks whose DNAT'd connections to the container are masqueraded (hairpin, localhost). */
function hairpinSources(r: AttachmentRules, family: Family): string[] {
  const subnets = r.ips.filter((i) => i.family === family).map((i) => normSubnet(i.subnet, family));
  return [...new Set([...subnets, ...(family === 4 ? [LOOPBACK_NET] : [])])];
}

/**
 * Adds one family's port-mapping rules of an attachment to the batch (layout above). Jumps to
 * its chains already in `current` are deleted first and the chains are declared (= emptied), so
 * a repeated ADD leaves one copy; with no entries for this family, whatever an earlier ADD left
 * is removed instead.
 */
export function addPortmapOps(batch: RestoreBatch, r: AttachmentRules, family: Family, current: SavedTable): void {
  const entries = dnatEntries(r, family);
  if (entries.length === 0) {
    delPortmapOps(batch, current, r.network, r.containerId);
    return;
  }
  const dn = dnatChainName(r.network, r.containerId);
  const hm = hairpinChainName(r.network, r.containerId);
  const comment = dnatComment(r.network, r.containerId);
  if (!current.chains.has(HOSTPORT_CHAIN)) batch.newChain(HOSTPORT_CHAIN);
  for (const base of ['PREROUTING', 'OUTPUT']) {
    if (!current.rules.some((x) => x.chain === base && target(x) === HOSTPORT_CHAIN)) batch.append(base, ENTRY_RULE);
  }
  for (const x of [...jumpsTo(current, dn), ...jumpsTo(current, hm)]) batch.deleteSaved(x);
  batch.declareChain(dn).declareChain(hm);
  for (const [proto, ports] of portsByProtocol(entries)) {
    for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
      const list = ports.slice(i, i + MULTIPORT_MAX).join(',');
      batch.append(HOSTPORT_CHAIN, [
        '-p',
        proto,
        '-m',
        'multiport',
        '--dports',
        list,
        '-m',
        'comment',
        '--comment',
        comment,
        '-j',
        dn,
      ]);
    }
  }
  const sources = hairpinSources(r, family);
  for (const e of entries) {
    for (const src of sources) batch.append(dn, markArgs(e, src, comment));
    batch.append(dn, dnatArgs(e, comment));
  }
  const cip = hostCidr(entries[0].containerIp, family);
  for (const src of sources) {
    batch.insert('POSTROUTING', [
      '-s',
      src,
      '-d',
      cip,
      '-m',
      'conntrack',
      '--ctstate',
      'DNAT',
      '-m',
      'comment',
      '--comment',
      comment,
      '-j',
      hm,
    ]);
  }
  batch.append(hm, ['-m', 'mark', '--mark', HAIRPIN_MARK, '-m', 'comment', '--comment', comment, '-j', 'MASQUERADE']);
}

/** The raw table's localnet guard rule (as iptables-save prints it); see LOCALNET_GUARD_COMMENT. */
export function guardArgs(bridge: string): string[] {
  return ['-d', LOOPBACK_NET, '-i', bridge, '-m', 'comment', '--comment', LOCALNET_GUARD_COMMENT, '-j', 'DROP'];
}

function hasGuard(raw: SavedTable, bridge: string): boolean {
  return raw.rules.some(
    (x) =>
      x.chain === 'PREROUTING' &&
      target(x) === 'DROP' &&
      optValue(x.args, '-i', '--in-interface') === bridge &&
      norm(optValue(x.args, '-d', '--destination'), 4) === LOOPBACK_NET &&
      !hasNegated(x.args, '-d', '-i'),
  );
}

/** Adds the IPv4 localnet guard for the bridge to the raw table, unless `raw` (the current raw table) has it. */
export function addLocalnetGuardOps(batch: RestoreBatch, raw: SavedTable, bridge: string): void {
  if (!hasGuard(raw, bridge)) batch.appendIn('raw', 'PREROUTING', guardArgs(bridge));
}

export function localnetGuardProblems(raw: SavedTable, bridge: string): string[] {
  return hasGuard(raw, bridge)
    ? []
    : [`localnet guard (drop 127.0.0.0/8 arriving on ${bridge}) missing from iptables raw PREROUTING`];
}

/** Adds the removal of an attachment's port-mapping rules: jumps to its two chains, then the chains. */
export function delPortmapOps(batch: RestoreBatch, current: SavedTable, network: string, containerId: string): void {
  const chains = [dnatChainName(network, containerId), hairpinChainName(network, containerId)];
  for (const c of chains) for (const x of jumpsTo(current, c)) batch.deleteSaved(x);
  for (const c of chains) if (current.chains.has(c)) batch.flushChain(c).deleteChain(c);
}

interface SavedDnat {
  protocol: PortProtocol;
  hostPort: number;
  hostIP?: string;
  /** `--to-destination` as printed. */
  to: string;
}

/** The DNAT rules of a chain (other rules, e.g. the reference's SETMARK jumps, are skipped). */
function savedDnats(table: SavedTable, chain: string, family: Family): SavedDnat[] {
  const out: SavedDnat[] = [];
  for (const x of table.rules) {
    if (x.chain !== chain || target(x) !== 'DNAT') continue;
    const protocol = optValue(x.args, '-p', '--protocol') as PortProtocol | undefined;
    const port = Number(optValue(x.args, '--dport', '--destination-port'));
    const to = optValue(x.args, '--to-destination');
    if (!protocol || !PROTOCOLS.includes(protocol) || !Number.isInteger(port) || to === undefined) continue;
    if (hasNegated(x.args, '-d', '--destination', '--dport', '-p')) continue;
    const d: SavedDnat = { protocol, hostPort: port, to };
    const dst = optValue(x.args, '-d', '--destination');
    if (dst !== undefined) {
      const n = normSavedCidr(dst, family);
      if (n === null || n !== hostCidr(bareAddress(n), family)) continue; // not a single address: not ours
      d.hostIP = bareAddress(n);
    }
    out.push(d);
  }
  return out;
}

/**
 * The host ports mapped in this family's table: DNAT rules in chains that CNI-HOSTPORT-DNAT
 * jumps to (unreachable chains hold nothing), owners from the jump's comment (tsbridge's or the
 * reference portmap's, they are the same).
 */
export function heldPorts(table: SavedTable, family: Family): HeldPort[] {
  const owners = new Map<string, { containerId: string; network: string | null }>();
  for (const x of table.rules) {
    const t = target(x);
    if (x.chain !== HOSTPORT_CHAIN || !t || owners.has(t) || !table.chains.has(t)) continue;
    const comment = optValue(x.args, '--comment');
    const c = comment === undefined ? null : parseDnatComment(comment);
    owners.set(t, c ?? { containerId: `unknown (chain ${t})`, network: null });
  }
  const out: HeldPort[] = [];
  for (const [chain, owner] of owners) {
    for (const d of savedDnats(table, chain, family)) {
      const h: HeldPort = { family, protocol: d.protocol, hostPort: d.hostPort, chain, ...owner };
      if (d.hostIP !== undefined) h.hostIP = d.hostIP;
      out.push(h);
    }
  }
  return out;
}

/** Host ports of UDP DNAT rules in the attachment's chain (for the conntrack flush after DEL). */
export function udpHostPorts(table: SavedTable, network: string, containerId: string, family: Family): number[] {
  return savedDnats(table, dnatChainName(network, containerId), family)
    .filter((d) => d.protocol === 'udp')
    .map((d) => d.hostPort);
}

/** Which hairpin layout a family's port mappings were found in (see portmapCheck). */
export type HairpinLayout = 'tsbridge' | 'reference';

/**
 * CHECK of one family's port mappings. The DNAT half (shared chain, its jumps, the pod's CNI-DN
 * chain with a DNAT per mapping) is the same in both plugins. The hairpin half is complete in
 * either layout: tsbridge's (mark rules in CNI-DN, CNI-HM chain) or the reference portmap's (jumps
 * to CNI-HOSTPORT-SETMARK in CNI-DN, the shared SETMARK/MASQ chains), so a pod the reference made
 * passes on a node switched to tsbridge. Neither complete: the problems of the layout the pod's
 * chain shows (tsbridge's unless it holds SETMARK jumps and no mark rules). `layout` is the
 * complete one (undefined when neither is, or there is nothing to check).
 */
export function portmapCheck(
  table: SavedTable,
  r: AttachmentRules,
  family: Family,
): { problems: string[]; layout?: HairpinLayout } {
  const entries = dnatEntries(r, family);
  if (entries.length === 0) return { problems: [] };
  const dnat = dnatProblems(table, r, family, entries);
  const own = ownHairpinProblems(table, r, family, entries);
  if (own.length === 0) return { problems: dnat, layout: 'tsbridge' };
  const ref = referenceHairpinProblems(table, r, family, entries);
  if (ref.length === 0) return { problems: dnat, layout: 'reference' };
  const dn = table.rules.filter((x) => x.chain === dnatChainName(r.network, r.containerId));
  const refMade = dn.some((x) => target(x) === REF_SETMARK_CHAIN) && !dn.some((x) => target(x) === 'MARK');
  return { problems: [...dnat, ...(refMade ? ref : own)] };
}

const toolOf = (family: Family) => (family === 4 ? 'iptables' : 'ip6tables');

/** The DNAT half, common to both layouts. */
function dnatProblems(table: SavedTable, r: AttachmentRules, family: Family, entries: DnatEntry[]): string[] {
  const tool = toolOf(family);
  const dn = dnatChainName(r.network, r.containerId);
  const problems: string[] = [];
  const rulesOf = (c: string) => table.rules.filter((x) => x.chain === c);

  if (!table.chains.has(HOSTPORT_CHAIN))
    problems.push(`${tool} nat chain ${HOSTPORT_CHAIN} is missing (was the nat table flushed?)`);
  for (const base of ['PREROUTING', 'OUTPUT']) {
    if (!rulesOf(base).some((x) => target(x) === HOSTPORT_CHAIN && optValue(x.args, '--dst-type') === 'LOCAL')) {
      problems.push(`jump to ${HOSTPORT_CHAIN} for local addresses missing from ${tool} nat ${base}`);
    }
  }
  const jumps = rulesOf(HOSTPORT_CHAIN).filter((x) => target(x) === dn);
  for (const [proto, ports] of portsByProtocol(entries)) {
    for (const port of ports) {
      const covered = jumps.some((x) => {
        const p = optValue(x.args, '-p', '--protocol');
        const list = optValue(x.args, '--dports', '--destination-ports', '--dport');
        return (p === undefined || p === proto) && (list === undefined || list.split(',').includes(String(port)));
      });
      if (!covered) problems.push(`jump to ${dn} for ${port}/${proto} missing from ${tool} nat ${HOSTPORT_CHAIN}`);
    }
  }
  if (!table.chains.has(dn)) {
    problems.push(`${tool} nat chain ${dn} (port mappings of container ${r.containerId}) is missing`);
  } else {
    const have = savedDnats(table, dn, family);
    for (const e of entries) {
      const to = family === 4 ? `${e.containerIp}:${e.containerPort}` : `[${e.containerIp}]:${e.containerPort}`;
      if (
        !have.some(
          (d) =>
            d.protocol === e.protocol && d.hostPort === e.hostPort && d.hostIP === e.hostIP && sameTo(d.to, to, family),
        )
      ) {
        const from = e.hostIP === undefined ? '' : `${family === 4 ? e.hostIP : `[${e.hostIP}]`}:`;
        problems.push(`DNAT rule ${from}${e.hostPort}/${e.protocol} -> ${to} missing from ${tool} nat chain ${dn}`);
      }
    }
  }
  return problems;
}

/** Whether a rule of the pod's DNAT chain matches what entry `e` rewrites, from source `src`. */
function matchesEntry(x: SavedRule, e: DnatEntry, src: string, family: Family): boolean {
  return (
    norm(optValue(x.args, '-s', '--source'), family) === src &&
    optValue(x.args, '--dport') === String(e.hostPort) &&
    optValue(x.args, '-p', '--protocol') === e.protocol &&
    norm(optValue(x.args, '-d', '--destination'), family) ===
      (e.hostIP === undefined ? null : hostCidr(e.hostIP, family))
  );
}

/** tsbridge's hairpin half: mark rules in CNI-DN, jumps from POSTROUTING to CNI-HM, its MASQUERADE. */
function ownHairpinProblems(table: SavedTable, r: AttachmentRules, family: Family, entries: DnatEntry[]): string[] {
  const tool = toolOf(family);
  const dn = dnatChainName(r.network, r.containerId);
  const hm = hairpinChainName(r.network, r.containerId);
  const problems: string[] = [];
  const rulesOf = (c: string) => table.rules.filter((x) => x.chain === c);
  const cip = hostCidr(entries[0].containerIp, family);
  const post = rulesOf('POSTROUTING').filter((x) => target(x) === hm && optValue(x.args, '--ctstate') === 'DNAT');
  for (const src of hairpinSources(r, family)) {
    if (
      !post.some(
        (x) =>
          norm(optValue(x.args, '-s', '--source'), family) === src &&
          norm(optValue(x.args, '-d', '--destination'), family) === cip,
      )
    ) {
      problems.push(`hairpin masquerade jump for ${src} -> ${bareAddress(cip)} missing from ${tool} nat POSTROUTING`);
    }
  }
  if (!table.chains.has(hm)) {
    problems.push(`${tool} nat chain ${hm} (hairpin masquerade of container ${r.containerId}) is missing`);
  } else if (!rulesOf(hm).some((x) => target(x) === 'MASQUERADE' && optValue(x.args, '--mark') === HAIRPIN_MARK)) {
    problems.push(`hairpin MASQUERADE rule (mark ${HAIRPIN_MARK}) missing from ${tool} nat chain ${hm}`);
  }
  if (table.chains.has(dn)) {
    const marks = rulesOf(dn).filter((x) => target(x) === 'MARK' && optValue(x.args, '--set-xmark') === HAIRPIN_MARK);
    for (const e of entries) {
      for (const src of hairpinSources(r, family)) {
        if (!marks.some((x) => matchesEntry(x, e, src, family))) {
          problems.push(
            `hairpin mark rule for ${src} -> ${e.hostPort}/${e.protocol} missing from ${tool} nat chain ${dn}`,
          );
        }
      }
    }
  }
  return problems;
}

/** The reference portmap's shared hairpin chains: SETMARK sets the mark bit, MASQ (from POSTROUTING) masquerades it. */
const REF_SETMARK_CHAIN = 'CNI-HOSTPORT-SETMARK';
const REF_MASQ_CHAIN = 'CNI-HOSTPORT-MASQ';
/** The reference's localhost source (one address; tsbridge marks all of 127.0.0.0/8). */
const REF_LOOPBACK_SRC = '127.0.0.1/32';

/**
 * The reference portmap's hairpin half (snat on, its default): per mapping, jumps to
 * CNI-HOSTPORT-SETMARK in CNI-DN from the container's subnet (and 127.0.0.1 for IPv4); the
 * SETMARK chain's MARK rule; CNI-HOSTPORT-MASQ masquerading that same mark (markMasqBit may be
 * any bit), jumped to from POSTROUTING.
 */
function referenceHairpinProblems(
  table: SavedTable,
  r: AttachmentRules,
  family: Family,
  entries: DnatEntry[],
): string[] {
  const tool = toolOf(family);
  const dn = dnatChainName(r.network, r.containerId);
  const problems: string[] = [];
  const rulesOf = (c: string) => table.rules.filter((x) => x.chain === c);
  const mark = rulesOf(REF_SETMARK_CHAIN)
    .map((x) => (target(x) === 'MARK' ? optValue(x.args, '--set-xmark') : undefined))
    .find((m) => m);
  if (!mark)
    problems.push(
      `MARK rule missing from ${tool} nat chain ${REF_SETMARK_CHAIN} (the reference portmap's hairpin mark)`,
    );
  else if (!rulesOf(REF_MASQ_CHAIN).some((x) => target(x) === 'MASQUERADE' && optValue(x.args, '--mark') === mark)) {
    problems.push(`MASQUERADE rule (mark ${mark}) missing from ${tool} nat chain ${REF_MASQ_CHAIN}`);
  }
  if (!rulesOf('POSTROUTING').some((x) => target(x) === REF_MASQ_CHAIN))
    problems.push(`jump to ${REF_MASQ_CHAIN} missing from ${tool} nat POSTROUTING`);
  const jumps = rulesOf(dn).filter((x) => target(x) === REF_SETMARK_CHAIN);
  // the reference marks from the subnet of the address its DNAT goes to: the family's first
  const first = r.ips.find((i) => i.family === family)!;
  const sources = [normSubnet(first.subnet, family), ...(family === 4 ? [REF_LOOPBACK_SRC] : [])];
  for (const e of entries) {
    for (const src of sources) {
      if (!jumps.some((x) => matchesEntry(x, e, src, family))) {
        problems.push(
          `jump to ${REF_SETMARK_CHAIN} for ${src} -> ${e.hostPort}/${e.protocol} missing from ` +
            `${tool} nat chain ${dn}`,
        );
      }
    }
  }
  return problems;
}

function norm(v: string | undefined, family: Family): string | null {
  return v === undefined ? null : normSavedCidr(v, family);
}

/** `--to-destination` texts equal up to address spelling. */
function sameTo(saved: string, want: string, family: Family): boolean {
  if (saved === want) return true;
  const m = family === 4 ? /^([^:]+):(\d+)$/.exec(saved) : /^\[([^\]]+)\]:(\d+)$/.exec(saved);
  if (!m) return false;
  try {
    const w = family === 4 ? /^([^:]+):(\d+)$/.exec(want)! : /^\[([^\]]+)\]:(\d+)$/.exec(want)!;
    return normIp(m[1], family) === w[1] && m[2] === w[2];
  } catch {
    return false;
  }
}

/**
 * Container IDs of `network` with port-mapping rules: from the comments of jumps to (and rules
 * in) CNI-DN-/CNI-HM- chains, trusted only when the chain is the one the pair hashes to.
 */
export function portmapContainers(table: SavedTable, network: string): string[] {
  const ids = new Set<string>();
  for (const x of table.rules) {
    const comment = optValue(x.args, '--comment');
    const c = comment === undefined ? null : parseDnatComment(comment);
    if (!c || c.network !== network) continue;
    const chain = x.chain === HOSTPORT_CHAIN || x.chain === 'POSTROUTING' ? target(x) : x.chain;
    if (chain === dnatChainName(network, c.containerId) || chain === hairpinChainName(network, c.containerId))
      ids.add(c.containerId);
  }
  return [...ids];
}
