// Are we the single executable (bun build --compile) or the compiled JS run by a plain runtime
// (tests)? Kept apart from native.ts so that main.ts can ask without loading crypto at start-up.
// A compiled executable runs its code from Bun's embedded file system, /$bunfs/.
export const EMBEDDED_ROOT = '/$bunfs/root/';

export function isCompiled(): boolean {
  const bun = (globalThis as { Bun?: { main?: string } }).Bun;
  return typeof bun?.main === 'string' && bun.main.startsWith(EMBEDDED_ROOT);
}
