// sysctl through /proc/sys. Paths under /proc/sys/net belong to the network namespace of the
// thread that opens them, so the host's values are read outside any withNetns().
import * as fs from 'node:fs';

export function readSysctl(key: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function writeSysctl(key: string, value: string): void {
  const path = `/proc/sys/${key.replace(/\./g, '/')}`;
  if (readSysctl(key) === value) return; // skip the write (and its side effects) when already set
  fs.writeFileSync(path, value);
}
