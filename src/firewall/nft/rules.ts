// Pure nftables script generation and `nft -a list table` parsing. tsbridge keeps all its state in
// its own table `inet tsbridge`, so it never touches rules of iptables-nft, kube-proxy or the
// reference plugins. One plugin call = one NftScript = one `nft -f -` transaction; masquerade
// rules come from here, port-mapping rules from portmap.ts, into the same script.
import { multicastNet, normIp, normSubnet } from '../addr';
import { masqChainName, nftTag, parseNftTag } from '../tag';
import type { MasqTarget } from '../types';
import { canonicalOrAsIs, Family } from '../../ip/addr';

export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'tsbridge';
export const POSTROUTING = 'postrouting';
const T = `${NFT_FAMILY} ${NFT_TABLE}`;

/** The hook line nft prints for our postrouting base chain. */
const POSTROUTING_HOOK = 'type nat hook postrouting priority srcnat;';

export interface NftRule {
  /** Rule text as printed, without the trailing `# handle N`. */
  text: string;
  handle: number;
  /** Target of `jump`/`goto`, if the rule has one. */
  jump?: string;
  comment?: string;
}

export interface NftChain {
  name: string;
  /** e.g. `type nat hook postrouting priority srcnat;` for base chains. */
  hook?: string;
  rules: NftRule[];
}

export type NftTable = Map<string, NftChain>;

/** Parses `nft -a list table inet tsbridge` output (chains and their rules with handles). */
export function parseNftList(text: string): NftTable {
  const chains: NftTable = new Map();
  let cur: NftChain | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const head = /^chain ("?)([^"\s]+)\1 \{/.exec(line);
    if (head) {
      cur = { name: head[2], rules: [] };
      chains.set(cur.name, cur);
      continue;
    }
    if (!cur) continue;
    if (line === '}') {
      cur = null;
      continue;
    }
    if (line.startsWith('type ')) {
      cur.hook = line.replace(/\s*policy \w+;\s*$/, '');
      continue;
    }
    const rule = /^(.*?)\s+# handle (\d+)$/.exec(line);
    if (!rule) continue;
    const r: NftRule = { text: rule[1], handle: Number(rule[2]) };
    const jump = /(?:^|\s)(?:jump|goto) ("?)([^"\s]+)\1(?:\s|$)/.exec(r.text);
    if (jump) r.jump = jump[2];
    const comment = /\scomment "([^"]*)"$/.exec(r.text);
    if (comment) r.comment = comment[1];
    cur.rules.push(r);
  }
  return chains;
}

/** Collects the statements of one plugin call; render() gives `nft -f -` input. */
export class NftScript {
  private readonly lines: string[] = [];

  /** The table and the postrouting NAT base chain; `add` is a no-op for what exists. */
  ensurePostrouting(): this {
    return this.ensureBaseChain(POSTROUTING, POSTROUTING_HOOK);
  }
  ensureTable(): this {
    return this.once(`add table ${T}`);
  }
  /** Creates the regular chain if needed and empties it, so a repeated ADD starts clean. */
  freshChain(chain: string): this {
    return this.add(`add chain ${T} ${chain}`).add(`flush chain ${T} ${chain}`);
  }
  /** Creates a chain, failing the transaction if it exists (so racing scripts cannot both add its entry rules). */
  createChain(chain: string, hook?: string): this {
    return this.add(`create chain ${T} ${chain}${hook ? ` { ${hook} }` : ''}`);
  }
  /** A base chain; `add` is a no-op when it exists. */
  ensureBaseChain(chain: string, hook: string): this {
    return this.ensureTable().once(`add chain ${T} ${chain} { ${hook} }`);
  }
  addRule(chain: string, rule: string, comment?: string): this {
    return this.add(`add rule ${T} ${chain} ${rule}${comment === undefined ? '' : ` comment "${comment}"`}`);
  }
  /** Puts the rule first in the chain. */
  insertRule(chain: string, rule: string, comment?: string): this {
    return this.add(`insert rule ${T} ${chain} ${rule}${comment === undefined ? '' : ` comment "${comment}"`}`);
  }
  deleteRule(chain: string, handle: number): this {
    return this.add(`delete rule ${T} ${chain} handle ${handle}`);
  }
  deleteChain(chain: string): this {
    return this.add(`flush chain ${T} ${chain}`).add(`delete chain ${T} ${chain}`);
  }
  /** A statement on another table (the upstream plugins' rules that DEL and GC remove). */
  foreign(line: string): this {
    return this.add(line);
  }
  get empty(): boolean {
    return this.lines.length === 0;
  }
  render(): string {
    return this.lines.join('\n') + '\n';
  }
  private add(line: string): this {
    this.lines.push(line);
    return this;
  }
  private once(line: string): this {
    return this.lines.includes(line) ? this : this.add(line);
  }
}

const ipKw = (family: Family) => (family === 4 ? 'ip' : 'ip6');

/** The rules the per-container chain holds for one family, in order (nft's printed form). */
function masqChainRules(t: MasqTarget, family: Family): string[] {
  const ips = t.ips.filter((i) => i.family === family);
  if (ips.length === 0) return [];
  const subnets = [...new Set(ips.map((i) => normSubnet(i.subnet, family)))];
  return [
    ...subnets.map((s) => `${ipKw(family)} daddr ${s} accept`),
    `${ipKw(family)} daddr != ${multicastNet(family)} masquerade`,
  ];
}

/** The postrouting jump for one source address (nft's printed form, without comment). */
function masqJumpRule(ip: string, family: Family, chain: string): string {
  return `${ipKw(family)} saddr ${normIp(ip, family)} jump ${chain}`;
}

/**
 * Adds an attachment's masquerade to the script:
 *   table inet tsbridge {
 *     chain postrouting { type nat hook postrouting priority srcnat;
 *       ip saddr <ip> jump CNI-<hash> comment "<tag>"            (each IP; ip6 saddr for IPv6) }
 *     chain CNI-<hash> {
 *       ip daddr <subnet> accept comment "<tag>"                  (each distinct subnet)
 *       ip daddr != 224.0.0.0/4 masquerade comment "<tag>"        (ip6 ... ff00::/8) } }
 * The chain is flushed and jumps to it found in `current` are deleted first, so a repeated ADD
 * leaves exactly one copy.
 */
export function addMasqueradeNft(script: NftScript, t: MasqTarget, current: NftTable | null): void {
  const chain = masqChainName(t.network, t.containerId);
  const tag = nftTag(t.network, t.containerId, t.ifname);
  script.ensurePostrouting().freshChain(chain);
  // only this attachment's own jumps: another interface of the same container shares the chain
  for (const [name, r] of current
    ? jumpsFrom(
        current,
        chain,
        t.ips.map((i) => i.ip),
      )
    : [])
    script.deleteRule(name, r.handle);
  for (const family of [4, 6] as const) {
    for (const rule of masqChainRules(t, family)) script.addRule(chain, rule, tag);
  }
  const jumps = new Set(t.ips.map((i) => masqJumpRule(i.ip, i.family, chain)));
  for (const rule of jumps) script.addRule(POSTROUTING, rule, tag);
}

/**
 * Adds the removal of an attachment's masquerade: its jumps by handle (those from `ips`; every
 * jump when the IPs are not known), then the chain once no other interface jumps to it.
 */
export function delMasqueradeNft(
  script: NftScript,
  current: NftTable,
  network: string,
  containerId: string,
  ips?: string[],
): void {
  const chain = masqChainName(network, containerId);
  const all = jumpsTo(current, chain);
  const own = ips ? jumpsFrom(current, chain, ips) : all;
  for (const [name, r] of own) script.deleteRule(name, r.handle);
  if (own.length === all.length && current.has(chain)) script.deleteChain(chain);
}

/** Jumps to `chain` matching `ip saddr X` / `ip6 saddr X` for one of `ips`. */
function jumpsFrom(table: NftTable, chain: string, ips: string[]): [string, NftRule][] {
  const want = new Set(ips.map(canonicalOrAsIs));
  return jumpsTo(table, chain).filter(([, r]) => {
    const m = /\bsaddr (\S+)/.exec(r.text);
    return m !== null && want.has(canonicalOrAsIs(m[1]));
  });
}

/** [chain name, rule] of every rule that jumps to `chain`. */
export function jumpsTo(table: NftTable, chain: string): [string, NftRule][] {
  const out: [string, NftRule][] = [];
  for (const c of table.values()) for (const r of c.rules) if (r.jump === chain) out.push([c.name, r]);
  return out;
}

/** What is missing of an attachment's masquerade; `table` null = the table does not exist. */
export function masqueradeProblemsNft(table: NftTable | null, t: MasqTarget): string[] {
  if (t.ips.length === 0) return [];
  if (!table) return [`nftables table ${T} is missing (was the ruleset flushed?)`];
  const problems: string[] = [];
  const chain = masqChainName(t.network, t.containerId);
  const post = table.get(POSTROUTING);
  if (!post) problems.push(`nftables chain ${T} ${POSTROUTING} is missing`);
  else if (post.hook !== POSTROUTING_HOOK)
    problems.push(`nftables chain ${T} ${POSTROUTING} is not hooked as "${POSTROUTING_HOOK}"`);
  const bodies = (c: NftChain | undefined) =>
    new Set((c?.rules ?? []).map((r) => r.text.replace(/\s+comment "[^"]*"$/, '')));
  const postRules = bodies(post);
  for (const i of t.ips) {
    if (post && !postRules.has(masqJumpRule(i.ip, i.family, chain))) {
      problems.push(
        `MASQUERADE rule for ${normIp(i.ip, i.family)} missing from nftables ${T} ${POSTROUTING} (was ` +
          `the ruleset flushed?)`,
      );
    }
  }
  const own = table.get(chain);
  if (!own) return [...problems, `nftables chain ${T} ${chain} of container ${t.containerId} is missing`];
  const ownRules = bodies(own);
  for (const family of [4, 6] as const) {
    for (const rule of masqChainRules(t, family)) {
      if (!ownRules.has(rule)) problems.push(`rule "${rule}" missing from nftables chain ${T} ${chain}`);
    }
  }
  return problems;
}

/** Container IDs of `network` with masquerade state, from rule tags checked against the chain hash. */
export function masqueradeContainersNft(table: NftTable, network: string): string[] {
  const ids = new Set<string>();
  for (const c of table.values()) {
    for (const r of c.rules) {
      const chain = c.name === POSTROUTING ? r.jump : c.name;
      const tag = r.comment === undefined ? null : parseNftTag(r.comment);
      if (tag && chain === masqChainName(network, tag.containerId)) ids.add(tag.containerId);
    }
  }
  return [...ids];
}
