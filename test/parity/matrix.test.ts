// The differential suite: each config of matrix.ts through the reference chain and the plugin under
// test (PARITY_PLUGIN, else TSBRIDGE_BIN: test/helpers/paths.ts); any difference not in allowlist.ts fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ALLOWED, matches, PENDING_ISSUE_12 } from './allowlist';
import { CaseRun, formatDiffs, runCase } from './harness';
import { CASES, removeFixtures } from './matrix';

const used = new Set<object>();
/** PARITY_CASES: a regular expression choosing the cases to run (all by default). */
const only = process.env.PARITY_CASES ? new RegExp(process.env.PARITY_CASES) : undefined;
const chosen = CASES.filter((c) => !only || only.test(c.name));

// Cases run PARITY_JOBS at a time (default 2: most of a case is waiting for processes); each test
// awaits its own case's run, so the report stays in matrix order.
const jobs = Math.max(1, Number(process.env.PARITY_JOBS ?? 2));
const runs = new Map<string, Promise<CaseRun>>();
let active = 0;
const waiting: (() => void)[] = [];
async function acquire(): Promise<void> {
  if (active < jobs) {
    active++;
    return;
  }
  await new Promise<void>((r) => waiting.push(r)); // the releaser hands its slot over
}
function release(): void {
  const w = waiting.shift();
  if (w) w();
  else active--;
}
function startAll(): void {
  if (runs.size) return;
  for (const c of chosen) {
    const p = (async () => {
      await acquire();
      try {
        return await runCase(c);
      } finally {
        release();
      }
    })();
    p.catch(() => undefined); // reported by its own test
    runs.set(c.name, p);
  }
}

for (const c of chosen) {
  test(c.name, async () => {
    startAll();
    const { diffs, notes } = await runs.get(c.name)!;
    const left = diffs.filter((d) => {
      const e = [...ALLOWED, ...PENDING_ISSUE_12].find((x) => matches(x, c.name, d));
      if (e) used.add(e);
      return !e;
    });
    if (process.env.PARITY_DUMP)
      console.log(JSON.stringify({ case: c.name, diffs: process.env.PARITY_DUMP === 'all' ? diffs : left, notes }));
    const stale = ALLOWED.filter((e) => e.cases.includes(c.name) && !diffs.some((d) => matches(e, c.name, d)));
    if (left.length || stale.length) {
      assert.unreachable(
        `${c.name}: ${left.length} difference(s) from the reference not in ` +
          `allowlist.ts\n${formatDiffs(left, c.name)}` +
          (stale.length
            ? `\n  allowlist entries that no longer match:\n${stale.map((e) => `    ${e.path}`).join('\n')}`
            : '') +
          (notes.length ? `\n  notes:\n    ${notes.join('\n    ')}` : ''),
      );
    }
  });
}

test.after(() => {
  removeFixtures();
  const done = PENDING_ISSUE_12.filter((e) => !used.has(e) && e.cases.every((n) => chosen.some((c) => c.name === n)));
  if (done.length) {
    console.log(
      `parity: ${done.length} pending issue-12 entr${done.length === 1 ? 'y' : 'ies'} matched nothing ` +
        `(fixed? delete them):`,
    );
    for (const e of done) console.log(`  ${e.pending} ${e.cases.join(',')} ${e.path}`);
  }
});

test.run();
