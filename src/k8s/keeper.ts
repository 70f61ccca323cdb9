// Keeps the installed files in place while the DaemonSet pod runs: a cheap check (a stat of the
// binary, a read of the small config) every interval, and sooner when inotify reports a change in
// one of the directories. A missing or altered file is written again by the Installer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Installer, Logger } from './install';

const DEBOUNCE_MS = 200;

/** onCheck: after each check, its error or undefined (the probe's status file). */
export function keepInstalled(
  inst: Installer,
  intervalMs: number,
  log: Logger,
  signal: AbortSignal,
  onCheck?: (error?: string) => void,
): Promise<void> {
  const dirs = [...new Set([path.dirname(inst.t.binPath), path.dirname(inst.t.confPath)])];
  const watchers = new Map<string, fs.FSWatcher>();
  let soon: NodeJS.Timeout | undefined;

  const check = (): void => {
    try {
      const r = inst.ensure();
      if (r.binary === 'written') log.warn(`restored ${inst.t.binPath}`);
      if (r.conflist === 'written') log.warn(`restored ${inst.t.confPath}`);
      onCheck?.();
    } catch (e) {
      log.warn(`cannot restore the installed files: ${(e as Error).message}`);
      onCheck?.((e as Error).message);
    }
    arm();
  };
  const schedule = (): void => {
    if (!soon)
      soon = setTimeout(() => {
        soon = undefined;
        check();
      }, DEBOUNCE_MS);
  };
  // a watched directory that is removed ends its watcher; the next check re-creates both
  const arm = (): void => {
    for (const d of dirs) {
      if (watchers.has(d) || signal.aborted) continue;
      try {
        const w = fs.watch(d, { persistent: false }, schedule);
        w.on('error', () => {
          w.close();
          watchers.delete(d);
        });
        w.on('close', () => watchers.delete(d));
        watchers.set(d, w);
      } catch {
        /* polling still covers it */
      }
    }
  };

  return new Promise((resolve) => {
    const timer = setInterval(check, intervalMs);
    arm();
    const stop = (): void => {
      clearInterval(timer);
      if (soon) clearTimeout(soon);
      for (const w of watchers.values()) w.close();
      resolve();
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
}
