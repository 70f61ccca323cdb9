// Picks the netfilter backend. Users of the reference bridge expect iptables (its only backend
// until v1.6, and still its default): `ipMasqBackend` set = that backend, no probing; unset =
//   1. iptables, if iptables-save and iptables-restore are installed;
//   2. else nftables, if nft is installed;
//   3. else iptables anyway: ADD then fails naming the missing tool, while DEL still succeeds
//      (there can be no rules where no tool exists).
// This is the reference's rule ("iptables unless iptables is unusable and nftables usable"), with
// "usable" judged by presence: probing by exec would cost every call several milliseconds.
//
// The shared model is here at the top (types.ts the backend contract, tag.ts names and comments,
// portmap.ts port mappings, lock.ts, conntrack.ts, addr.ts); each backend has its folder,
// iptables/ and nft/, with mirrored files: backend.ts runs the tool, rules.ts (masquerade) and
// portmap.ts generate and read rules, purely; nft/ also has foreign.ts (the upstream reference's
// nftables rules) and spoofcheck.ts (macspoofchk, nft only).
import { which } from '../sys/exec';
import { IptablesBackend } from './iptables/backend';
import { NftablesBackend } from './nft/backend';
import type { AttachmentRules, FirewallBackend } from './types';

export type {
  AttachmentRules,
  FirewallBackend,
  MasqIp,
  MasqTarget,
  PortConflict,
  PortMapping,
  PortProtocol,
} from './types';
export { guardedBridge, parsePortMappings, requiredSysctls } from './portmap';
export type { Sysctl } from './portmap';
export { IptablesBackend } from './iptables/backend';
export { NftablesBackend } from './nft/backend';

export type BackendName = FirewallBackend['name'];

export function selectBackend(pref?: BackendName): FirewallBackend {
  if (pref === 'iptables') return new IptablesBackend();
  if (pref === 'nftables') return new NftablesBackend();
  if (iptablesUsable()) return new IptablesBackend();
  if (nftUsable()) return new NftablesBackend();
  return new IptablesBackend();
}

/**
 * Removes everything of an attachment (masquerade and port mappings) from both backends: it may
 * have been added by a run with another `ipMasqBackend` (or another auto-detection result); the
 * reference's DEL does the same. Each backend's part is a no-op where its tool is missing or
 * holds nothing of ours. Idempotent; needs no IPs and no container netns. The reference's
 * iptables rules (same chain names) go with ours; with `ifname`, the upstream reference's
 * nftables rules too (nft/foreign.ts).
 */
export function removeAttachmentEverywhere(
  network: string,
  containerId: string,
  ips?: string[],
  ifname?: string,
): void {
  new IptablesBackend().removeAttachment(network, containerId, ips);
  new NftablesBackend().removeAttachment(network, containerId, ips, ifname);
}

/**
 * CHECK of an attachment's rules: the selected backend's problems, unless the other backend holds
 * the attachment's complete rules. A pod made by the reference 1.1.1 (iptables only, whatever
 * ipMasqBackend says) or by tsbridge under another backend setting works from the other backend,
 * and DEL/GC remove it from both; the other backend is only read when the selected one fails.
 */
export function checkAttachmentAnywhere(selected: FirewallBackend, r: AttachmentRules): string[] {
  const problems = selected.checkAttachment(r);
  if (problems.length === 0) return [];
  const other = selected.name === 'iptables' ? new NftablesBackend() : new IptablesBackend();
  // a missing or failing tool reads as problems there: the selected backend's are reported
  return other.checkAttachment(r).length === 0 ? [] : problems;
}

/** Container IDs of `network` with masquerade or port-mapping state in either backend (for GC). */
export function listFirewallContainers(network: string): string[] {
  const ids = new Set([
    ...new IptablesBackend().listContainers(network),
    ...new NftablesBackend().listContainers(network),
  ]);
  return [...ids];
}

/**
 * Problems with the bridge's localnet guard where route_localnet is on (CVE-2020-8558): either
 * backend's guard will do, as either drops the packets. [] when one is there.
 */
export function localnetGuardProblems(bridge: string): string[] {
  if (new IptablesBackend().hasLocalnetGuard(bridge) || new NftablesBackend().hasLocalnetGuard(bridge)) return [];
  return [
    `net.ipv4.conf.${bridge}.route_localnet is 1 but no localnet guard drops 127.0.0.0/8 arriving on ${bridge} ` +
      `(neither in iptables raw PREROUTING nor in nftables inet tsbridge localnet-guard; was the raw table ` +
      `flushed?): ` +
      `containers can reach the node's 127.0.0.1 services (CVE-2020-8558); an ADD with a host port re-installs it`,
  ];
}

// Detection looks for the tools only (no exec: it runs on every ADD, DEL and CHECK). A tool that
// is there but unusable fails the call with its own error message, which names the problem.
function iptablesUsable(): boolean {
  return which('iptables-save') !== null && which('iptables-restore') !== null;
}

function nftUsable(): boolean {
  return which('nft') !== null;
}
