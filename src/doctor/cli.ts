// `tsbridge doctor`: for one container or every attachment in the IPAM store, walk the path its
// packets take and name the first broken piece with the command that repairs it. Exit status: 0
// healthy, 1 problems found, 2 usage or config errors.
import { ifnameProblem, isValidContainerId } from '../cni/env';
import { FlagSpec, FlagValues, HelpRequest, parseFlags, UsageError, usageExit } from '../flags';
import { escapeControls, safeJson, shq } from '../safe-text';
import { ipToString, tryParseIP } from '../ip/addr';
import { BridgeConfig } from '../attachment/config';
import { fullnessWarnings } from '../ipam/fullness';
import { rangeSetUsage } from '../ipam/host-local';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collectAttachment, collectNode, CollectOptions, CorruptRecord, selectSeeds, subnetsOf } from './collect';
import { ConfigError, loadNetwork } from './config';
import { attachmentReport, firstBroken } from './diagnose';
import { applyFixes } from './fix';
import { NetnsScanner } from './netns-scan';
import { probeAttachment } from './probe';
import { exitCode, renderText, uniqueFindings } from './report';
import { DOCTOR_HELP } from './help';
export { DOCTOR_HELP };
import { AttachmentFacts, AttachmentReport, Change, DoctorContext, DoctorReport, NodeFacts } from './types';

export const DOCTOR_FLAGS: FlagSpec = {
  config: 'string',
  network: 'string',
  'conf-dir': 'string',
  'cache-dir': 'string',
  container: 'string',
  ifname: 'string',
  netns: 'string',
  ip: 'string',
  probe: 'bool',
  to: 'string',
  count: 'string',
  json: 'bool',
  fix: 'bool',
};

interface Options {
  config?: string;
  network?: string;
  confDir: string;
  cacheDir: string;
  container?: string;
  ifname?: string;
  netns?: string;
  ip?: string;
  probe: boolean;
  to: string[];
  count: number;
  json: boolean;
  fix: boolean;
}

function canonicalAddr(flag: string, v: string): string {
  const ip = tryParseIP(v);
  if (!ip) throw new UsageError(`--${flag}: "${v}" is not an IP address`);
  return ipToString(ip);
}

export function parseDoctorArgs(argv: string[]): Options {
  const f: FlagValues = parseFlags(argv, DOCTOR_FLAGS, {});
  const s = (k: string): string | undefined => (typeof f[k] === 'string' && f[k] !== '' ? (f[k] as string) : undefined);
  const count = s('count') === undefined ? 3 : Number(s('count'));
  if (!Number.isInteger(count) || count < 1 || count > 20)
    throw new UsageError(`--count: want 1..20, got "${s('count')}"`);
  if (s('container') && s('ip')) throw new UsageError('give --container or --ip, not both');
  if (s('container') && !isValidContainerId(s('container')!))
    throw new UsageError(`--container: ${JSON.stringify(s('container'))} is not a container ID`);
  if (s('ifname') && ifnameProblem(s('ifname')!))
    throw new UsageError(`--ifname: ${JSON.stringify(s('ifname'))}: ${ifnameProblem(s('ifname')!)}`);
  return {
    config: s('config'),
    network: s('network'),
    confDir: s('conf-dir') ?? '/etc/cni/net.d',
    cacheDir: s('cache-dir') ?? '/var/lib/cni',
    container: s('container'),
    ifname: s('ifname'),
    netns: s('netns'),
    ip: s('ip') === undefined ? undefined : canonicalAddr('ip', s('ip')!),
    probe: f.probe === true,
    to: (s('to') ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
      .map((x) => canonicalAddr('to', x)),
    count,
    json: f.json === true,
    fix: f.fix === true,
  };
}

interface Walk {
  corrupt: CorruptRecord[];
  node: NodeFacts;
  facts: AttachmentFacts[];
  reports: AttachmentReport[];
  notes: string[];
}

/** Namespaces opened by the walks: their handles serve until the report is written. */
const scanners: NetnsScanner[] = [];

async function walk(ctx: DoctorContext, cfg: BridgeConfig, co: CollectOptions): Promise<Walk> {
  const node = await collectNode(cfg);
  const scan = new NetnsScanner();
  scanners.push(scan);
  const { seeds, notes, corrupt } = await selectSeeds(co, node, scan);
  const facts: AttachmentFacts[] = [];
  for (const seed of seeds) facts.push(await collectAttachment(co, node, scan, seed));
  const reports = facts.map((a) => attachmentReport(ctx, cfg, node, a));
  return { corrupt, node, facts, reports, notes: [...notes, ...node.errors.map((e) => `could not read: ${e}`)] };
}

export async function runDoctor(argv: string[]): Promise<number> {
  try {
    return await doctor(argv);
  } finally {
    for (const s of scanners.splice(0)) s.close();
  }
}

async function doctor(argv: string[]): Promise<number> {
  let o: Options;
  let loaded: ReturnType<typeof loadNetwork>;
  try {
    o = parseDoctorArgs(argv);
    loaded = loadNetwork({ config: o.config, network: o.network, confDir: o.confDir });
  } catch (e) {
    if (e instanceof UsageError || e instanceof HelpRequest) return usageExit('doctor', e, DOCTOR_HELP, escapeControls);
    if (e instanceof ConfigError) {
      process.stderr.write(`tsbridge doctor: ${escapeControls(e.message)}\n`);
      return 2;
    }
    throw e;
  }
  const { cfg, ipam, file } = loaded;
  if (!ipam) {
    process.stderr.write(
      `tsbridge doctor: ${escapeControls(file)}: ipam type is not host-local; doctor reads the ` +
        `host-local store to find the attachments\n`,
    );
    return 2;
  }
  const ctx: DoctorContext = {
    network: cfg.net.name,
    bridge: cfg.bridge,
    isGateway: cfg.isGateway,
    ipMasq: cfg.ipMasq,
    subnets: subnetsOf(ipam),
    dataDir: ipam.dataDir,
    doctorCmd: `tsbridge doctor --config ${shq(file)}`,
    ...(o.to.length ? { to: o.to[0] } : {}),
  };
  const co: CollectOptions = {
    cfg,
    ipam,
    cacheDir: o.cacheDir,
    target: { container: o.container, ifname: o.ifname, netns: o.netns, ip: o.ip },
  };

  let w: Walk;
  try {
    w = await walk(ctx, cfg, co);
  } catch (e) {
    process.stderr.write(`tsbridge doctor: ${escapeControls((e as Error).message)}\n`);
    return 1;
  }
  let changes: Change[] | undefined;
  if (o.fix) {
    const items = w.facts
      .map((facts, i) => ({ facts, findings: w.reports[i].findings }))
      .filter((x) => x.findings.some((f) => f.fixable));
    changes = items.length ? await applyFixes(cfg, o.cacheDir, items) : [];
    if (changes.length) w = await walk(ctx, cfg, co);
  }
  // never used as an attachment (no veth name, path or command is made from it): named, not checked
  const notes = [
    ...w.corrupt.map(
      (c) =>
        `IPAM record ${c.file}: ${c.why}: a foreign or corrupt file holding ` +
        `${c.ip}; not checked (inspect it before removing it)`,
    ),
    ...w.notes,
  ];
  if (o.probe) {
    const bridgeIndex = w.node.bridge?.index;
    // another container on the bridge to ping: from every attachment, not only the targeted ones
    const targeted = o.container !== undefined || o.ip !== undefined || o.netns !== undefined;
    const others = targeted ? (await walk(ctx, cfg, { ...co, target: {} })).facts : w.facts;
    for (let i = 0; i < w.facts.length; i++) {
      const a = w.facts[i];
      const peers = others.filter(
        (x) => !(x.containerId === a.containerId && x.ifname === a.ifname && x.netns === a.netns),
      );
      const pr = await probeAttachment(
        { network: ctx.network, bridge: ctx.bridge, bridgeIndex, others: peers, to: o.to, count: o.count },
        a,
      );
      const r = w.reports[i];
      r.probes = pr.results;
      r.findings.push(...pr.findings);
      const fb = firstBroken(r.findings);
      r.healthy = !fb;
      if (fb) r.firstBroken = fb;
      notes.push(...pr.notes.map((n) => `${a.containerId || '?'}/${a.ifname}: ${n}`));
    }
  }
  // a full range fails the next ADD but is no STATUS error (it would make the node NotReady): named here
  if (fs.existsSync(path.join(ipam.dataDir, ctx.network))) {
    try {
      notes.push(...fullnessWarnings(rangeSetUsage(ipam, ctx.network, true)));
    } catch (e) {
      notes.push(`cannot count the free addresses: ${(e as Error).message}`);
    }
  }
  if (!w.reports.length && !w.notes.length)
    notes.push(`no attachments of network ${ctx.network} are recorded in ${ipam.dataDir}/${ctx.network}`);
  const targetMissing =
    w.reports.length === 0 && (o.container !== undefined || o.ip !== undefined || o.netns !== undefined);
  const bad = w.reports.find((r) => !r.healthy);
  const report: DoctorReport = {
    network: ctx.network,
    bridge: ctx.bridge,
    config: file,
    healthy: !bad && !targetMissing && w.corrupt.length === 0,
    ...(bad?.firstBroken
      ? { firstBroken: { ...bad.firstBroken, containerId: bad.containerId, ifname: bad.ifname } }
      : {}),
    attachments: w.reports,
    ...(w.corrupt.length ? { corruptRecords: w.corrupt } : {}),
    findings: uniqueFindings(w.reports),
    ...(changes ? { changes } : {}),
    notes,
  };
  process.stdout.write(o.json ? safeJson(report) + '\n' : renderText(report));
  return exitCode(report);
}
