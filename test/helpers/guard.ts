// Guards on uvu's `test`/`suite`, installed by the runner's per-file driver (run-file.ts) before
// a test file loads, and by test/helpers/test.ts when a file is run with plain uvu. uvu alone lets
// a count lie: a hung test never ends, a failing hook is swallowed without a message, `.only`
// silently drops the rest of a file and `.skip` reads as nothing. Here every test and hook gets a
// timeout, a hook's error is printed and recorded, and `.only`/`.skip` are recorded (and under
// CI=true turned into failures). The records are read by run-file.ts.
import * as fs from 'node:fs';

type Fn = (ctx: any) => unknown;
type Hook = ((fn: Fn) => void) & { each?: (fn: Fn) => void };
interface UvuTest {
  (name: string, fn: Fn): void;
  only(name: string, fn: Fn): void;
  skip(name?: string, fn?: Fn): void;
  before: Hook & { each(fn: Fn): void };
  after: Hook & { each(fn: Fn): void };
  run(): void;
}

/** Marks on a test function (set by test/helpers/test.ts). */
export const TIMEOUT = Symbol.for('tsbridge.test.timeout');
export const SKIP_REASON = Symbol.for('tsbridge.test.skipReason');
export const PREREQ = Symbol.for('tsbridge.test.prereq');

/** Thrown by skipNow(): the test stops and is counted as skipped (a failure under CI=true). */
export class SkipSignal extends Error {
  constructor(readonly reason: string) {
    super(`skipped: ${reason}`);
  }
}

export interface GuardRecord {
  kind: 'fail' | 'hook' | 'only' | 'skip' | 'runtime-skip' | 'not-run' | 'slow';
  suite: string;
  name: string;
  detail: string;
}

interface GuardState {
  installed: boolean;
  records: GuardRecord[];
  suites: { name: string; registered: number; ran: boolean }[];
}

const G = globalThis as unknown as { __tsbridgeGuard?: GuardState };
export const guardState: GuardState = (G.__tsbridgeGuard ??= { installed: false, records: [], suites: [] });

export const inCI = (): boolean => process.env.CI === 'true' || process.env.CI === '1';
const defaultTimeout = (): number => Number(process.env.TSB_TEST_TIMEOUT_MS) || 120_000;

/** Tells the runner's watchdog what runs now, so a hang that blocks the event loop still has a name. */
function status(suite: string, name: string, ms: number): void {
  const f = process.env.TSB_TEST_STATUS;
  if (f) fs.writeFileSync(f, JSON.stringify({ suite, test: name, timeout: ms, started: Date.now() }));
}

const label = (suite: string, name: string): string => (suite ? `${suite} › ${name}` : name);

/**
 * `fn` bounded by its timeout (its own mark, else the suite's default); a SkipSignal is handled by
 * `onSkip` (tests only: a test's failure is also recorded, so the runner's summary can name it).
 */
function bounded(suite: string, name: string, fn: Fn, onSkip?: (s: SkipSignal) => void): Fn {
  const ms = (fn as any)[TIMEOUT] ?? defaultTimeout();
  return async (ctx) => {
    status(suite, name, ms);
    const start = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out after ${ms} ms: a hang (if it is slow by design, give it ` +
                `timeout(ms, fn) from test/helpers/test)`,
            ),
          ),
        ms,
      );
    });
    try {
      await Promise.race([Promise.resolve().then(() => fn(ctx)), limit]);
    } catch (e) {
      let err = e;
      if (e instanceof SkipSignal && onSkip) {
        if (!inCI()) return onSkip(e);
        err = new Error(`prerequisite missing under CI=true: ${e.reason}`);
      }
      if (onSkip)
        guardState.records.push({
          kind: 'fail',
          suite,
          name,
          detail: (err instanceof Error ? err.message : String(err)).split('\n')[0],
        });
      throw err;
    } finally {
      clearTimeout(timer);
      // a note (never a failure): a test near its timeout will fail on a busier machine
      const took = Date.now() - start;
      if (onSkip && took > ms / 2 && took < ms)
        guardState.records.push({
          kind: 'slow',
          suite,
          name,
          detail: `took ${Math.round(took / 1000)} s of its ${Math.round(ms / 1000)} s timeout`,
        });
    }
  };
}

function failing(message: string): Fn {
  return () => {
    throw new Error(message);
  };
}

function guardHook(suite: string, kind: string, add: (fn: Fn) => void): (fn: Fn) => void {
  return (fn) =>
    add(async (ctx) => {
      try {
        await bounded(suite, `(${kind} hook)`, fn)(ctx);
      } catch (e) {
        const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
        guardState.records.push({ kind: 'hook', suite, name: kind, detail });
        // printed now: uvu drops the error of before/before.each/after.each without a word
        process.stdout.write(`\n  HOOK FAILED ${label(suite, kind)}: ${detail}\n`);
        // an `after` error escapes uvu's suite runner and loses the suite's tally: it is recorded
        // here (run-file.ts counts it as one failure) and not rethrown
        if (kind !== 'after') throw e;
      }
    });
}

/** The guarded counterpart of one uvu suite. */
export function guardSuite(orig: UvuTest, suite: string): UvuTest {
  const entry = { name: suite, registered: 0, ran: false };
  guardState.suites.push(entry);
  const onSkip =
    (name: string) =>
    (s: SkipSignal): void => {
      guardState.records.push({ kind: 'runtime-skip', suite, name, detail: s.reason });
    };
  const t = ((name: string, fn: Fn) => {
    entry.registered++;
    orig(name, bounded(suite, name, fn, onSkip(name)));
  }) as UvuTest;
  t.only = (name, fn) => {
    entry.registered++;
    guardState.records.push({
      kind: 'only',
      suite,
      name,
      detail: 'test.only: the other tests of this suite did not run',
    });
    if (inCI())
      orig.only(
        name,
        bounded(
          suite,
          name,
          failing('test.only is not allowed under CI=true: it drops every other test of the suite'),
          onSkip(name),
        ),
      );
    else orig.only(name, bounded(suite, name, fn, onSkip(name)));
  };
  t.skip = (name = '(unnamed)', fn) => {
    entry.registered++;
    const reason: string | undefined = fn && (fn as any)[SKIP_REASON];
    const prereq: boolean = !!(fn && (fn as any)[PREREQ]);
    if (inCI() && (prereq || !reason)) {
      const why = prereq
        ? `prerequisite missing under CI=true: ${reason}`
        : 'test.skip without a reason is not allowed under CI=true (use skip(test, name, reason) from ' +
          'test/helpers/test)';
      orig(name, bounded(suite, name, failing(why), onSkip(name)));
      return;
    }
    guardState.records.push({ kind: 'skip', suite, name, detail: reason ?? 'test.skip, no reason given' });
    orig.skip(name, fn);
  };
  const before = guardHook(suite, 'before', orig.before) as UvuTest['before'];
  before.each = guardHook(suite, 'before.each', orig.before.each);
  const after = guardHook(suite, 'after', orig.after) as UvuTest['after'];
  after.each = guardHook(suite, 'after.each', orig.after.each);
  t.before = before;
  t.after = after;
  t.run = () => {
    entry.ran = true;
    orig.run();
  };
  const absent = process.env.TSB_SUITE_MISSING;
  if (absent) {
    // a prerequisite the whole suite lacks (the runner sets it, e.g. root for the kernel suite):
    // every test counted as skipped (a failure under CI=true), no hook run
    const skipAll = (name = '(unnamed)'): void =>
      t.skip(
        name,
        Object.assign(() => undefined, { [SKIP_REASON]: absent, [PREREQ]: true }),
      );
    const none = Object.assign(() => undefined, { each: () => undefined });
    return Object.assign(skipAll, {
      only: skipAll,
      skip: skipAll,
      before: none,
      after: none,
      run: t.run,
    }) as unknown as UvuTest;
  }
  return t;
}

/** Patch the `uvu` module's exports (test files read them at call time, after this ran). Idempotent. */
export function installGuard(): void {
  if (guardState.installed) return;
  guardState.installed = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const uvu = require('uvu') as { suite: (name?: string, ctx?: object) => UvuTest; test: UvuTest };
  const origSuite = uvu.suite;
  uvu.suite = (name = '', ctx = {}) => guardSuite(origSuite(name, ctx), name);
  uvu.test = guardSuite(origSuite(), '');
}

/** Suites that registered tests but never called run(): their tests would vanish from the count. */
export function notRun(): GuardRecord[] {
  return guardState.suites
    .filter((s) => s.registered > 0 && !s.ran)
    .map((s) => ({
      kind: 'not-run' as const,
      suite: s.name,
      name: '(suite)',
      detail: `${s.registered} test(s) registered but run() never called`,
    }));
}
