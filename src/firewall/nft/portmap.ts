// Pure nftables rule generation and reading for port mappings, in tsbridge's table (next to the
// masquerade chains of rules.ts; both families in one `inet` table, one transaction):
//   table inet tsbridge {
//     chain prerouting  { type nat hook prerouting priority dstnat;   fib daddr type local jump hostports }
//     chain output      { type nat hook output priority -100;        fib daddr type local jump hostports }
//     chain hostports   { tcp dport { 80, 8080 } jump CNI-DN-<hash> comment "<tag>"       (each protocol) }
//     chain CNI-DN-<hash> {           (each DNAT rule after its marks, one per hairpin source: HAIRPIN_MARK)
//       ip saddr 127.0.0.0/8 tcp dport 8080 meta mark set meta mark | 0x00002000 comment "<tag>"
//       ip saddr 10.1.0.0/24 tcp dport 8080 meta mark set meta mark | 0x00002000 comment "<tag>"
//       meta nfproto ipv4 tcp dport 8080 dnat ip to 10.1.0.5:80 comment "<tag>"     (no hostIP)
//       ip daddr 192.0.2.1 tcp dport 8081 dnat ip to 10.1.0.5:81 comment "<tag>"    (hostIP)
//       meta nfproto ipv6 tcp dport 8080 dnat ip6 to [fd00::5]:80 comment "<tag>" }
//     chain postrouting { type nat hook postrouting priority srcnat;
//       ip saddr 127.0.0.0/8 ip daddr 10.1.0.5 ct status dnat jump CNI-HM-<hash> comment "<tag>"   (first:
//       ip saddr 10.1.0.0/24 ip daddr 10.1.0.5 ct status dnat jump CNI-HM-<hash> comment "<tag>"    inserted)
//       ... the masquerade jumps ... }
//     chain CNI-HM-<hash> { meta mark & 0x00002000 == 0x00002000 masquerade comment "<tag>" }
//     chain localnet-guard { type filter hook prerouting priority raw;        (IPv4 mappings and a bridge named)
//       iifname "<bridge>" ip daddr 127.0.0.0/8 drop comment "tsbridge localnet guard" } }   (one per bridge)
// prerouting, output and hostports are shared and stay; hostports is made with `create` so that
// two racing first ADDs cannot both add the entry jumps (the loser's transaction fails and retries).
import { normIp, normSubnet } from '../addr';
import { NFT_FAMILY, NFT_TABLE, NftChain, NftScript, NftTable, POSTROUTING, jumpsTo } from './rules';
import {
  DnatEntry,
  HAIRPIN_MARK_NFT,
  HeldPort,
  dnatEntries,
  guardedBridge,
  hairpinChainName,
  portsByProtocol,
} from '../portmap';
import { dnatChainName, nftTag, parseNftTag } from '../tag';
import type { AttachmentRules, PortProtocol } from '../types';
import type { Family } from '../../ip/addr';

const T = `${NFT_FAMILY} ${NFT_TABLE}`;
const PREROUTING = 'prerouting';
const OUTPUT = 'output';
const HOSTPORTS = 'hostports';
const PREROUTING_HOOK = 'type nat hook prerouting priority dstnat;';
/** nft 1.0.6 refuses the name `dstnat` in the output hook; newer ones may print -100 as `dstnat`. */
const OUTPUT_HOOK = 'type nat hook output priority -100;';
const OUTPUT_HOOKS = [OUTPUT_HOOK, 'type nat hook output priority dstnat;'];
const ENTRY_RULE = `fib daddr type local jump ${HOSTPORTS}`;
/** The localnet guards (see LOCALNET_GUARD_COMMENT in ../portmap.ts): one rule per bridge. */
const GUARD_CHAIN = 'localnet-guard';
const GUARD_HOOK = 'type filter hook prerouting priority raw;';

function guardRuleNft(bridge: string): string {
  return `iifname "${bridge}" ip daddr 127.0.0.0/8 drop`;
}
const LOOPBACK_NET = '127.0.0.0/8';

const ipKw = (family: Family) => (family === 4 ? 'ip' : 'ip6');
const body = (text: string) => text.replace(/\s+comment "[^"]*"$/, '');

function dnatRuleNft(e: DnatEntry): string {
  const match = e.hostIP === undefined ? `meta nfproto ipv${e.family}` : `${ipKw(e.family)} daddr ${e.hostIP}`;
  const to = e.family === 4 ? `${e.containerIp}:${e.containerPort}` : `[${e.containerIp}]:${e.containerPort}`;
  return `${match} ${e.protocol} dport ${e.hostPort} dnat ${ipKw(e.family)} to ${to}`;
}

function dispatchRuleNft(proto: PortProtocol, ports: number[], chain: string): string {
  return `${proto} dport ${ports.length === 1 ? ports[0] : `{ ${ports.join(', ')} }`} jump ${chain}`;
}

/** Every entry of the attachment, IPv4 first. */
function allEntries(r: AttachmentRules): DnatEntry[] {
  return [...dnatEntries(r, 4), ...dnatEntries(r, 6)];
}

/** Source networks whose connections to the container are masqueraded when DNAT'd by us (hairpin, localhost). */
function hairpinSourcesNft(r: AttachmentRules, family: Family): string[] {
  const subnets = r.ips.filter((i) => i.family === family).map((i) => normSubnet(i.subnet, family));
  return [...new Set([...(family === 4 ? [LOOPBACK_NET] : []), ...subnets])];
}

/** The postrouting jumps into the hairpin chain (nft's printed form, without comment). */
function hairpinJumpsNft(r: AttachmentRules, chain: string): string[] {
  const out: string[] = [];
  for (const family of [4, 6] as const) {
    const entries = dnatEntries(r, family);
    if (entries.length === 0) continue;
    for (const src of hairpinSourcesNft(r, family))
      out.push(
        `${ipKw(family)} saddr ${src} ${ipKw(family)} daddr ` +
          `${entries[0].containerIp} ct status dnat jump ${chain}`,
      );
  }
  return out;
}

/** The DNAT chain's rules for one entry: mark what it rewrites from each hairpin source, then the DNAT. */
function dnatChainRulesNft(r: AttachmentRules, e: DnatEntry): string[] {
  const dst = e.hostIP === undefined ? '' : `${ipKw(e.family)} daddr ${e.hostIP} `;
  const marks = hairpinSourcesNft(r, e.family).map(
    (src) =>
      `${dst}${ipKw(e.family)} saddr ${src} ${e.protocol} dport ${e.hostPort} meta mark set meta mark | ` +
      `${HAIRPIN_MARK_NFT}`,
  );
  return [...marks, dnatRuleNft(e)];
}

/** Only what our own DNAT marked is masqueraded (see HAIRPIN_MARK). */
const HAIRPIN_RULE_NFT = `meta mark & ${HAIRPIN_MARK_NFT} == ${HAIRPIN_MARK_NFT} masquerade`;

/**
 * Adds an attachment's port mappings to the script (layout above). Jumps to its chains found in
 * `current` are deleted and the chains flushed first, so a repeated ADD leaves one copy; with no
 * entries at all, whatever an earlier ADD left is removed instead.
 */
export function addPortmapNft(script: NftScript, r: AttachmentRules, current: NftTable | null): void {
  const entries = allEntries(r);
  if (entries.length === 0) {
    if (current) delPortmapNft(script, current, r.network, r.containerId);
    return;
  }
  const dn = dnatChainName(r.network, r.containerId);
  const hm = hairpinChainName(r.network, r.containerId);
  const tag = nftTag(r.network, r.containerId, r.ifname);
  script.ensureBaseChain(PREROUTING, PREROUTING_HOOK).ensureBaseChain(OUTPUT, OUTPUT_HOOK).ensurePostrouting();
  if (!current?.has(HOSTPORTS)) script.createChain(HOSTPORTS);
  for (const base of [PREROUTING, OUTPUT]) {
    if (!current?.get(base)?.rules.some((x) => x.jump === HOSTPORTS)) script.addRule(base, ENTRY_RULE);
  }
  script.freshChain(dn).freshChain(hm);
  if (current)
    for (const [chain, x] of [...jumpsTo(current, dn), ...jumpsTo(current, hm)]) script.deleteRule(chain, x.handle);
  for (const [proto, ports] of portsByProtocol(entries))
    script.addRule(HOSTPORTS, dispatchRuleNft(proto, ports, dn), tag);
  for (const e of entries) for (const rule of dnatChainRulesNft(r, e)) script.addRule(dn, rule, tag);
  for (const j of hairpinJumpsNft(r, hm).reverse()) script.insertRule(POSTROUTING, j, tag);
  script.addRule(hm, HAIRPIN_RULE_NFT, tag);
  const guard = guardedBridge(r);
  if (guard && !hasGuardNft(current, guard)) addLocalnetGuardNft(script, guard);
}

export function hasGuardNft(current: NftTable | null, bridge: string): boolean {
  return current?.get(GUARD_CHAIN)?.rules.some((x) => body(x.text) === guardRuleNft(bridge)) ?? false;
}

export function addLocalnetGuardNft(script: NftScript, bridge: string): void {
  script.ensureBaseChain(GUARD_CHAIN, GUARD_HOOK).addRule(GUARD_CHAIN, guardRuleNft(bridge), 'tsbridge localnet guard');
}

/** Adds the removal of an attachment's port mappings: jumps to its chains by handle, then the chains. */
export function delPortmapNft(script: NftScript, current: NftTable, network: string, containerId: string): void {
  const chains = [dnatChainName(network, containerId), hairpinChainName(network, containerId)];
  for (const c of chains) for (const [name, x] of jumpsTo(current, c)) script.deleteRule(name, x.handle);
  for (const c of chains) if (current.has(c)) script.deleteChain(c);
}

const DNAT_RE = /^(?:meta nfproto ipv([46])|(ip6?) daddr (\S+)) (tcp|udp|sctp) dport (\d+) dnat (?:ip6? )?to (\S+)$/;

interface ParsedDnat {
  family: Family;
  protocol: PortProtocol;
  hostPort: number;
  hostIP?: string;
}

function parsedDnats(chain: NftChain | undefined): ParsedDnat[] {
  const out: ParsedDnat[] = [];
  for (const x of chain?.rules ?? []) {
    const m = DNAT_RE.exec(body(x.text));
    if (!m) continue;
    const family: Family = m[1] ? (Number(m[1]) as Family) : m[2] === 'ip' ? 4 : 6;
    const d: ParsedDnat = { family, protocol: m[4] as PortProtocol, hostPort: Number(m[5]) };
    if (m[3] !== undefined) {
      try {
        d.hostIP = normIp(m[3], family);
      } catch {
        continue; // a set or prefix: not a rule tsbridge makes
      }
    }
    out.push(d);
  }
  return out;
}

/** Host ports mapped in our table: DNAT rules in chains the hostports chain jumps to, owners from the jump's tag. */
export function heldPortsNft(table: NftTable): HeldPort[] {
  const out: HeldPort[] = [];
  const seen = new Set<string>();
  for (const x of table.get(HOSTPORTS)?.rules ?? []) {
    if (!x.jump || seen.has(x.jump) || !table.has(x.jump)) continue;
    seen.add(x.jump);
    const tag = x.comment === undefined ? null : parseNftTag(x.comment);
    const owner = tag
      ? { containerId: tag.containerId, network: tag.network }
      : { containerId: `unknown (chain ${x.jump})`, network: null };
    for (const d of parsedDnats(table.get(x.jump))) out.push({ ...d, chain: x.jump, ...owner });
  }
  return out;
}

/** Host ports of UDP DNAT rules in the attachment's chain (for the conntrack flush after DEL). */
export function udpHostPortsNft(
  table: NftTable,
  network: string,
  containerId: string,
): { family: Family; hostPort: number }[] {
  return parsedDnats(table.get(dnatChainName(network, containerId)))
    .filter((d) => d.protocol === 'udp')
    .map((d) => ({ family: d.family, hostPort: d.hostPort }));
}

/** What is missing of an attachment's port mappings; `table` null = the table does not exist. */
export function portmapProblemsNft(table: NftTable | null, r: AttachmentRules): string[] {
  const entries = allEntries(r);
  if (entries.length === 0) return [];
  if (!table) return [`nftables table ${T} is missing (was the ruleset flushed?)`];
  const problems: string[] = [];
  const dn = dnatChainName(r.network, r.containerId);
  const hm = hairpinChainName(r.network, r.containerId);
  const bodies = (c: string) => new Set((table.get(c)?.rules ?? []).map((x) => body(x.text)));
  const missingFrom = (chain: string, rules: string[]) => {
    const have = bodies(chain);
    for (const rule of rules)
      if (!have.has(rule)) problems.push(`rule "${rule}" missing from nftables chain ${T} ${chain}`);
  };

  const bases: [string, string[]][] = [
    [PREROUTING, [PREROUTING_HOOK]],
    [OUTPUT, OUTPUT_HOOKS],
  ];
  for (const [base, hooks] of bases) {
    const c = table.get(base);
    if (!c) problems.push(`nftables chain ${T} ${base} is missing`);
    else if (!hooks.includes(c.hook ?? '')) problems.push(`nftables chain ${T} ${base} is not hooked as "${hooks[0]}"`);
    else missingFrom(base, [ENTRY_RULE]);
  }
  if (!table.has(HOSTPORTS)) problems.push(`nftables chain ${T} ${HOSTPORTS} is missing`);
  else
    missingFrom(
      HOSTPORTS,
      portsByProtocol(entries).map(([proto, ports]) => dispatchRuleNft(proto, ports, dn)),
    );
  if (!table.has(dn))
    problems.push(`nftables chain ${T} ${dn} (port mappings of container ${r.containerId}) is missing`);
  else
    missingFrom(
      dn,
      entries.flatMap((e) => dnatChainRulesNft(r, e)),
    );
  if (!table.has(POSTROUTING)) problems.push(`nftables chain ${T} ${POSTROUTING} is missing`);
  else missingFrom(POSTROUTING, hairpinJumpsNft(r, hm));
  if (!table.has(hm))
    problems.push(`nftables chain ${T} ${hm} (hairpin masquerade of container ${r.containerId}) is missing`);
  else missingFrom(hm, [HAIRPIN_RULE_NFT]);
  const guard = guardedBridge(r);
  if (guard && !table.has(GUARD_CHAIN)) problems.push(`nftables chain ${T} ${GUARD_CHAIN} is missing`);
  else if (guard) missingFrom(GUARD_CHAIN, [guardRuleNft(guard)]);
  return problems;
}

/** Container IDs of `network` with port-mapping state, from rule tags checked against the chain hash. */
export function portmapContainersNft(table: NftTable, network: string): string[] {
  const ids = new Set<string>();
  for (const c of table.values()) {
    for (const x of c.rules) {
      const chain = c.name === HOSTPORTS || c.name === POSTROUTING ? x.jump : c.name;
      const tag = x.comment === undefined ? null : parseNftTag(x.comment);
      if (
        tag &&
        (chain === dnatChainName(network, tag.containerId) || chain === hairpinChainName(network, tag.containerId))
      ) {
        ids.add(tag.containerId);
      }
    }
  }
  return [...ids];
}
