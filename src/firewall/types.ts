// The contract between the plugin commands and a netfilter backend.

export type Family = 4 | 6;

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

export interface FirewallBackend {
  readonly name: 'iptables' | 'nftables';
  /** Installs (or rewrites) the attachment's masquerade rules: one atomic batch per family (iptables) / one nft transaction. */
  addMasquerade(t: MasqTarget): void;
  /** Removes them again. Idempotent; finds the rules by the (network, containerId) chain, so needs no IPs and no netns. */
  delMasquerade(network: string, containerId: string, ifname: string): void;
  /** Human-readable problems with the attachment's rules; [] when all are present. */
  checkMasquerade(t: MasqTarget): string[];
  /** Container IDs that have masquerade rules of this network (for GC). */
  listContainers(network: string): string[];
}
