// Everything that runs iptables (the rest of iptables/ is pure): masquerade and port mappings
// through whichever variant, legacy or nft, `iptables` on PATH is; read the nat table with
// iptables-save, apply one iptables-restore --noflush batch per family.
import { ErrCode } from '../../cni/errors';
import { log } from '../../log';
import { runTool, runToolOk, toolError, which } from '../../sys/exec';
import {
  RestoreBatch,
  SavedTable,
  addMasqueradeOps,
  quoteArg,
  delMasqueradeOps,
  masqueradeContainers,
  masqueradeProblems,
  parseSave,
} from './rules';
import {
  addLocalnetGuardOps,
  addPortmapOps,
  delPortmapOps,
  guardArgs,
  heldPorts,
  localnetGuardProblems,
  portmapCheck,
  portmapContainers,
  udpHostPorts,
} from './portmap';
import { dnatEntries, findConflicts, guardedBridge, portInUseError } from '../portmap';
import { flushUdpConntrack } from '../conntrack';
import { withPortmapLock } from '../lock';
import { foreignHeld } from '../nft/backend';
import { dnatChainName } from '../tag';
import type { AttachmentRules, FirewallBackend, MasqTarget } from '../types';
import { Family, familyOf } from '../../ip/addr';

/** A saved nat table, with the raw table when it was asked for (the localnet guard lives there). */
type Saved = SavedTable & { raw?: SavedTable };

export type IptablesTools = Record<Family, { save: string; restore: string }>;

/** What is on PATH, legacy or nft variant alike; tests pass the *-legacy-* names to cover both. */
const DEFAULT_TOOLS: IptablesTools = {
  4: { save: 'iptables-save', restore: 'iptables-restore' },
  6: { save: 'ip6tables-save', restore: 'ip6tables-restore' },
};

/** Wait at most this long for the xtables lock; then fail with "try again later" instead of hanging. */
const LOCK_WAIT_S = '5';
/** A batch can fail because the rules changed between read and write (a concurrent DEL); re-read and retry. */
const ATTEMPTS = 3;

// The kernel or the binary lacks this family (IPv6 disabled, no ip6table_nat, no ip6tables):
// then there are no rules of it to delete or list.
const UNSUPPORTED = /Address family not supported|Protocol not supported|can't initialize|Table does not exist/i;

export class IptablesBackend implements FirewallBackend {
  readonly name = 'iptables' as const;

  constructor(private readonly tools: IptablesTools = DEFAULT_TOOLS) {}

  addMasquerade(t: MasqTarget): void {
    for (const family of [4, 6] as const) {
      if (!t.ips.some((i) => i.family === family)) continue;
      this.apply(family, (cur, batch) => addMasqueradeOps(batch, t, family, cur), false);
    }
  }

  applyAttachment(r: AttachmentRules): void {
    const families = ([4, 6] as const).filter((f) => r.ips.some((i) => i.family === f));
    const own = dnatChainName(r.network, r.containerId);
    const guard = guardedBridge(r); // IPv4 only
    const foreign = foreignHeld(r);
    const build = (family: Family) => (cur: Saved, batch: RestoreBatch) => {
      const conflicts = findConflicts(
        [...heldPorts(cur, family), ...foreign.filter((h) => h.family === family)],
        dnatEntries(r, family),
        own,
      );
      if (conflicts.length) throw portInUseError(conflicts);
      if (r.masquerade) addMasqueradeOps(batch, r, family, cur);
      else
        delMasqueradeOps(
          batch,
          cur,
          r.network,
          r.containerId,
          r.ips.map((i) => i.ip),
        );
      addPortmapOps(batch, r, family, cur);
      if (family === 4 && guard && cur.raw) addLocalnetGuardOps(batch, cur.raw, guard);
    };
    const withRaw = (family: Family) => family === 4 && guard !== null;
    if (r.portMappings.length === 0 && guard === null) {
      // Masquerade only: nothing to check against, so the first attempt is built blind (no
      // iptables-save); the chain declaration empties our own chain. Only a failed batch reads.
      for (const family of families) this.apply(family, build(family), false, emptyTable());
      return;
    }
    // Every family is read and checked for conflicts before the first batch is written, so a
    // port taken in IPv6 does not leave IPv4 rules behind. These reads are the batches' reads.
    const run = () => {
      const first = new Map<Family, Saved>();
      for (const family of families) {
        const cur = this.read(family, false, withRaw(family))!;
        build(family)(cur, new RestoreBatch());
        first.set(family, cur);
      }
      for (const family of families) this.apply(family, build(family), false, first.get(family), withRaw(family));
    };
    if (r.portMappings.length) withPortmapLock(run);
    else run();
    flushUdpConntrack(families.flatMap((f) => dnatEntries(r, f)).filter((e) => e.protocol === 'udp'));
  }

  removeAttachment(network: string, containerId: string, ips?: string[]): void {
    const udp: { family: Family; hostPort: number }[] = [];
    // With the attachment's IPs known, only their families can hold its rules.
    for (const family of [4, 6] as const) {
      if (ips && !ips.some((ip) => familyOf(ip) === family)) continue;
      let ports: number[] = [];
      this.apply(
        family,
        (cur, batch) => {
          ports = udpHostPorts(cur, network, containerId, family);
          delMasqueradeOps(batch, cur, network, containerId, ips);
          delPortmapOps(batch, cur, network, containerId);
        },
        true,
      );
      udp.push(...ports.map((hostPort) => ({ family, hostPort })));
    }
    flushUdpConntrack(udp);
  }

  checkAttachment(r: AttachmentRules): string[] {
    const problems: string[] = [];
    for (const family of [4, 6] as const) {
      // Only families the container has: an IPv4-only container has no IPv6 rules to miss (plugins#819).
      if (!r.ips.some((i) => i.family === family)) continue;
      if (!r.masquerade && dnatEntries(r, family).length === 0) continue;
      const guard = family === 4 ? guardedBridge(r) : null;
      let table: Saved;
      try {
        table = this.read(family, false, guard !== null)!;
      } catch (e) {
        problems.push(
          `cannot read the ${this.tools[family].save.replace('-save', '')} nat table: ${(e as Error).message}`,
        );
        continue;
      }
      if (r.masquerade) problems.push(...masqueradeProblems(table, r, family));
      const pm = portmapCheck(table, r, family);
      problems.push(...pm.problems);
      // A pod whose mappings the reference portmap made never had the guard (the reference sets
      // route_localnet without one): not part of what its ADD made; `tsbridge doctor` names it.
      if (guard && table.raw && pm.layout !== 'reference') problems.push(...localnetGuardProblems(table.raw, guard));
    }
    return problems;
  }

  ensureLocalnetGuard(bridge: string): void {
    const { restore } = this.tools[4];
    const args = ['--noflush', '-w', LOCK_WAIT_S];
    withPortmapLock(() => {
      if (this.hasLocalnetGuard(bridge)) return;
      const input = ['*raw', `-A PREROUTING ${guardArgs(bridge).map(quoteArg).join(' ')}`, 'COMMIT', ''].join('\n');
      runToolOk(restore, args, input);
    });
  }

  hasLocalnetGuard(bridge: string): boolean {
    const { save } = this.tools[4];
    if (!which(save)) return false;
    const r = runTool(save, ['-t', 'raw']);
    if (r.status !== 0) return false;
    return localnetGuardProblems(parseSave(r.stdout, 'raw'), bridge).length === 0;
  }

  listContainers(network: string): string[] {
    const ids = new Set<string>();
    for (const family of [4, 6] as const) {
      const table = this.read(family, true);
      if (!table) continue;
      for (const id of [...masqueradeContainers(table, network), ...portmapContainers(table, network)]) ids.add(id);
    }
    return [...ids];
  }

  /**
   * The nat table; with `optional`, null when this family is unsupported here (nothing to find).
   * With `withRaw`, every table is saved in the same exec and the raw table comes along.
   */
  private read(family: Family, optional: boolean, withRaw = false): Saved | null {
    const { save } = this.tools[family];
    if (optional && !which(save)) return null;
    const args = withRaw ? [] : ['-t', 'nat'];
    const r = runTool(save, args);
    if (r.status !== 0) {
      if (optional && UNSUPPORTED.test(r.stderr)) return null;
      throw toolError(save, args, r);
    }
    const nat: Saved = parseSave(r.stdout);
    if (withRaw) nat.raw = parseSave(r.stdout, 'raw');
    return nat;
  }

  /**
   * Reads the table (or takes `first`, a fresh read), builds the batch from it and applies it
   * atomically; re-reads and rebuilds if the batch failed because the table moved meanwhile.
   */
  private apply(
    family: Family,
    build: (cur: Saved, batch: RestoreBatch) => void,
    optional: boolean,
    first?: Saved,
    withRaw = false,
  ): void {
    const { restore } = this.tools[family];
    const args = ['--noflush', '-w', LOCK_WAIT_S];
    for (let attempt = 1; ; attempt++) {
      const cur = attempt === 1 && first ? first : this.read(family, optional, withRaw);
      if (!cur) return;
      const batch = new RestoreBatch();
      build(cur, batch);
      if (batch.empty) return;
      const input = batch.render();
      const r = runTool(restore, args, input);
      if (r.status === 0) return;
      const err = toolError(restore, args, r, input);
      log.debug(`${restore} attempt ${attempt} failed: ${r.stderr.trim().split('\n')[0]}`);
      if (err.code === ErrCode.TryAgainLater || attempt >= ATTEMPTS) throw err;
    }
  }
}

const emptyTable = (): Saved => ({ chains: new Set(), rules: [] });
