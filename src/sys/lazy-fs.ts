// node:fs loaded on first use rather than at start-up: under Bun it costs every invocation
// milliseconds and megabytes, and VERSION answers without it (plugin/dispatch.ts).
let fsModule: typeof import('node:fs') | undefined;

export const fs = (): typeof import('node:fs') => (fsModule ??= require('node:fs') as typeof import('node:fs'));
