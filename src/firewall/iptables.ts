// Masquerade through iptables (whichever variant, legacy or nft, `iptables` on PATH is): read the
// nat table with iptables-save, apply one iptables-restore --noflush batch per family.
import { ErrCode } from '../cni/errors';
import { runTool, toolError, which } from './exec';
import {
  RestoreBatch, SavedTable, addMasqueradeOps, delMasqueradeOps, masqueradeContainers, masqueradeProblems, parseSave,
} from './iptables-rules';
import type { Family, FirewallBackend, MasqTarget } from './types';

export type IptablesTools = Record<Family, { save: string; restore: string }>;

/** What is on PATH, legacy or nft variant alike; tests pass the *-legacy-* names to cover both. */
export const DEFAULT_TOOLS: IptablesTools = {
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

  delMasquerade(network: string, containerId: string, _ifname: string): void {
    // One chain per (network, container ID), like the reference: the ifname plays no part.
    for (const family of [4, 6] as const) {
      this.apply(family, (cur, batch) => delMasqueradeOps(batch, cur, network, containerId), true);
    }
  }

  checkMasquerade(t: MasqTarget): string[] {
    const problems: string[] = [];
    for (const family of [4, 6] as const) {
      if (!t.ips.some((i) => i.family === family)) continue;
      try {
        problems.push(...masqueradeProblems(this.read(family, false)!, t, family));
      } catch (e) {
        problems.push(`cannot read the ${this.tools[family].save.replace('-save', '')} nat table: ${(e as Error).message}`);
      }
    }
    return problems;
  }

  listContainers(network: string): string[] {
    const ids = new Set<string>();
    for (const family of [4, 6] as const) {
      const table = this.read(family, true);
      if (table) for (const id of masqueradeContainers(table, network)) ids.add(id);
    }
    return [...ids];
  }

  /** The nat table; with `optional`, null when this family is unsupported here (nothing to find). */
  private read(family: Family, optional: boolean): SavedTable | null {
    const { save } = this.tools[family];
    if (optional && !which(save)) return null;
    const r = runTool(save, ['-t', 'nat']);
    if (r.status !== 0) {
      if (optional && UNSUPPORTED.test(r.stderr)) return null;
      throw toolError(save, ['-t', 'nat'], r);
    }
    return parseSave(r.stdout);
  }

  /** Reads the table, builds the batch from it and applies it atomically; retries if the table moved. */
  private apply(family: Family, build: (cur: SavedTable, batch: RestoreBatch) => void, optional: boolean): void {
    const { restore } = this.tools[family];
    const args = ['--noflush', '-w', LOCK_WAIT_S];
    for (let attempt = 1; ; attempt++) {
      const cur = this.read(family, optional);
      if (!cur) return;
      const batch = new RestoreBatch();
      build(cur, batch);
      if (batch.empty) return;
      const input = batch.render();
      const r = runTool(restore, args, input);
      if (r.status === 0) return;
      const err = toolError(restore, args, r, input);
      if (err.code === ErrCode.TryAgainLater || attempt >= ATTEMPTS) throw err;
    }
  }
}
