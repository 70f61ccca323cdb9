// sysctl through /proc/sys. Paths under /proc/sys/net belong to the network namespace of the
// thread that opens them, so the host's values are read outside any withNetns().
import * as fs from 'node:fs';

/** "net.ipv4.ip_forward" -> "/proc/sys/net/ipv4/ip_forward" (keys with dots in a device name: use the path). */
const pathOf = (key: string): string => (key.startsWith('/proc/sys/') ? key : `/proc/sys/${key.replace(/\./g, '/')}`);

export function readSysctl(key: string): string | undefined {
  try {
    return fs.readFileSync(pathOf(key), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Set a sysctl (a dotted key or a /proc/sys path); skipped when it already has the value. */
export function writeSysctl(key: string, value: string): void {
  if (readSysctl(key) === value) return;
  fs.writeFileSync(pathOf(key), value);
}
