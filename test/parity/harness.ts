// The differential harness: one config through the reference chain (bridge + host-local [+ portmap])
// and through the plugin under test (one call), each side in its own node + container namespaces,
// ADD → snapshot → CHECK → DEL → snapshot, both sides at the same time. Snapshots are normalised
// (names, random MACs, ifindexes, container IDs, temp paths become tokens) and diffed path by path.
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { addrs, captureIpam, captureNs, iptables, links, nft, Raw, routes, sysctl } from './capture';
import { Attachment, Chain, Conflist, StepOutcome } from './chain';
import { PLUGIN, REF_DIR, RUN_ID, Side } from './exec';

export const NET = 'parity';
export const ABSENT = '<absent>';

export interface Case {
  name: string;
  /** default 1.0.0; null: no cniVersion key at all */
  cniVersion?: string | null;
  /** the bridge plugin's keys (without type); a host-local `ipam` gets the side's dataDir */
  conf: Record<string, unknown>;
  /** capability arguments the runtime has (portMappings, ips, mac, ipRanges); both sides declare them */
  caps?: Record<string, unknown>;
  /** CNI_ARGS */
  args?: string;
  pods?: number;
  /** `ip` argv lists run in the node namespace before the first ADD */
  setup?: string[][];
  /** CNI_NETNS is the node's own namespace */
  ownNetns?: boolean;
  /** DEL with an empty CNI_NETNS (as containerd's ctr sends it, and runtimes after the netns is gone) */
  delWithoutNetns?: boolean;
  /** extra keys of the reference portmap plugin */
  portmap?: Record<string, unknown>;
}

export interface Diff {
  path: string;
  ref: unknown;
  ours: unknown;
}

// ---- conflists -------------------------------------------------------------------------------------

function withDataDir(conf: Record<string, unknown>, dataDir: string): Record<string, unknown> {
  const ipam = conf.ipam as Record<string, unknown> | undefined;
  if (ipam?.type !== 'host-local' || ipam.dataDir) return conf;
  return { ...conf, ipam: { ...ipam, dataDir } };
}

function caps(c: Case, withPorts: boolean): Record<string, boolean> | undefined {
  const keys = Object.keys(c.caps ?? {}).filter((k) => withPorts || k !== 'portMappings');
  return keys.length ? Object.fromEntries(keys.map((k) => [k, true])) : undefined;
}

export function refConflist(c: Case, dataDir: string): Conflist {
  const bridge: Record<string, unknown> = { type: 'bridge', ...withDataDir(c.conf, dataDir) };
  const bc = caps(c, false);
  if (bc) bridge.capabilities = bc;
  const plugins = [bridge];
  if (c.caps?.portMappings)
    plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true, ...c.portmap });
  return { ...(c.cniVersion === null ? {} : { cniVersion: c.cniVersion ?? '1.0.0' }), name: NET, plugins };
}

export function oursConflist(c: Case, dataDir: string): Conflist {
  const p: Record<string, unknown> = { type: 'tsbridge', ...withDataDir(c.conf, dataDir) };
  const pc = caps(c, true);
  if (pc) p.capabilities = pc;
  return { ...(c.cniVersion === null ? {} : { cniVersion: c.cniVersion ?? '1.0.0' }), name: NET, plugins: [p] };
}

export const refResolver = (t: string): string => path.join(REF_DIR, t);
export const oursResolver = (t: string): string => (t === 'tsbridge' ? PLUGIN : path.join(REF_DIR, t));

// ---- snapshots -------------------------------------------------------------------------------------

export interface Snapshot {
  tree: Record<string, unknown>;
  owned: string[];
}

const MAC = /\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/g;

export function containerId(c: Case, i: number): string {
  return `parity-${RUN_ID}-${c.name}-${i}`.slice(0, 60);
}

/** Everything the side holds now, tokenised; `owned` lists the paths that belong to a container. */
export async function snapshot(side: Side, c: Case, result?: unknown): Promise<Snapshot> {
  const pods = side.ctrs.length;
  const [node, ...ctrs] = await Promise.all([
    captureNs(side.node, true),
    ...side.ctrs.map((ns) => captureNs(ns, false)),
  ]);
  const ipam = captureIpam(side.dataDir);

  const tokens: [string | RegExp, string][] = [];
  const literalMacs = new Set(JSON.stringify(c).toLowerCase().match(MAC) ?? []);
  const macTokens = new Map<string, string>();
  const macToken = (mac: string | undefined, tok: string): void => {
    if (mac && !literalMacs.has(mac) && !macTokens.has(mac) && mac !== '00:00:00:00:00:00')
      macTokens.set(mac, `<mac:${tok}>`);
  };
  const nodeLinks = JSON.parse(node.links) as any[];
  const bridgeName = String(c.conf.bridge ?? 'cni0');
  const seenVeth = new Set<string>();
  for (let i = 0; i < pods; i++) {
    const ctrLinks = JSON.parse(ctrs[i].links) as any[];
    const eth = ctrLinks.find((l) => l.ifname === 'eth0');
    macToken(eth?.address, `ctr${i}`);
    const peer = eth && nodeLinks.find((l) => l.ifindex === eth.link_index && l.linkinfo?.info_kind === 'veth');
    if (peer) {
      seenVeth.add(peer.ifname);
      tokens.push([peer.ifname, `<hostveth${i}>`]);
      macToken(peer.address, `hostveth${i}`);
    }
    tokens.push([containerId(c, i), `<cid${i}>`]);
    const hex = crypto
      .createHash('sha512')
      .update(NET + containerId(c, i), 'utf8')
      .digest('hex');
    tokens.push([new RegExp(`\\b${hex.slice(0, 16)}[0-9a-f]*`, 'g'), `<h:cid${i}>`]);
  }
  for (const l of nodeLinks) {
    if (l.linkinfo?.info_kind === 'veth' && !seenVeth.has(l.ifname) && /^veth[0-9a-f]{8}$/.test(l.ifname))
      tokens.push([l.ifname, '<veth:orphan>']);
    macToken(
      l.address,
      l.ifname === bridgeName ? 'bridge' : /^veth[0-9a-f]{8}$/.test(l.ifname) ? 'node:veth' : `node:${l.ifname}`,
    );
  }
  for (const [mac, tok] of macTokens) tokens.push([mac, tok]);
  tokens.push([side.dataDir, '<dataDir>'], [side.node, '<node>']);
  side.ctrs.forEach((ns, i) => {
    tokens.push([ns, `<ctrns${i}>`]);
  });

  let text = JSON.stringify({ node, ctrs, ipam, result: result ?? null });
  for (const [from, to] of tokens) {
    text = typeof from === 'string' ? text.split(from).join(to) : text.replace(from, to);
  }
  const t = JSON.parse(text) as {
    node: Raw;
    ctrs: Raw[];
    ipam: Record<string, { mode: string; content: string }>;
    result: unknown;
  };

  const nsTree = (r: Raw, fw: boolean): Record<string, unknown> => ({
    links: links(r.links),
    addrs: addrs(r.addrs),
    routes: { ...routes(r.route4), ...routes(r.route6) },
    sysctl: sysctl(r.sysctl),
    ...(fw ? { firewall: { iptables: iptables(r.iptables), ip6tables: iptables(r.ip6tables), nft: nft(r.nft) } } : {}),
  });
  const tree: Record<string, unknown> = { node: nsTree(t.node, true), ipam: t.ipam };
  t.ctrs.forEach((r, i) => {
    tree[`ctr${i}`] = nsTree(r, false);
  });
  if (result !== undefined) tree.result = t.result;

  const owned: string[] = [];
  const node2 = tree.node as any;
  for (const k of Object.keys(node2.links))
    if (k.startsWith('<hostveth') || k === '<veth:orphan>') owned.push(`node.links.${k}`);
  t.ctrs.forEach((_, i) => {
    if ((tree[`ctr${i}`] as any).links.eth0) owned.push(`ctr${i}.links.eth0`);
  });
  for (const [k, v] of Object.entries(t.ipam)) if (v.content.includes('<cid')) owned.push(`ipam.${k}`);
  for (const fam of ['iptables', 'ip6tables', 'nft']) {
    for (const l of node2.firewall[fam] as string[])
      if (/<cid|<h:cid/.test(l)) owned.push(`node.firewall.${fam}: ${l}`);
  }
  return { tree, owned };
}

// ---- diff ------------------------------------------------------------------------------------------

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Path-by-path differences; string lists (firewall dumps) are compared as multisets, then by order. */
export function diff(ref: unknown, ours: unknown, p: string, out: Diff[] = []): Diff[] {
  if (Array.isArray(ref) && Array.isArray(ours) && [...ref, ...ours].every((x) => typeof x === 'string')) {
    const left = [...(ours as string[])];
    const missing: string[] = [];
    for (const l of ref as string[]) {
      const i = left.indexOf(l);
      if (i >= 0) left.splice(i, 1);
      else missing.push(l);
    }
    for (const l of missing) out.push({ path: `${p}[]`, ref: l, ours: ABSENT });
    for (const l of left) out.push({ path: `${p}[]`, ref: ABSENT, ours: l });
    if (!missing.length && !left.length && JSON.stringify(ref) !== JSON.stringify(ours))
      out.push({ path: `${p}(order)`, ref, ours });
    return out;
  }
  if (isObj(ref) && isObj(ours)) {
    for (const k of new Set([...Object.keys(ref), ...Object.keys(ours)]))
      diff(k in ref ? ref[k] : ABSENT, k in ours ? ours[k] : ABSENT, `${p}.${k}`, out);
    return out;
  }
  if (Array.isArray(ref) && Array.isArray(ours) && ref.length === ours.length) {
    ref.forEach((r, i) => {
      diff(r, ours[i], `${p}[${i}]`, out);
    });
    return out;
  }
  if (JSON.stringify(ref) !== JSON.stringify(ours)) out.push({ path: p, ref, ours });
  return out;
}

const outcomeText = (o: StepOutcome): string => (o.ok ? 'ok' : `error ${o.code ?? '?'}`);

// ---- one case --------------------------------------------------------------------------------------

export interface CaseRun {
  diffs: Diff[];
  notes: string[];
}

async function setupSide(side: Side, c: Case): Promise<void> {
  const { must } = await import('./exec');
  for (const argv of c.setup ?? []) await must('ip', ['-n', side.node, ...argv]);
}

function attachment(side: Side, c: Case, i: number): Attachment {
  return {
    nodeNs: side.node,
    netns: c.ownNetns ? `/run/netns/${side.node}` : side.netnsPath(i),
    containerId: containerId(c, i),
    ifname: 'eth0',
    args: c.args,
    cniPath: REF_DIR,
  };
}

interface SideRun {
  add: StepOutcome[];
  check?: StepOutcome;
  del: StepOutcome[];
  afterAdd?: Snapshot;
  afterDel?: Snapshot;
  chain: Chain;
}

async function runSide(side: Side, c: Case, list: Conflist, resolver: (t: string) => string): Promise<SideRun> {
  await setupSide(side, c);
  const chain = new Chain(list, resolver, c.caps ?? {});
  const pods = side.ctrs.length;
  const add: StepOutcome[] = [];
  const chains: Chain[] = [];
  for (let i = 0; i < pods; i++) {
    const ch = i === 0 ? chain : new Chain(list, resolver, c.caps ?? {});
    chains.push(ch);
    add.push(await ch.add(attachment(side, c, i)));
  }
  const last = add[pods - 1];
  const run: SideRun = { add, del: [], chain };
  run.afterAdd = await snapshot(side, c, last.ok ? last.result : { error: last.code });
  if (add.every((a) => a.ok) && chain.supportsCheck()) run.check = await chain.check(attachment(side, c, 0));
  for (let i = pods - 1; i >= 0; i--)
    run.del.push(await chains[i].del(attachment(side, c, i), c.delWithoutNetns ? '' : undefined));
  run.afterDel = await snapshot(side, c);
  return run;
}

/** Runs `c` on both sides (in parallel), returns every difference, and removes everything. */
export async function runCase(c: Case): Promise<CaseRun> {
  const pods = c.pods ?? 1;
  const ref = new Side('ref', pods);
  let ours: Side | undefined;
  try {
    ours = new Side('ours', pods);
    const [r, o] = await Promise.all([
      runSide(ref, c, refConflist(c, ref.dataDir), refResolver),
      runSide(ours, c, oursConflist(c, ours.dataDir), oursResolver),
    ]);
    const diffs: Diff[] = [];
    const notes: string[] = [];
    r.add.forEach((ra, i) => {
      const oa = o.add[i];
      if (outcomeText(ra) !== outcomeText(oa))
        diffs.push({ path: `add${i}.outcome`, ref: outcomeText(ra), ours: outcomeText(oa) });
      if (!ra.ok) notes.push(`ref ADD ${i}: ${ra.failedPlugin}: ${ra.msg}`);
      if (!oa.ok) notes.push(`ours ADD ${i}: ${oa.msg}`);
    });
    const bothAdded = r.add.every((a) => a.ok) && o.add.every((a) => a.ok);
    const sameAdd = r.add.every((a, i) => outcomeText(a) === outcomeText(o.add[i]));
    if (sameAdd) diff(r.afterAdd!.tree, o.afterAdd!.tree, 'add', diffs);
    if (bothAdded && r.chain.supportsCheck()) {
      if (outcomeText(r.check!) !== outcomeText(o.check!))
        diffs.push({ path: 'check.outcome', ref: outcomeText(r.check!), ours: outcomeText(o.check!) });
      if (!r.check!.ok) notes.push(`ref CHECK: ${r.check!.failedPlugin}: ${r.check!.msg}`);
      if (!o.check!.ok) notes.push(`ours CHECK: ${o.check!.msg}`);
    }
    r.del.forEach((rd, i) => {
      const od = o.del[i];
      if (outcomeText(rd) !== outcomeText(od))
        diffs.push({ path: `del${i}.outcome`, ref: outcomeText(rd), ours: outcomeText(od) });
      if (!rd.ok) notes.push(`ref DEL: ${rd.failedPlugin}: ${rd.msg}`);
      if (!od.ok) notes.push(`ours DEL: ${od.msg}`);
    });
    // after different ADD outcomes the states differ everywhere; the outcome diff says it all.
    // A DEL without netns is compared by what each side left of the pod.
    if (sameAdd && !c.delWithoutNetns) diff(r.afterDel!.tree, o.afterDel!.tree, 'del', diffs);
    if (sameAdd && c.delWithoutNetns && JSON.stringify(r.afterDel!.owned) !== JSON.stringify(o.afterDel!.owned)) {
      diffs.push({ path: 'del.owned', ref: r.afterDel!.owned, ours: o.afterDel!.owned });
    }
    // Nothing of the container may stay on our side; what it had must have existed first.
    if (o.add.every((a) => a.ok)) {
      if (!o.afterAdd!.owned.some((x) => x.startsWith('node.links.')))
        throw new Error(`ours: no host veth after ADD (${o.afterAdd!.owned.join(', ')})`);
      const left = o.afterDel!.owned;
      if (left.length) diffs.push({ path: 'del.leftover', ref: r.afterDel!.owned, ours: left });
    }
    return { diffs, notes };
  } finally {
    ref.cleanup();
    ours?.cleanup();
  }
}

/** A readable report of differences, then each as an allowlist entry to paste once it is reviewed. */
export function formatDiffs(diffs: Diff[], name?: string): string {
  const text = diffs
    .map((d) => `  ${d.path}\n    ref:  ${JSON.stringify(d.ref)}\n    ours: ${JSON.stringify(d.ours)}`)
    .join('\n');
  if (!name || !diffs.length) return text;
  const entries = diffs.map(
    (d) =>
      `  { cases: [${JSON.stringify(name)}], path: ${JSON.stringify(d.path)}, ref: ` +
      `${JSON.stringify(d.ref)}, ours: ${JSON.stringify(d.ours)}, reason: '' },`,
  );
  return (
    `${text}\n  as allowlist.ts entries (only for a difference that stays on purpose, with its ` +
    `reason):\n${entries.join('\n')}`
  );
}
