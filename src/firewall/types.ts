// The contract between the plugin commands and a netfilter backend.

import type { Family } from '../ip/addr';

export interface MasqIp {
  /** The container's address, without prefix. */
  ip: string;
  /** The subnet the address lives in (CIDR; host bits may be set, e.g. "10.1.0.5/24"). */
  subnet: string;
  family: Family;
}

export interface MasqTarget {
  network: string;
  containerId: string;
  ifname: string;
  ips: MasqIp[];
}

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

/** One entry of runtimeConfig.portMappings, validated (see parsePortMappings). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
  /**
   * Canonical address text, or absent for "every local address of every family the container has".
   * "0.0.0.0" = every local IPv4 address only, "::" = every local IPv6 address only (as the reference).
   */
  hostIP?: string;
}

/** Everything tsbridge puts into netfilter for one attachment (ADD wants exactly this state). */
export interface AttachmentRules extends MasqTarget {
  /** The ipMasq rules (chain CNI-<hash>). When false, masquerade rules of an earlier ADD are removed. */
  masquerade: boolean;
  /** Host port DNAT (+ hairpin/localhost masquerade). [] removes those of an earlier ADD. */
  portMappings: PortMapping[];
  /**
   * The bridge the container hangs on. With IPv4 mappings it names the route_localnet sysctl
   * (requiredSysctls) and gets the bridge's localnet guard rule; without it neither happens.
   */
  bridge?: string;
}

/** A host port another attachment already maps (ADD fails with ErrCode.PortInUse). */
export interface PortConflict {
  family: Family;
  protocol: PortProtocol;
  hostPort: number;
  /** The address the request asked for (undefined = any local address). */
  hostIP?: string;
  holder: {
    containerId: string;
    /** null when the rules do not say (a cut nft tag). */
    network: string | null;
    /** The holder's address (undefined = any local address). */
    hostIP?: string;
  };
}

export interface FirewallBackend {
  readonly name: 'iptables' | 'nftables';
  /**
   * Installs (or rewrites) the attachment's masquerade rules alone, its port mappings untouched
   * (doctor --fix): one atomic batch per family (iptables) / one nft transaction.
   */
  addMasquerade(t: MasqTarget): void;

  /**
   * ADD: makes the attachment's masquerade and port-mapping rules exactly `r`, in one
   * iptables-restore per family of the container / one `nft -f -` in total. Fails with
   * ErrCode.PortInUse (103), before writing anything, when another attachment maps an
   * overlapping host port; the check uses the same read the batch is built from, under a
   * node-wide lock (/run/tsbridge/portmap.lock) when there are mappings. Afterwards flushes
   * stale UDP conntrack entries of the host ports (best effort, needs `conntrack`).
   */
  applyAttachment(r: AttachmentRules): void;
  /**
   * DEL: removes every rule of (network, containerId), masquerade and port mappings. Idempotent;
   * needs no IPs. With `ips`, only the masquerade jumps from them go (another interface of the same
   * container keeps its own) and the shared chain goes with the last of them. With `ifname`, the
   * nftables backend also removes the upstream reference's nftables rules of the attachment.
   */
  removeAttachment(network: string, containerId: string, ips?: string[], ifname?: string): void;
  /** CHECK: problems with the attachment's rules (only for families the container has); [] when all present. */
  checkAttachment(r: AttachmentRules): string[];
  /** Container IDs that have masquerade or port-mapping rules of this network (for GC). */
  listContainers(network: string): string[];
  /**
   * Installs the bridge's localnet guard (see LOCALNET_GUARD_COMMENT) unless it is there: its own
   * transaction, before route_localnet is turned on, and never rolled back.
   */
  ensureLocalnetGuard(bridge: string): void;
  /** Whether this backend's guard for the bridge is in place (false when its tool is missing). */
  hasLocalnetGuard(bridge: string): boolean;
}
