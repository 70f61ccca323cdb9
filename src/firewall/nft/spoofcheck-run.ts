// macspoofchk, effects: read `bridge nat` with `nft -a list table`, change it with one `nft -f -`
// transaction per call (script text from spoofcheck.ts).
import { ErrCode } from '../../cni/errors';
import { runTool, toolError, which } from '../../sys/exec';
import { NftTable, parseNftList } from './rules';
import {
  addSpoofScript, delSpoofChainScript, delSpoofScript, SPOOF_FAMILY, SPOOF_TABLE, spoofChains, spoofProblems,
} from './spoofcheck';

const LIST_ARGS = ['-a', 'list', 'table', SPOOF_FAMILY, SPOOF_TABLE];
/** A DEL script can fail because a handle vanished between read and write (a concurrent DEL): read again. */
const ATTEMPTS = 3;

/** `bridge nat` as nft prints it; null when the table (or, with `optional`, nft or nf_tables) does not exist. */
export function readSpoofTable(optional: boolean): NftTable | null {
  if (optional && !which('nft')) return null;
  const r = runTool('nft', LIST_ARGS);
  if (r.status === 0) return parseNftList(r.stdout);
  if (/No such file or directory/.test(r.stderr)) return null;
  if (optional && /not supported/i.test(r.stderr)) return null;
  throw toolError('nft', LIST_ARGS, r);
}

function run(script: string): void {
  const r = runTool('nft', ['-f', '-'], script);
  if (r.status !== 0) throw toolError('nft', ['-f', '-'], r, script);
}

/** ADD: frames entering the bridge from `hostVeth` pass only with source MAC `mac`. */
export function applySpoofCheck(hostVeth: string, mac: string, containerId: string, ifname: string): void {
  run(addSpoofScript(hostVeth, mac, containerId, ifname));
}

/** Removes what `build` names from the table as read now; retried when a concurrent change moved it. */
function removeWith(build: (t: NftTable) => string): void {
  for (let attempt = 1; ; attempt++) {
    const table = readSpoofTable(true);
    const script = table ? build(table) : '';
    if (!script) return;
    const r = runTool('nft', ['-f', '-'], script);
    if (r.status === 0) return;
    const err = toolError('nft', ['-f', '-'], r, script);
    if (err.code === ErrCode.TryAgainLater || attempt >= ATTEMPTS) throw err;
  }
}

/** DEL: the attachment's chains and the base-chain jump to them. Idempotent; no container needed. */
export function removeSpoofCheck(containerId: string, ifname: string): void {
  removeWith((t) => delSpoofScript(t, containerId, ifname));
}

/** CHECK: problems with the attachment's spoof check ([] = in place). */
export function checkSpoofCheck(hostVeth: string, mac: string | undefined, containerId: string, ifname: string): string[] {
  let table: NftTable | null;
  try {
    table = readSpoofTable(false);
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
    const table = readSpoofTable(true);
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
