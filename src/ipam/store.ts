// What the allocator needs from persistence, kept apart from it as the reference does (its
// backend.Store), so allocation logic is tested over memory and the disk layout on its own.
// Every call assumes the caller holds the store's lock for the whole ADD/DEL/GC.
import { CniError, ErrCode } from '../cni/errors';

export interface Reservation {
  ip: string;
  containerId: string;
  /** '' for a file in host-local's old format, which recorded only the container ID. */
  ifname: string;
}

export interface Store {
  /** Records ip for the attachment and remembers it as the set's last reservation; false if already taken. */
  reserve(containerId: string, ifname: string, ip: string, rangeSetIndex: number): boolean;
  lastReservedIP(rangeSetIndex: number): string | undefined;
  release(ip: string): void;
  /**
   * Frees the attachment's IPs; old-format (ID-only) records are freed only when no exact match exists, like the
   * reference.
   */
  releaseByAttachment(containerId: string, ifname: string): string[];
  /** IPs held by the attachment, old-format ID-only records of the container included. */
  findByAttachment(containerId: string, ifname: string): string[];
  listAll(): Reservation[];
  /** Every address that cannot be reserved now, whoever holds it (foreign or unreadable records too). */
  reservedIPs(): string[];
  isReserved(ip: string): boolean;
}

/**
 * What a container ID or interface name may look like in a record: the record is `<id>\r\n<ifname>`,
 * and neither valid container IDs (spec) nor Linux interface names contain whitespace or controls.
 */
export const ATTACHMENT_PART = /^[^\s\x00-\x1f\x7f]+$/;

/** Refuses what could not be read back as the same attachment. */
export function checkAttachment(containerId: string, ifname: string): void {
  if (!ATTACHMENT_PART.test(containerId.trim())) {
    throw new CniError(ErrCode.InvalidEnv, `invalid CNI_CONTAINERID ${JSON.stringify(containerId)}`);
  }
  if (!ATTACHMENT_PART.test(ifname)) {
    throw new CniError(ErrCode.InvalidEnv, `invalid CNI_IFNAME ${JSON.stringify(ifname)}`);
  }
}

/** Does a record belong to the attachment? `legacy` also accepts the old ID-only form. */
/** The addresses of `records` that belong to the attachment (what findByAttachment answers). */
export function ipsOfAttachment(records: Reservation[], containerId: string, ifname: string): string[] {
  return records.filter((r) => matchesAttachment(r, containerId, ifname, true)).map((r) => r.ip);
}

export function matchesAttachment(r: Reservation, containerId: string, ifname: string, legacy: boolean): boolean {
  if (r.containerId !== containerId.trim()) return false;
  return r.ifname === ifname || (legacy && r.ifname === '');
}

/** Shared release rule: exact records first; only if there are none, the container's old ID-only ones. */
export function selectForRelease(all: Reservation[], containerId: string, ifname: string): Reservation[] {
  const exact = all.filter((r) => r.ifname !== '' && matchesAttachment(r, containerId, ifname, false));
  return exact.length > 0
    ? exact
    : all.filter((r) => r.ifname === '' && matchesAttachment(r, containerId, ifname, true));
}

/** A Store in memory: used by tests of the allocator, and a reference for the disk store's semantics. */
export class MemoryStore implements Store {
  readonly records = new Map<string, Reservation>();
  readonly last = new Map<number, string>();

  reserve(containerId: string, ifname: string, ip: string, rangeSetIndex: number): boolean {
    checkAttachment(containerId, ifname);
    if (this.records.has(ip)) return false;
    this.records.set(ip, { ip, containerId: containerId.trim(), ifname });
    this.last.set(rangeSetIndex, ip);
    return true;
  }
  lastReservedIP(rangeSetIndex: number): string | undefined {
    return this.last.get(rangeSetIndex);
  }
  release(ip: string): void {
    this.records.delete(ip);
  }
  releaseByAttachment(containerId: string, ifname: string): string[] {
    const freed = selectForRelease(this.listAll(), containerId, ifname).map((r) => r.ip);
    for (const ip of freed) this.records.delete(ip);
    return freed;
  }
  findByAttachment(containerId: string, ifname: string): string[] {
    return ipsOfAttachment(this.listAll(), containerId, ifname);
  }
  listAll(): Reservation[] {
    return [...this.records.values()];
  }
  reservedIPs(): string[] {
    return [...this.records.keys()];
  }
  isReserved(ip: string): boolean {
    return this.records.has(ip);
  }
}
