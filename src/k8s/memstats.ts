// Memory of the long-running agents. releaseMemory: the full collection (and, when idle, the
// footprint shrink) the route agent runs after each resync. memoryOnSignal, for finding a leak in
// the field: on SIGUSR2 the process logs one line with its RSS and, under Bun, the JS heap after a
// full collection (what is really retained) and the most numerous object types; the handler only
// reads (and collects: a few ms).
import * as fs from 'node:fs';

interface BunGlobal {
  gc?: (force: boolean) => void;
  shrink?: () => void;
}
interface JscHeapStats {
  heapSize: number;
  heapCapacity: number;
  extraMemorySize: number;
  objectCount: number;
  objectTypeCounts: Record<string, number>;
}

const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

/** VmRSS in bytes, as ps and the soak read it. */
function rss(): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

let released = { times: 0, shrinks: 0, ms: 0 };

/**
 * A full collection, for after a burst of work (the route agent's resync): between collections the
 * heap holds the garbage of every event since the last one, and the allocator keeps the pages it
 * grew to. With `shrink` (the caller was idle), then Bun.shrink() (JSC's shrinkFootprintWhenIdle,
 * run once this JS returns to the event loop): it drops compiled code (recompiled when next used:
 * CPU, hence not during a burst), collects once more and has the engine's allocator return its free
 * pages to the OS; without it the agent's quiet RSS crept up with the event count (`make soak-agent`:
 * +8-11 % at 50-100k events; with it see docs/kubernetes.md). Under Bun only (Node: a no-op); the
 * time the collection took is counted for memoryLine() (the deferred shrink's is not).
 */
export function releaseMemory(shrink: boolean): void {
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  if (!bun?.gc) return;
  const t = performance.now();
  bun.gc(true);
  const ms = performance.now() - t;
  const shrunk = shrink && typeof bun.shrink === 'function';
  if (shrunk) bun.shrink?.();
  released = { times: released.times + 1, shrinks: released.shrinks + (shrunk ? 1 : 0), ms: released.ms + ms };
}

/** The line: RSS before and after a full collection, heap, and the `top` most numerous object types. */
export function memoryLine(top = 12): string {
  const before = rss();
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  let stats: JscHeapStats | undefined;
  if (bun?.gc) {
    bun.gc(true);
    try {
      stats = (require('bun:jsc') as { heapStats(): JscHeapStats }).heapStats();
    } catch {
      /* not Bun's JSC */
    }
  }
  const parts = [
    `rss ${mib(before)} (after a full GC ${mib(rss())})`,
    `${released.times} collections after resyncs (${released.shrinks} with a footprint shrink), ` +
      `${released.ms.toFixed(0)} ms in all`,
  ];
  if (stats) {
    const types = Object.entries(stats.objectTypeCounts)
      .sort((a, b) => b[1] - a[1])
      .slice(0, top);
    parts.push(
      `heap ${mib(stats.heapSize)} of ${mib(stats.heapCapacity)}, extra ` +
        `${mib(stats.extraMemorySize)}, ${stats.objectCount} objects`,
      `most: ${types.map(([k, v]) => `${k} ${v}`).join(', ')}`,
    );
  } else {
    const u = process.memoryUsage();
    parts.push(`heap ${mib(u.heapUsed)} of ${mib(u.heapTotal)}, external ${mib(u.external)}`);
  }
  return `memory: ${parts.join('; ')}`;
}

/** Log memoryLine() on each SIGUSR2 until `signal` aborts. */
export function memoryOnSignal(log: (m: string) => void, signal: AbortSignal): void {
  const on = (): void => log(memoryLine());
  process.on('SIGUSR2', on);
  signal.addEventListener('abort', () => process.off('SIGUSR2', on), { once: true });
}
