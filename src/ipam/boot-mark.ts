// Reservations outlive a reboot (the store is on disk) while every container is gone with it, and
// runtimes rarely send DEL or GC for them: host-local leaks every address on every reboot. tsbridge
// keeps a mark in the network directory (`tsbridge-boot`, 0600):
//   <boot_id of the boot the entries were made in>\n
//   <ip> <inode> <mtime in ns>\n      one line per record tsbridge created in that boot
// When an ADD, GC or STATUS finds a mark from another boot, the records it lists are dead: they were
// made in an earlier boot. Each is released only if the file is still the very one we created
// (same inode and nanosecond mtime), so a record the reference host-local (which writes no mark)
// made, or made again under the same name, is never touched. Then the mark restarts for this boot.
// Pure parsing and the decision live here; the disk store does the I/O.

export const BOOT_MARK = 'tsbridge-boot';
const BOOT_ID = /^[0-9a-fA-F][0-9a-fA-F-]{7,63}$/;
const ENTRY = /^(\S+) (\d+) (\d+)$/;

export interface FileId {
  ino: bigint;
  mtimeNs: bigint;
}
export interface MarkEntry extends FileId {
  ip: string;
}
export interface BootMark {
  bootId: string;
  entries: MarkEntry[];
}

export const isBootId = (s: string): boolean => BOOT_ID.test(s);

/** The boot ID in a mark's first line, or undefined if it has none. */
export function markBoot(text: string): string | undefined {
  const nl = text.indexOf('\n');
  const first = nl < 0 ? text : text.slice(0, nl);
  return isBootId(first) ? first : undefined;
}

/** The mark, or undefined if its first line is not a boot ID. Malformed entry lines (a torn append) are skipped. */
export function parseMark(text: string): BootMark | undefined {
  const bootId = markBoot(text);
  if (bootId === undefined) return undefined;
  const entries: MarkEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const m = ENTRY.exec(line);
    if (m) entries.push({ ip: m[1], ino: BigInt(m[2]), mtimeNs: BigInt(m[3]) });
  }
  return { bootId, entries };
}

export const formatEntry = (e: MarkEntry): string => `${e.ip} ${e.ino} ${e.mtimeNs}\n`;
export const formatMark = (m: BootMark): string => `${m.bootId}\n${m.entries.map(formatEntry).join('')}`;

/**
 * The IPs whose records died with an earlier boot: none while the mark is this boot's; otherwise
 * those listed whose file is, by identity, the one tsbridge created (`files`: the records in the
 * store now, with their identity). Everything else stays.
 */
export function deadReservations(mark: BootMark, currentBoot: string, files: ReadonlyMap<string, FileId>): string[] {
  if (mark.bootId === currentBoot) return [];
  const dead = new Set<string>();
  for (const e of mark.entries) {
    const f = files.get(e.ip);
    if (f && f.ino === e.ino && f.mtimeNs === e.mtimeNs) dead.add(e.ip);
  }
  return [...dead];
}

/** The mark only grows within a boot; rewrite it without released entries once it is mostly those. */
export function shouldCompact(markSize: number, recordCount: number): boolean {
  return markSize > 64 * 1024 && markSize > 2 * 64 * recordCount;
}
