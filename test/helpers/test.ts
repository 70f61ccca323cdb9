// What a test file uses so its count means something (see docs/testing.md "How the count is made"):
//   timeout(ms, fn)            a test (or hook) allowed longer than its suite's default
//   skip(test, name, reason)   a deliberate skip, counted and printed with its reason
//   requires(test, missing)    `test`, or when a prerequisite is missing, a registrar that counts each
//                              test as skipped (a failure under CI=true, where everything is installed)
//   skipNow(reason)            the same decided inside a running test
//   missing.*                  prerequisite checks: each returns undefined or what is missing
// Importing this module also installs the uvu guards (timeouts, hook errors) when a file is run
// with plain `node node_modules/uvu/bin.js`; under test/run.mjs they are installed anyway.
import * as fs from 'node:fs';
import type { Callback, Test } from 'uvu';
import { PREREQ, SKIP_REASON, SkipSignal, TIMEOUT, installGuard } from './guard';

installGuard();

/** `fn` with its own timeout (ms) instead of the suite's default (30 s unit, 120 s kernel). */
export function timeout<F extends Callback<any>>(ms: number, fn: F): F {
  (fn as any)[TIMEOUT] = ms;
  return fn;
}

const marked = (reason: string, prereq: boolean): Callback<any> => {
  const fn = (): void => undefined;
  (fn as any)[SKIP_REASON] = reason;
  (fn as any)[PREREQ] = prereq;
  return fn;
};

/** A deliberate skip with its reason: counted as skipped, also under CI=true. */
export function skip<T>(t: Test<T>, name: string, reason: string): void {
  t.skip(name, marked(reason, false));
}

/** What registers a test: a uvu suite, or what requires() returns (so requires() can be nested). */
export interface Registrar<T> {
  (name: string, fn: Callback<T>): void;
  skip(name?: string, fn?: Callback<T>): void;
}

/** `t`'s registration, or (when `missing` names an absent prerequisite) one that counts each test as skipped. */
export function requires<T>(t: Registrar<T>, missing: string | undefined): Registrar<T> {
  const skipAll = (name?: string): void => t.skip(name, marked(missing ?? '', true));
  const r = missing ? skipAll : (name: string, fn: Callback<T>): void => t(name, fn);
  return Object.assign(r, { skip: missing ? skipAll : (name?: string, fn?: Callback<T>) => t.skip(name, fn) });
}

/** Stop the running test: counted as skipped for `reason` (a missing prerequisite; a failure under CI=true). */
export function skipNow(reason: string): never {
  throw new SkipSignal(reason);
}

const onPath = (tool: string): boolean =>
  (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((d) => d && fs.existsSync(`${d}/${tool}`));

/** Prerequisite checks: undefined when present, else a short "what is missing" for the skip reason. */
export const missing = {
  root: (): string | undefined =>
    process.getuid?.() === 0 ? undefined : 'root (kernel tests change network namespaces)',
  tool: (...tools: string[]): string | undefined => {
    const absent = tools.filter((t) => !onPath(t));
    return absent.length ? `${absent.join(', ')} not installed` : undefined;
  },
  refPlugins: (...names: string[]): string | undefined => {
    const absent = names.filter((n) => !fs.existsSync(`/usr/lib/cni/${n}`));
    return absent.length
      ? `reference plugin(s) ${absent.join(', ')} not in /usr/lib/cni (apt-get install ` +
          `containernetworking-plugins)`
      : undefined;
  },
  /** the first of several checks that reports something missing */
  any: (...checks: (string | undefined)[]): string | undefined => checks.find(Boolean),
};
