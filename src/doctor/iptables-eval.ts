// Pure: what an iptables chain does with one kind of packet, read from iptables-save text. Used to
// tell whether the FORWARD chain drops a container's traffic, and whether a rule in nat POSTROUTING
// ends the traversal (ACCEPT/RETURN, someone else's SNAT) before tsbridge's masquerade jump.
// A rule whose match cannot be decided from what doctor knows (a protocol, a mark, an unknown
// module) is "maybe": it is listed, never taken as certain.
import { familyBits, familyOf, parseIP } from '../ip/addr';
import { contains, parseCidr } from '../ip/cidr';
import { parseSave, SavedRule, SavedTable } from '../firewall/iptables/rules';
import { shellCommand } from '../safe-text';

/** An interface as seen by a rule: a known name, or "some interface other than `not`". */
export interface IfaceSpec {
  name?: string;
  not?: string;
}

export interface Packet {
  iif?: IfaceSpec;
  oif?: IfaceSpec;
  /** Source/destination address (no prefix); undefined = unknown. */
  src?: string;
  dst?: string;
  /** The destination is known to lie outside this CIDR (e.g. "somewhere beyond the pod subnet"). */
  dstOutside?: string;
  state: 'NEW' | 'ESTABLISHED';
}

export type Tri = 'yes' | 'no' | 'maybe';

/** A table with the policies of its built-in chains. */
export interface PolicyTable extends SavedTable {
  policies: Map<string, string>;
}

/** iptables-save text -> one table with policies (":FORWARD DROP [0:0]"). */
export function parseTable(text: string, name: string): PolicyTable {
  const t = parseSave(text, name) as PolicyTable;
  t.policies = new Map();
  let inTable = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) inTable = line === `*${name}`;
    else if (inTable && line.startsWith(':')) {
      const [chain, policy] = line.slice(1).split(' ');
      if (policy && policy !== '-') t.policies.set(chain, policy);
    }
  }
  return t;
}

/** iptables interface patterns: exact, or a prefix ending in "+". */
export function ifaceMatches(pattern: string, name: string): boolean {
  return pattern.endsWith('+') ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

function ifaceTri(pattern: string, spec: IfaceSpec | undefined): Tri {
  if (!spec) return 'maybe';
  if (spec.name !== undefined) return ifaceMatches(pattern, spec.name) ? 'yes' : 'no';
  // only "not X" is known: a pattern naming exactly X cannot match; anything else might
  if (spec.not !== undefined && pattern === spec.not) return 'no';
  return 'maybe';
}

function addrTri(cidrText: string, addr: string | undefined, outside?: string): Tri {
  let net;
  try {
    net = cidrText.includes('/') ? parseCidr(cidrText) : parseCidr(`${cidrText}/${familyBits(familyOf(cidrText))}`);
  } catch {
    return 'maybe';
  }
  if (addr !== undefined) {
    try {
      return contains(net, parseIP(addr)) ? 'yes' : 'no';
    } catch {
      return 'maybe';
    }
  }
  if (outside !== undefined) {
    // the destination is outside `outside`: a match on a part of `outside` cannot match
    try {
      const o = parseCidr(outside);
      if (net.prefix >= o.prefix && contains(o, net.ip)) return 'no';
    } catch {
      /* unknown */
    }
  }
  return 'maybe';
}

const neg = (t: Tri, negated: boolean): Tri => (!negated || t === 'maybe' ? t : t === 'yes' ? 'no' : 'yes');

/** Options whose value doctor reads or can safely skip; anything else makes the rule "maybe". */
const IGNORED_WITH_VALUE = new Set(['--comment', '-m', '--match']);

/** Does the rule (its matches, not its target) match the packet? */
export function ruleMatches(args: string[], p: Packet): Tri {
  let result: Tri = 'yes';
  const and = (t: Tri): void => {
    if (t === 'no' || result === 'no') result = 'no';
    else if (t === 'maybe') result = 'maybe';
  };
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    let negated = false;
    if (a === '!') {
      negated = true;
      a = args[++i];
    }
    if (a === '-j' || a === '--jump' || a === '-g' || a === '--goto') break;
    const v = args[i + 1];
    // "-m conntrack ! --ctstate X" prints the "!" before the option, handled above
    if (a === '-i' || a === '--in-interface') and(neg(ifaceTri(v, p.iif), negated));
    else if (a === '-o' || a === '--out-interface') and(neg(ifaceTri(v, p.oif), negated));
    else if (a === '-s' || a === '--source') and(neg(addrTri(v, p.src), negated));
    else if (a === '-d' || a === '--destination') and(neg(addrTri(v, p.dst, p.dstOutside), negated));
    else if (a === '-p' || a === '--protocol') and(v === 'all' ? neg('yes', negated) : 'maybe');
    else if (a === '--ctstate' || a === '--state') and(neg(v.split(',').includes(p.state) ? 'yes' : 'no', negated));
    else if (IGNORED_WITH_VALUE.has(a)) {
      /* a module name or a comment: no effect on matching */
    } else if (a.startsWith('-')) {
      and('maybe');
      // skip the option's values (tokens that are not options)
      while (i + 1 < args.length && !args[i + 1].startsWith('-') && args[i + 1] !== '!') i++;
      continue;
    } else continue;
    i++;
  }
  return result;
}

export function ruleTarget(args: string[]): { target?: string; goto: boolean } {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-j' || args[i] === '--jump') return { target: args[i + 1], goto: false };
    if (args[i] === '-g' || args[i] === '--goto') return { target: args[i + 1], goto: true };
  }
  return { goto: false };
}

export type Outcome = 'accept' | 'drop' | 'nat' | 'return' | 'stop';

export interface Verdict {
  /**
   * What certainly happens: accept/drop by a rule or the policy, someone's SNAT, or `stop` (the rule looked for was
   * reached).
   */
  outcome: Outcome | 'policy';
  /** ACCEPT / DROP for outcome "policy". */
  policy?: string;
  /** The deciding rule (none for a policy). */
  rule?: SavedRule;
  /** Rules with a terminal effect that may or may not match this packet, met before the outcome. */
  uncertain: SavedRule[];
}

const TERMINAL: Record<string, Outcome> = {
  ACCEPT: 'accept',
  DROP: 'drop',
  REJECT: 'drop',
  RETURN: 'return',
  MASQUERADE: 'nat',
  SNAT: 'nat',
};

/**
 * Walks `chain` of `table` for packet `p`, following jumps into user chains (depth-limited). With
 * `stop`, a rule of the start chain for which it is true ends the walk with outcome "stop".
 */
export function evalChain(table: PolicyTable, chain: string, p: Packet, stop?: (r: SavedRule) => boolean): Verdict {
  const uncertain: SavedRule[] = [];
  const walk = (name: string, depth: number, certain: boolean): { outcome: Outcome; rule?: SavedRule } | undefined => {
    if (depth > 16) return undefined;
    for (const r of table.rules) {
      if (r.chain !== name) continue;
      if (depth === 0 && stop?.(r)) return { outcome: 'stop', rule: r };
      const m = ruleMatches(r.args, p);
      if (m === 'no') continue;
      const { target, goto } = ruleTarget(r.args);
      if (!target) continue;
      const sure = certain && m === 'yes';
      const terminal = TERMINAL[target];
      if (terminal) {
        if (!sure) {
          uncertain.push(r);
          continue;
        }
        return { outcome: terminal, rule: r };
      }
      if (table.chains.has(target) && !table.policies.has(target)) {
        const sub = walk(target, depth + 1, sure);
        if (sub && sub.outcome !== 'return') return sub;
        if (goto && sure) return { outcome: 'return', rule: r };
      }
      // LOG, MARK, CT, ...: the packet goes on
    }
    return undefined;
  };
  const res = walk(chain, 0, true);
  if (res && res.outcome !== 'return') return { outcome: res.outcome, rule: res.rule, uncertain };
  const policy = table.policies.get(chain);
  // a RETURN (or a goto that returned) in the start chain ends it early: the policy applies, and the rule is named
  const early = res?.rule ? { rule: res.rule } : {};
  return policy ? { outcome: 'policy', policy, uncertain, ...early } : { outcome: 'return', uncertain, ...early };
}

/** True when the verdict certainly drops the packet. */
export const dropped = (v: Verdict): boolean => v.outcome === 'drop' || (v.outcome === 'policy' && v.policy === 'DROP');

/** The rule as an operator would type it to delete it (`iptables -t nat -D ...`), every word shell-quoted. */
export function deleteCommand(tool: string, table: string, r: SavedRule): string {
  return shellCommand(tool, '-t', table, '-D', r.chain, ...r.args);
}
