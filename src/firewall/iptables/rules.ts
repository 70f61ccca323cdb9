// Pure iptables rule generation and iptables-save parsing for the nat table. Every change of one
// plugin call goes into one RestoreBatch, fed to `iptables-restore --noflush` as a single atomic
// transaction (instead of the reference's many `iptables` execs, each taking the xtables lock).
// Masquerade rules come from here, port-mapping rules from portmap.ts, into the same batch.
import { hostCidr, multicastNet, normSavedCidr, normSubnet } from '../addr';
import { iptablesComment, masqChainName, parseIptablesComment } from '../tag';
import type { MasqTarget } from '../types';
import { canonicalOrAsIs, Family } from '../../ip/addr';
import { bareAddress } from '../../ip/cidr';

/** One `-A` line of iptables-save output. */
export interface SavedRule {
  chain: string;
  /** Arguments after the chain name, unquoted. */
  args: string[];
  /** The line exactly as printed; with -A turned into -D it deletes exactly this rule. */
  line: string;
}

/** The nat table as iptables-save printed it. */
export interface SavedTable {
  chains: Set<string>;
  rules: SavedRule[];
}

/** Splits a rule line like iptables-restore does: double quotes group, backslash escapes any character. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inToken = true;
    } else if (c === '"') {
      quoted = !quoted;
      inToken = true;
    } else if (!quoted && (c === ' ' || c === '\t')) {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += c;
      inToken = true;
    }
  }
  if (inToken) out.push(cur);
  return out;
}

/** Quotes an argument for iptables-restore when it needs it (the inverse of tokenize). */
export function quoteArg(arg: string): string {
  if (/^[A-Za-z0-9_.:/!+=,@[\]-]+$/.test(arg)) return arg;
  return '"' + arg.replace(/["\\]/g, (c) => '\\' + c) + '"';
}

/** Parses `iptables-save -t nat` output (other tables, if present, are ignored; `name` picks another). */
export function parseSave(text: string, name = 'nat'): SavedTable {
  const table: SavedTable = { chains: new Set(), rules: [] };
  let inNat = false;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) inNat = line === `*${name}`;
    else if (!inNat || line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    else if (line.startsWith(':')) table.chains.add(line.slice(1).split(' ')[0]);
    else if (line.startsWith('-A ')) {
      const [, chain, ...args] = tokenize(line);
      table.rules.push({ chain, args, line });
    }
  }
  return table;
}

/** The parts of a rule that masquerade rules consist of. */
export interface RuleFields {
  src?: string;
  srcNegated: boolean;
  dst?: string;
  dstNegated: boolean;
  target?: string;
  comment?: string;
}

export function ruleFields(args: string[]): RuleFields {
  const f: RuleFields = { srcNegated: false, dstNegated: false };
  for (let i = 0; i < args.length; i++) {
    const neg = args[i] === '!';
    const opt = neg ? args[++i] : args[i];
    const val = args[i + 1];
    if (opt === '-s' || opt === '--source') [f.src, f.srcNegated] = [val, neg];
    else if (opt === '-d' || opt === '--destination') [f.dst, f.dstNegated] = [val, neg];
    else if (opt === '-j' || opt === '--jump') f.target = val;
    else if (opt === '--comment') f.comment = val;
    else continue;
    i++;
  }
  return f;
}

/** Collects the changes of one plugin call for the nat table; render() gives iptables-restore input. */
export class RestoreBatch {
  private readonly decls: string[] = [];
  private readonly ops: string[] = [];
  /** Appends to other tables (only the raw table's localnet guard so far), rendered after nat. */
  private readonly other = new Map<string, string[]>();

  /** Creates the chain, or empties it if it exists (with --noflush only declared chains are flushed). */
  declareChain(chain: string): this {
    this.decls.push(`:${chain} - [0:0]`);
    return this;
  }
  /**
   * `-N`: creates a chain and fails the whole batch if it exists, so two racing batches cannot both create (and flush)
   * it.
   */
  newChain(chain: string): this {
    this.ops.push(`-N ${chain}`);
    return this;
  }
  append(chain: string, args: string[]): this {
    this.ops.push(`-A ${chain} ${args.map(quoteArg).join(' ')}`);
    return this;
  }
  insert(chain: string, args: string[]): this {
    this.ops.push(`-I ${chain} ${args.map(quoteArg).join(' ')}`);
    return this;
  }
  /** Deletes a rule exactly as iptables-save printed it. */
  deleteSaved(rule: SavedRule): this {
    this.ops.push('-D' + rule.line.slice(2));
    return this;
  }
  flushChain(chain: string): this {
    this.ops.push(`-F ${chain}`);
    return this;
  }
  deleteChain(chain: string): this {
    this.ops.push(`-X ${chain}`);
    return this;
  }
  /** `-A` in another table of the same transaction. */
  appendIn(table: string, chain: string, args: string[]): this {
    const ops = this.other.get(table) ?? [];
    ops.push(`-A ${chain} ${args.map(quoteArg).join(' ')}`);
    this.other.set(table, ops);
    return this;
  }
  get empty(): boolean {
    return this.decls.length === 0 && this.ops.length === 0 && this.other.size === 0;
  }
  render(): string {
    const rest = [...this.other].flatMap(([table, ops]) => [`*${table}`, ...ops, 'COMMIT']);
    return ['*nat', ...this.decls, ...this.ops, 'COMMIT', ...rest, ''].join('\n');
  }
}

/**
 * Adds one family's masquerade rules of an attachment to the batch, in the reference layout:
 *   :CNI-<hash> - [0:0]                                (created, or emptied if it was there)
 *   -A CNI-<hash> -d <subnet> -m comment --comment C -j ACCEPT      (each distinct subnet)
 *   -A CNI-<hash> ! -d 224.0.0.0/4 -m comment --comment C -j MASQUERADE   (ff00::/8 for IPv6)
 *   -A POSTROUTING -s <ip>/32 -m comment --comment C -j CNI-<hash>  (each IP; /128 for IPv6)
 * All ACCEPTs come before the MASQUERADE, so a second subnet is not masqueraded (the reference
 * appends per IP and gets that wrong). Jumps to the chain already in `current` are deleted first,
 * so a repeated ADD leaves exactly one of each.
 */
export function addMasqueradeOps(batch: RestoreBatch, t: MasqTarget, family: Family, current: SavedTable | null): void {
  const ips = t.ips.filter((i) => i.family === family);
  if (ips.length === 0) return;
  const chain = masqChainName(t.network, t.containerId);
  const comment = iptablesComment(t.network, t.containerId);
  // only this attachment's own jumps: another interface of the same container shares the chain
  for (const r of current
    ? jumpsFrom(
        current,
        chain,
        ips.map((i) => i.ip),
      )
    : [])
    batch.deleteSaved(r);
  batch.declareChain(chain);
  for (const subnet of unique(ips.map((i) => normSubnet(i.subnet, family)))) {
    batch.append(chain, ['-d', subnet, '-m', 'comment', '--comment', comment, '-j', 'ACCEPT']);
  }
  batch.append(chain, ['!', '-d', multicastNet(family), '-m', 'comment', '--comment', comment, '-j', 'MASQUERADE']);
  for (const src of unique(ips.map((i) => hostCidr(i.ip, family)))) {
    batch.append('POSTROUTING', ['-s', src, '-m', 'comment', '--comment', comment, '-j', chain]);
  }
}

/**
 * Adds the removal of an attachment's masquerade rules: its jumps (those from `ips`; every jump
 * when the IPs are not known), then the chain once no other interface of the container jumps to it.
 */
export function delMasqueradeOps(
  batch: RestoreBatch,
  current: SavedTable,
  network: string,
  containerId: string,
  ips?: string[],
): void {
  const chain = masqChainName(network, containerId);
  const all = jumpsTo(current, chain);
  const own = ips ? jumpsFrom(current, chain, ips) : all;
  for (const r of own) batch.deleteSaved(r);
  if (own.length === all.length && current.chains.has(chain)) batch.flushChain(chain).deleteChain(chain);
}

/** Jumps to `chain` whose source (-s) is one of `ips`. */
function jumpsFrom(table: SavedTable, chain: string, ips: string[]): SavedRule[] {
  const want = new Set(ips.map(canonicalOrAsIs));
  return jumpsTo(table, chain).filter((r) => {
    const i = r.args.findIndex((a) => a === '-s' || a === '--source');
    return i >= 0 && want.has(canonicalOrAsIs(bareAddress(r.args[i + 1])));
  });
}

/** Rules in any chain that jump (or goto) to `chain`. */
export function jumpsTo(table: SavedTable, chain: string): SavedRule[] {
  return table.rules.filter((r) => {
    const i = r.args.findIndex((a) => a === '-j' || a === '--jump' || a === '-g' || a === '--goto');
    return i >= 0 && r.args[i + 1] === chain;
  });
}

/** What is missing of one family's masquerade rules of an attachment. */
export function masqueradeProblems(table: SavedTable, t: MasqTarget, family: Family): string[] {
  const ips = t.ips.filter((i) => i.family === family);
  if (ips.length === 0) return [];
  const tool = family === 4 ? 'iptables' : 'ip6tables';
  const chain = masqChainName(t.network, t.containerId);
  const problems: string[] = [];
  const fields = (c: string) => table.rules.filter((r) => r.chain === c).map((r) => ruleFields(r.args));
  const norm = (s: string | undefined) => (s === undefined ? null : normSavedCidr(s, family));

  const post = fields('POSTROUTING');
  for (const ip of unique(ips.map((i) => hostCidr(i.ip, family)))) {
    if (!post.some((f) => f.target === chain && !f.srcNegated && norm(f.src) === ip)) {
      problems.push(
        `MASQUERADE rule for ${bareAddress(ip)} missing from ${tool} nat POSTROUTING (was the nat table flushed?)`,
      );
    }
  }
  if (!table.chains.has(chain)) {
    problems.push(`${tool} nat chain ${chain} of container ${t.containerId} is missing`);
    return problems;
  }
  const own = fields(chain);
  for (const subnet of unique(ips.map((i) => normSubnet(i.subnet, family)))) {
    if (!own.some((f) => f.target === 'ACCEPT' && !f.dstNegated && norm(f.dst) === subnet && f.src === undefined)) {
      problems.push(`ACCEPT rule for ${subnet} missing from ${tool} nat chain ${chain}`);
    }
  }
  const mc = multicastNet(family);
  if (!own.some((f) => f.target === 'MASQUERADE' && f.dstNegated && norm(f.dst) === mc && f.src === undefined)) {
    problems.push(`MASQUERADE rule missing from ${tool} nat chain ${chain}`);
  }
  return problems;
}

/**
 * Container IDs of `network` that have masquerade rules: read from the comments of POSTROUTING
 * jumps and of rules in CNI- chains (so a chain left without its jump is found too), and only
 * trusted when the chain is the one the (network, container ID) pair hashes to.
 */
export function masqueradeContainers(table: SavedTable, network: string): string[] {
  const ids = new Set<string>();
  for (const r of table.rules) {
    const f = ruleFields(r.args);
    const chain = r.chain === 'POSTROUTING' ? f.target : r.chain;
    if (!chain?.startsWith('CNI-') || f.comment === undefined) continue;
    const c = parseIptablesComment(f.comment);
    if (c && c.network === network && masqChainName(network, c.containerId) === chain) ids.add(c.containerId);
  }
  return [...ids];
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
