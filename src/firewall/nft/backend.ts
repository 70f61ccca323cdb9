// Everything that runs nft (the rest of nft/ is pure). Masquerade and port mappings in tsbridge's
// own table: read it with `nft -a list table`, apply one `nft -f -` transaction per call (both
// families at once: the table is `inet`); DEL and GC also remove the upstream reference's nftables
// rules (foreign.ts); and macspoofchk in `bridge nat` (spoofcheck.ts), whatever the backend.
import { ErrCode } from '../../cni/errors';
import { runTool, runToolOk, toolError, which } from '../../sys/exec';
import {
  NFT_FAMILY,
  NFT_TABLE,
  NftScript,
  NftTable,
  addMasqueradeNft,
  delMasqueradeNft,
  masqueradeContainersNft,
  masqueradeProblemsNft,
  parseNftList,
} from './rules';
import {
  addLocalnetGuardNft,
  addPortmapNft,
  delPortmapNft,
  hasGuardNft,
  heldPortsNft,
  portmapContainersNft,
  portmapProblemsNft,
  udpHostPortsNft,
} from './portmap';
import { HeldPort, dnatEntries, findConflicts, portInUseError } from '../portmap';
import { flushUdpConntrack } from '../conntrack';
import {
  FOREIGN_TABLES,
  ForeignTables,
  foreignDeletes,
  foreignGcDeletes,
  foreignHeldPorts,
  parseForeign,
  parseTableList,
} from './foreign';
import { withPortmapLock } from '../lock';
import {
  addSpoofScript,
  delSpoofChainScript,
  delSpoofScript,
  SPOOF_FAMILY,
  SPOOF_TABLE,
  spoofChains,
  spoofProblems,
} from './spoofcheck';
import { dnatChainName } from '../tag';
import type { AttachmentRules, FirewallBackend, MasqTarget } from '../types';
import type { Family } from '../../ip/addr';

const LIST_ARGS = ['-a', 'list', 'table', NFT_FAMILY, NFT_TABLE];
/** A script can fail because a rule handle vanished between read and write (a concurrent DEL); retry. */
const ATTEMPTS = 3;

export class NftablesBackend implements FirewallBackend {
  readonly name = 'nftables' as const;

  addMasquerade(t: MasqTarget): void {
    if (t.ips.length === 0) return;
    this.apply((cur, script) => addMasqueradeNft(script, t, cur), false);
  }

  applyAttachment(r: AttachmentRules): void {
    if (r.ips.length === 0) return;
    const wanted = [...dnatEntries(r, 4), ...dnatEntries(r, 6)];
    const own = dnatChainName(r.network, r.containerId);
    const run = () =>
      this.apply((cur, script) => {
        const held = [...(cur ? heldPortsNft(cur) : []), ...foreignHeld(r)];
        const conflicts = findConflicts(held, wanted, own);
        if (conflicts.length) throw portInUseError(conflicts);
        if (r.masquerade) addMasqueradeNft(script, r, cur);
        else if (cur)
          delMasqueradeNft(
            script,
            cur,
            r.network,
            r.containerId,
            r.ips.map((i) => i.ip),
          );
        addPortmapNft(script, r, cur);
      }, false);
    if (r.portMappings.length) withPortmapLock(run);
    else run();
    flushUdpConntrack(wanted.filter((e) => e.protocol === 'udp'));
  }

  /**
   * Our table's rules of the attachment and, with `ifname`, the upstream reference's nftables
   * rules for it (see foreign.ts), in one transaction. Reads: `nft list tables`, then only
   * the tables that exist.
   */
  removeAttachment(network: string, containerId: string, ips?: string[], ifname?: string): void {
    let udp: { family: Family; hostPort: number }[] = [];
    this.applyWithForeign((cur, foreign, script) => {
      if (cur) {
        udp = udpHostPortsNft(cur, network, containerId);
        delMasqueradeNft(script, cur, network, containerId, ips);
        delPortmapNft(script, cur, network, containerId);
      }
      if (ifname !== undefined)
        for (const l of foreignDeletes(foreign, network, containerId, ifname)) script.foreign(l);
    });
    flushUdpConntrack(udp);
  }

  /** GC of the upstream reference's nftables rules of `network` (see foreignGcDeletes). */
  gcForeign(network: string, valid: { containerId: string; ifname: string }[], subnets: string[]): void {
    this.applyWithForeign((_cur, foreign, script) => {
      for (const l of foreignGcDeletes(foreign, network, valid, subnets)) script.foreign(l);
    });
  }

  /** Host ports the upstream nftables portmap holds (none without nft or its tables). */
  foreignHeldPorts(): HeldPort[] {
    const tables = this.listTables();
    return tables ? foreignHeldPorts(this.readForeign(tables)) : [];
  }

  checkAttachment(r: AttachmentRules): string[] {
    const wanted = [...dnatEntries(r, 4), ...dnatEntries(r, 6)];
    if (r.ips.length === 0 || (!r.masquerade && wanted.length === 0)) return [];
    let table: NftTable | null;
    try {
      table = this.read(false);
    } catch (e) {
      return [`cannot read nftables table ${NFT_FAMILY} ${NFT_TABLE}: ${(e as Error).message}`];
    }
    const problems = r.masquerade ? masqueradeProblemsNft(table, r) : [];
    const pm = portmapProblemsNft(table, r);
    // "table missing" once is enough
    return [...problems, ...pm.filter((p) => !problems.includes(p))];
  }

  ensureLocalnetGuard(bridge: string): void {
    withPortmapLock(() =>
      this.apply((cur, script) => {
        if (!hasGuardNft(cur, bridge)) addLocalnetGuardNft(script, bridge);
      }, false),
    );
  }

  hasLocalnetGuard(bridge: string): boolean {
    try {
      return hasGuardNft(this.read(true), bridge);
    } catch {
      return false;
    }
  }

  listContainers(network: string): string[] {
    const table = this.read(true);
    return table
      ? [...new Set([...masqueradeContainersNft(table, network), ...portmapContainersNft(table, network)])]
      : [];
  }

  /** Our table, or null when it does not exist (or, with `optional`, when nft is not installed). */
  private read(optional: boolean): NftTable | null {
    return listTable(LIST_ARGS, optional);
  }

  /** `<family> <name>` of every table; null when nft is missing or the kernel has no nf_tables. */
  private listTables(): Set<string> | null {
    if (!which('nft')) return null;
    const r = runTool('nft', ['list', 'tables']);
    if (r.status === 0) return parseTableList(r.stdout);
    if (/not supported/i.test(r.stderr)) return null;
    throw toolError('nft', ['list', 'tables'], r);
  }

  private readForeign(tables: Set<string>): ForeignTables {
    const listings = new Map<string, string>();
    for (const t of FOREIGN_TABLES) {
      if (!tables.has(t)) continue;
      const args = ['-a', 'list', 'table', ...t.split(' ')];
      const r = runTool('nft', args);
      if (r.status === 0) listings.set(t, r.stdout);
      else if (!/No such file or directory/.test(r.stderr)) throw toolError('nft', args, r);
    }
    return parseForeign(listings);
  }

  /** apply() for DEL and GC: our table only if it exists, the upstream tables that exist. */
  private applyWithForeign(build: (cur: NftTable | null, foreign: ForeignTables, script: NftScript) => void): void {
    this.retry((script) => {
      const tables = this.listTables();
      if (!tables) return;
      const cur = tables.has(`${NFT_FAMILY} ${NFT_TABLE}`) ? this.read(true) : null;
      build(cur, this.readForeign(tables), script);
    });
  }

  private apply(build: (cur: NftTable | null, script: NftScript) => void, optional: boolean): void {
    this.retry((script) => build(this.read(optional), script));
  }

  /** Reads and builds (`fill`), runs the script; re-reads and retries when it failed because the table moved. */
  private retry(fill: (script: NftScript) => void): void {
    runRetrying(() => {
      const script = new NftScript();
      fill(script);
      return script.empty ? '' : script.render();
    });
  }
}

/**
 * Host ports the upstream reference's nftables portmap holds for other containers (read only when
 * there are mappings: it costs an exec); the container's own old rules are not a conflict.
 */
export function foreignHeld(r: AttachmentRules): HeldPort[] {
  if (r.portMappings.length === 0) return [];
  return new NftablesBackend().foreignHeldPorts().filter((h) => h.containerId !== r.containerId);
}

/** `nft -a list table ...` parsed; null when the table (or, with `optional`, nft or nf_tables) does not exist. */
function listTable(args: string[], optional: boolean): NftTable | null {
  if (optional && !which('nft')) return null;
  const r = runTool('nft', args);
  if (r.status === 0) return parseNftList(r.stdout);
  if (/No such file or directory/.test(r.stderr)) return null;
  if (optional && /not supported/i.test(r.stderr)) return null; // kernel without nf_tables: nothing of ours
  throw toolError('nft', args, r);
}

/**
 * Runs the script `make` builds from a fresh read ('' = nothing to do); when it fails because the
 * table moved meanwhile (a rule handle vanished in a concurrent DEL), reads, builds and runs again.
 */
function runRetrying(make: () => string): void {
  for (let attempt = 1; ; attempt++) {
    const input = make();
    if (!input) return;
    const r = runTool('nft', ['-f', '-'], input);
    if (r.status === 0) return;
    const err = toolError('nft', ['-f', '-'], r, input);
    if (err.code === ErrCode.TryAgainLater || attempt >= ATTEMPTS) throw err;
  }
}

// macspoofchk: read `bridge nat`, change it with one `nft -f -` transaction per call (the script
// text from spoofcheck.ts). Not part of FirewallBackend: it is nft whatever ipMasqBackend says.

const SPOOF_LIST_ARGS = ['-a', 'list', 'table', SPOOF_FAMILY, SPOOF_TABLE];

/** ADD: frames entering the bridge from `hostVeth` pass only with source MAC `mac`. */
export function applySpoofCheck(hostVeth: string, mac: string, containerId: string, ifname: string): void {
  const script = addSpoofScript(hostVeth, mac, containerId, ifname);
  runToolOk('nft', ['-f', '-'], script);
}

/** DEL: the attachment's chains and the base-chain jump to them. Idempotent; no container needed. */
export function removeSpoofCheck(containerId: string, ifname: string): void {
  runRetrying(() => {
    const table = listTable(SPOOF_LIST_ARGS, true);
    return table ? delSpoofScript(table, containerId, ifname) : '';
  });
}

/** CHECK: problems with the attachment's spoof check ([] = in place). */
export function checkSpoofCheck(
  hostVeth: string,
  mac: string | undefined,
  containerId: string,
  ifname: string,
): string[] {
  let table: NftTable | null;
  try {
    table = listTable(SPOOF_LIST_ARGS, false);
  } catch (e) {
    return [`macspoofchk: cannot read nftables table ${SPOOF_FAMILY} ${SPOOF_TABLE}: ${(e as Error).message}`];
  }
  return spoofProblems(table, hostVeth, mac, containerId, ifname);
}

/**
 * GC: removes the attachment chains `stale` picks, given each chain and the names of the node's
 * links as listed after the table was read (`links`); returns their names. Nothing when nft or
 * the table is missing.
 */
export async function sweepSpoofChecks(
  links: () => Promise<Set<string>>,
  stale: (c: { ifaceChain: string; iifname?: string }, live: Set<string>) => boolean,
): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    const table = listTable(SPOOF_LIST_ARGS, true);
    if (!table) return [];
    const live = await links();
    const doomed = spoofChains(table).filter((c) => stale(c, live));
    const script = doomed.map((c) => delSpoofChainScript(table, c.ifaceChain)).join('');
    if (!script) return [];
    const r = runTool('nft', ['-f', '-'], script);
    if (r.status === 0) return doomed.map((c) => c.ifaceChain);
    const err = toolError('nft', ['-f', '-'], r, script);
    if (err.code === ErrCode.TryAgainLater || attempt >= ATTEMPTS) throw err;
  }
}
