// The IPAM entry points the plugin calls. Each takes the network directory's lock exactly once,
// for the whole operation, like one run of the reference host-local binary.
import { allocateAll, freeAddressCount } from './allocator';
import type { Route } from '../cni/result';
import { HostLocalConfig, toParsedRange } from './config';
import { withDiskStore } from './disk-store';
import { Dns, readResolvConf } from './resolv-conf';
import { Reservation } from './store';

export interface IpamResult {
  ips: { address: string; gateway?: string; version: '4' | '6' }[];
  routes: Route[];
  dns: Dns;
}

// The first ADD, GC or STATUS of a boot releases what tsbridge reserved in earlier boots (boot-mark.ts).
const AFTER_REBOOT = { releaseEarlierBoots: true };

export interface Attachment {
  containerId: string;
  ifname: string;
}

/** ADD: one address per range set; `requested` defaults to the IPs given to parseHostLocalConfig. */
export function allocate(
  cfg: HostLocalConfig,
  network: string,
  containerId: string,
  ifname: string,
  requested: string[] = cfg.requested,
): IpamResult {
  // Read before reserving anything, so a bad resolvConf leaves nothing behind.
  const dns = cfg.resolvConf ? readResolvConf(cfg.resolvConf) : {};
  const allocations = withDiskStore(
    cfg.dataDir,
    network,
    (store) => allocateAll(store, cfg.ranges, containerId, ifname, requested),
    AFTER_REBOOT,
  );
  return {
    ips: allocations.map((a) => ({
      address: `${a.ip}/${a.prefix}`,
      ...(a.gateway ? { gateway: a.gateway } : {}),
      version: a.family === 4 ? '4' : '6',
    })),
    routes: cfg.routes.map((r) => ({ ...r })),
    dns,
  };
}

/** DEL: frees every address of the attachment (nothing to free is success). */
export function release(cfg: HostLocalConfig, network: string, containerId: string, ifname: string): string[] {
  return withDiskStore(cfg.dataDir, network, (store) => store.releaseByAttachment(containerId, ifname));
}

/** CHECK: the addresses the attachment holds. */
export function findByAttachment(cfg: HostLocalConfig, network: string, containerId: string, ifname: string): string[] {
  return withDiskStore(cfg.dataDir, network, (store) => store.findByAttachment(containerId, ifname));
}

export function listAttachments(cfg: HostLocalConfig, network: string): Reservation[] {
  return withDiskStore(cfg.dataDir, network, (store) => store.listAll());
}

/**
 * GC: frees every address whose attachment is not in `valid`. An old-format record (container ID
 * only) stays while any valid attachment has its container ID. Foreign files are never touched.
 */
export function gc(cfg: HostLocalConfig, network: string, valid: Attachment[]): string[] {
  const exact = new Set(valid.map((a) => `${a.containerId.trim()}\n${a.ifname}`));
  const ids = new Set(valid.map((a) => a.containerId.trim()));
  const keep = (r: Reservation): boolean =>
    r.ifname === '' ? ids.has(r.containerId) : exact.has(`${r.containerId}\n${r.ifname}`);
  return withDiskStore(
    cfg.dataDir,
    network,
    (store) => {
      const stale = store
        .listAll()
        .filter((r) => !keep(r))
        .map((r) => r.ip);
      for (const ip of stale) store.release(ip);
      return stale;
    },
    AFTER_REBOOT,
  );
}

/**
 * STATUS: per range set, how many addresses are still free and how many the set spans.
 * `readOnly` (doctor): leave earlier boots' reservations alone; they then count as taken.
 */
export function rangeSetUsage(
  cfg: HostLocalConfig,
  network: string,
  readOnly = false,
): { free: bigint; size: bigint }[] {
  return withDiskStore(
    cfg.dataDir,
    network,
    (store) =>
      cfg.ranges.map((set) => ({
        free: freeAddressCount(store, set),
        size: set.map(toParsedRange).reduce((n, r) => n + (r.end.value - r.start.value + 1n), 0n),
      })),
    readOnly ? undefined : AFTER_REBOOT,
  );
}

/** Indices of the range sets with no address left to hand out. */
export function exhaustedRangeSets(cfg: HostLocalConfig, network: string): number[] {
  return rangeSetUsage(cfg, network).flatMap((u, i) => (u.free === 0n ? [i] : []));
}
