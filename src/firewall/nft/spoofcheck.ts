// macspoofchk, pure: the nftables script and its reading. The layout is the reference bridge's
// (pkg/link/spoofcheck.go), so a container added by one plugin is removed by the other:
//   table bridge nat {
//     chain PREROUTING { type filter hook prerouting priority dstnat; policy accept;
//       iifname "<host veth>" jump cni-br-iface-<cid>-<ifname> comment "macspoofchk-<cid>-<ifname>" }
//     chain cni-br-iface-<cid>-<ifname> { jump cni-br-iface-<cid>-<ifname>-mac comment "..." }
//     chain cni-br-iface-<cid>-<ifname>-mac {
//       ether saddr <container MAC> return comment "..."
//       drop comment "..." } }
// Keyed by (container ID, ifname), as the reference, so DEL and GC find it without the container.
import { jumpsTo, NftChain, NftRule, NftTable } from './rules';

export const SPOOF_FAMILY = 'bridge';
export const SPOOF_TABLE = 'nat';
const SPOOF_BASE = 'PREROUTING';
/** How nft prints the base chain's hook (priority -300 = dstnat in the bridge family). */
const SPOOF_HOOK = 'type filter hook prerouting priority dstnat;';
const T = `${SPOOF_FAMILY} ${SPOOF_TABLE}`;

export interface SpoofNames {
  ifaceChain: string;
  macChain: string;
  comment: string;
}

export function spoofNames(containerId: string, ifname: string): SpoofNames {
  const id = `${containerId}-${ifname}`;
  return { ifaceChain: `cni-br-iface-${id}`, macChain: `cni-br-iface-${id}-mac`, comment: `macspoofchk-${id}` };
}

/**
 * Why (containerId, ifname) cannot name nft chains safely in a script, or ''. Container IDs are
 * already [A-Za-z0-9_.-]; an interface name may hold any printable byte but '/', ':' and spaces.
 */
export function spoofNameProblem(containerId: string, ifname: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(`${containerId}${ifname}`)
    ? ''
    : `interface name ${JSON.stringify(ifname)} has characters an nftables chain name cannot carry (macspoofchk ` +
        `wants letters, digits, "_", "." or "-")`;
}

const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/**
 * ADD: one transaction. The table and base chain are added if missing (a no-op when they exist),
 * the per-interface chains created or emptied, then filled. `stale`: jumps to this attachment's
 * chain found by an earlier read (a repeated ADD), deleted first so exactly one is left.
 */
export function addSpoofScript(
  hostVeth: string,
  mac: string,
  containerId: string,
  ifname: string,
  stale: [string, NftRule][] = [],
): string {
  const n = spoofNames(containerId, ifname);
  const m = mac.toLowerCase();
  if (!MAC_RE.test(m)) throw new Error(`invalid MAC ${JSON.stringify(mac)}`);
  if (!/^[A-Za-z0-9_.-]+$/.test(hostVeth)) throw new Error(`invalid interface name ${JSON.stringify(hostVeth)}`);
  return (
    [
      `add table ${T}`,
      `add chain ${T} ${SPOOF_BASE} { type filter hook prerouting priority -300; policy accept; }`,
      ...stale.map(([chain, r]) => `delete rule ${T} ${chain} handle ${r.handle}`),
      `add chain ${T} ${n.ifaceChain}`,
      `flush chain ${T} ${n.ifaceChain}`,
      `add chain ${T} ${n.macChain}`,
      `flush chain ${T} ${n.macChain}`,
      `add rule ${T} ${SPOOF_BASE} iifname "${hostVeth}" jump ${n.ifaceChain} comment "${n.comment}"`,
      `add rule ${T} ${n.ifaceChain} jump ${n.macChain} comment "${n.comment}"`,
      `add rule ${T} ${n.macChain} ether saddr ${m} return comment "${n.comment}"`,
      `add rule ${T} ${n.macChain} drop comment "${n.comment}"`,
    ].join('\n') + '\n'
  );
}

/**
 * DEL: the jumps to the attachment's chain (by handle, from `table` as just read), then both chains; '' when none
 * exists.
 */
export const delSpoofScript = (table: NftTable, containerId: string, ifname: string): string =>
  delSpoofChainScript(table, spoofNames(containerId, ifname).ifaceChain);

const body = (r: NftRule): string => r.text.replace(/\s+comment "[^"]*"$/, '');

/** The MAC the attachment's chain lets through, if its rule is there. */
function allowedMac(table: NftTable, containerId: string, ifname: string): string | undefined {
  const mac = table.get(spoofNames(containerId, ifname).macChain);
  for (const r of mac?.rules ?? []) {
    const m = /^ether saddr ([0-9a-f:]{17}) return$/.exec(body(r));
    if (m) return m[1];
  }
  return undefined;
}

/**
 * CHECK: what is missing or wrong of the attachment's spoof check; `table` null = `bridge nat`
 * does not exist. `mac`: the container interface's MAC (undefined: not known, not compared).
 */
export function spoofProblems(
  table: NftTable | null,
  hostVeth: string,
  mac: string | undefined,
  containerId: string,
  ifname: string,
): string[] {
  if (!table) return [`macspoofchk: nftables table ${T} is missing (was the ruleset flushed?)`];
  const n = spoofNames(containerId, ifname);
  const out: string[] = [];
  const base = table.get(SPOOF_BASE);
  if (!base) out.push(`macspoofchk: nftables chain ${T} ${SPOOF_BASE} is missing`);
  else if (base.hook !== SPOOF_HOOK)
    out.push(`macspoofchk: nftables chain ${T} ${SPOOF_BASE} is not hooked as "${SPOOF_HOOK}"`);
  else if (!base.rules.some((r) => body(r) === `iifname "${hostVeth}" jump ${n.ifaceChain}`)) {
    out.push(`macspoofchk: no rule in ${T} ${SPOOF_BASE} sends frames from ${hostVeth} to chain ${n.ifaceChain}`);
  }
  const iface = table.get(n.ifaceChain);
  if (!iface) out.push(`macspoofchk: nftables chain ${T} ${n.ifaceChain} is missing`);
  else if (!iface.rules.some((r) => body(r) === `jump ${n.macChain}`))
    out.push(`macspoofchk: chain ${n.ifaceChain} does not jump to ${n.macChain}`);
  const macChain: NftChain | undefined = table.get(n.macChain);
  if (!macChain) return [...out, `macspoofchk: nftables chain ${T} ${n.macChain} is missing`];
  const last = macChain.rules[macChain.rules.length - 1];
  const allowed = allowedMac(table, containerId, ifname);
  if (!allowed) out.push(`macspoofchk: chain ${n.macChain} has no "ether saddr <MAC> return" rule`);
  else if (mac && allowed !== mac.toLowerCase()) {
    out.push(
      `macspoofchk: chain ${n.macChain} lets only ${allowed} through but ${ifname} has MAC ` +
        `${mac.toLowerCase()}: its frames are dropped`,
    );
  }
  if (!last || body(last) !== 'drop')
    out.push(`macspoofchk: chain ${n.macChain} does not end with "drop": spoofed frames pass`);
  return out;
}

/**
 * GC: every attachment chain (`cni-br-iface-...`, not the `-mac` chain of another), with the
 * interface its base-chain jump filters.
 */
export function spoofChains(table: NftTable): { ifaceChain: string; iifname?: string }[] {
  const base = table.get(SPOOF_BASE);
  const out: { ifaceChain: string; iifname?: string }[] = [];
  for (const name of table.keys()) {
    if (!name.startsWith('cni-br-iface-') || (name.endsWith('-mac') && table.has(name.slice(0, -4)))) continue;
    const jump = base?.rules.find((r) => r.jump === name);
    const m = jump ? /^iifname "([^"]+)"/.exec(jump.text) : null;
    out.push({ ifaceChain: name, ...(m ? { iifname: m[1] } : {}) });
  }
  return out;
}

/** DEL of one attachment chain found by spoofChains (its `-mac` chain goes too). */
export function delSpoofChainScript(table: NftTable, ifaceChain: string): string {
  const lines = jumpsTo(table, ifaceChain).map(([chain, r]) => `delete rule ${T} ${chain} handle ${r.handle}`);
  const mac = `${ifaceChain}-mac`;
  // (a `-mac` chain something else jumps to is another attachment's own chain: ifname "x-mac")
  const macIsOurs = jumpsTo(table, mac).every(([from]) => from === ifaceChain);
  for (const c of macIsOurs ? [ifaceChain, mac] : [ifaceChain]) {
    if (table.has(c)) lines.push(`flush chain ${T} ${c}`, `delete chain ${T} ${c}`);
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

/**
 * GC's rule for one attachment chain (spoofChains): removed when no valid attachment (`keep`)
 * owns it and either a stale attachment of this network (`stale`) does, or the interface it
 * filters no longer exists (`live`: names of the node's links, read after the table), which
 * makes it dead whoever made it. A chain without a base-chain jump is left alone: the reference
 * adds its chains and their rules in two transactions, so it may be one half-way through ADD.
 */
export function isStaleSpoofChain(
  c: { ifaceChain: string; iifname?: string },
  keep: Set<string>,
  stale: Set<string>,
  live: Set<string>,
): boolean {
  if (keep.has(c.ifaceChain)) return false;
  return stale.has(c.ifaceChain) || (c.iifname !== undefined && !live.has(c.iifname));
}
