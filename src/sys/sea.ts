// Are we the single executable (SEA) or the compiled JS run by a plain `node` (tests)? Kept apart
// from native.ts so that main.ts can ask without loading crypto at start-up.
export function isSea(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}
