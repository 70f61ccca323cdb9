// Masquerade and port mappings through nftables in tsbridge's own table: read it with
// `nft -a list table`, apply one `nft -f -` transaction per call (both families at once: the table is `inet`).
import { ErrCode } from '../cni/errors';
import { runTool, toolError, which } from './exec';
import {
  NFT_FAMILY, NFT_TABLE, NftScript, NftTable, addMasqueradeNft, delMasqueradeNft, masqueradeContainersNft,
  masqueradeProblemsNft, parseNftList,
} from './nft-rules';
import {
  addLocalnetGuardNft, addPortmapNft, delPortmapNft, hasGuardNft, heldPortsNft, portmapContainersNft, portmapProblemsNft, udpHostPortsNft,
} from './nft-portmap';
import { dnatEntries, findConflicts, flushUdpConntrack, portInUseError } from './portmap';
import { withPortmapLock } from './lock';
import { dnatChainName } from './tag';
import type { AttachmentRules, Family, FirewallBackend, MasqTarget } from './types';

const LIST_ARGS = ['-a', 'list', 'table', NFT_FAMILY, NFT_TABLE];
/** A script can fail because a rule handle vanished between read and write (a concurrent DEL); retry. */
const ATTEMPTS = 3;

export class NftablesBackend implements FirewallBackend {
  readonly name = 'nftables' as const;

  addMasquerade(t: MasqTarget): void {
    if (t.ips.length === 0) return;
    this.apply((cur, script) => addMasqueradeNft(script, t, cur), false);
  }

  delMasquerade(network: string, containerId: string, _ifname: string): void {
    // The chain is per (network, container ID), as for iptables; the tag records the ifname for people.
    this.apply((cur, script) => cur && delMasqueradeNft(script, cur, network, containerId), true);
  }

  checkMasquerade(t: MasqTarget): string[] {
    if (t.ips.length === 0) return [];
    try {
      return masqueradeProblemsNft(this.read(false), t);
    } catch (e) {
      return [`cannot read nftables table ${NFT_FAMILY} ${NFT_TABLE}: ${(e as Error).message}`];
    }
  }

  applyAttachment(r: AttachmentRules): void {
    if (r.ips.length === 0) return;
    const wanted = [...dnatEntries(r, 4), ...dnatEntries(r, 6)];
    const own = dnatChainName(r.network, r.containerId);
    const run = () => this.apply((cur, script) => {
      const conflicts = cur ? findConflicts(heldPortsNft(cur), wanted, own) : [];
      if (conflicts.length) throw portInUseError(conflicts);
      if (r.masquerade) addMasqueradeNft(script, r, cur);
      else if (cur) delMasqueradeNft(script, cur, r.network, r.containerId, r.ips.map((i) => i.ip));
      addPortmapNft(script, r, cur);
    }, false);
    if (r.portMappings.length) withPortmapLock(run);
    else run();
    flushUdpConntrack(wanted.filter((e) => e.protocol === 'udp'));
  }

  removeAttachment(network: string, containerId: string, ips?: string[]): void {
    let udp: { family: Family; hostPort: number }[] = [];
    this.apply((cur, script) => {
      if (!cur) return;
      udp = udpHostPortsNft(cur, network, containerId);
      delMasqueradeNft(script, cur, network, containerId, ips);
      delPortmapNft(script, cur, network, containerId);
    }, true);
    flushUdpConntrack(udp);
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
    withPortmapLock(() => this.apply((cur, script) => {
      if (!hasGuardNft(cur, bridge)) addLocalnetGuardNft(script, bridge);
    }, false));
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
    return table ? [...new Set([...masqueradeContainersNft(table, network), ...portmapContainersNft(table, network)])] : [];
  }

  /** Our table, or null when it does not exist (or, with `optional`, when nft is not installed). */
  private read(optional: boolean): NftTable | null {
    if (optional && !which('nft')) return null;
    const r = runTool('nft', LIST_ARGS);
    if (r.status === 0) return parseNftList(r.stdout);
    if (/No such file or directory/.test(r.stderr)) return null;
    if (optional && /not supported/i.test(r.stderr)) return null; // kernel without nf_tables: nothing of ours
    throw toolError('nft', LIST_ARGS, r);
  }

  private apply(build: (cur: NftTable | null, script: NftScript) => void, optional: boolean): void {
    for (let attempt = 1; ; attempt++) {
      const cur = this.read(optional);
      const script = new NftScript();
      build(cur, script);
      if (script.empty) return;
      const input = script.render();
      const r = runTool('nft', ['-f', '-'], input);
      if (r.status === 0) return;
      const err = toolError('nft', ['-f', '-'], r, input);
      if (err.code === ErrCode.TryAgainLater || attempt >= ATTEMPTS) throw err;
    }
  }
}
