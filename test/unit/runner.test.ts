// The runner's own count (test/run.mjs): each fixture suite in test/runner-fixtures is run as a
// suite, with and without CI=true; each must come out as a failure or a counted skip, never a pass.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = path.resolve(__dirname, '../../../..');
const fixtures = path.join(root, 'build', 'js', 'test', 'runner-fixtures');

interface Count {
  passed: number;
  failed: number;
  skipped: number;
  status: number;
  out: string;
}

/** Run test/run.mjs on fixture suites; the closing line parsed (it must be the last line). */
function run(ci: boolean, ...dirs: string[]): Count {
  const r = spawnSync(
    process.execPath,
    [path.join(root, 'test', 'run.mjs'), ...dirs.map((d) => (path.isAbsolute(d) ? d : path.join(fixtures, d)))],
    {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, CI: ci ? 'true' : '', TSB_TEST_STATUS: '' },
      timeout: 25_000,
    },
  );
  const out = `${r.stdout}\n${r.stderr}`;
  const last = r.stdout.trimEnd().split('\n').pop() ?? '';
  const m = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/.exec(last);
  assert.ok(m, `no closing line in:\n${out}`);
  return { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0), status: r.status ?? -1, out };
}

const is = (c: Count, want: [number, number, number], why: string): void => {
  assert.equal([c.passed, c.failed, c.skipped], want, `${why}:\n${c.out}`);
  assert.is(c.status, want[1] ? 1 : 0, `exit status:\n${c.out}`);
};

test('a healthy suite passes, its hook ran, and no skip is appended to the line', () => {
  const c = run(true, 'healthy');
  is(c, [3, 0, 0], 'healthy');
  assert.match(c.out.trimEnd().split('\n').pop()!, /^3 passed, 0 failed$/);
});

test('a bare .skip is a counted skip; under CI=true a failure; an explained skip is counted in both', () => {
  is(run(false, 'skip'), [1, 0, 2], 'not CI');
  const ci = run(true, 'skip');
  is(ci, [1, 1, 1], 'CI');
  assert.match(ci.out, /bare skip: test\.skip without a reason/);
});

test('a missing prerequisite (at registration or while running) is a counted skip; under CI=true a failure', () => {
  const c = run(false, 'prereq');
  is(c, [1, 0, 2], 'not CI');
  assert.match(c.out, /skipped prereq\.test\.js: needs the tool: fixture: an absent tool/);
  is(run(true, 'prereq'), [1, 2, 0], 'CI');
});

test('a stray .only: the dropped tests count as skipped; under CI=true it fails', () => {
  is(run(false, 'only'), [1, 0, 2], 'not CI');
  is(run(true, 'only'), [0, 1, 2], 'CI');
});

test('a file that throws while loading is one failure named by file; the rest of its suite still runs', () => {
  const c = run(false, 'throws');
  is(c, [1, 1, 0], 'throws');
  assert.match(c.out, /FAIL a-throws\.test\.js: threw while loading: Error: fixture: boom while loading/);
});

test('failing before / before.each / after hooks are failures and their error is printed', () => {
  const c = run(false, 'hook');
  is(c, [1, 4, 0], 'hook');
  assert.match(c.out, /before fails › before hook failed: Error: fixture: before boom/);
  assert.match(c.out, /before\.each fails › before\.each hook failed: Error: fixture: before\.each boom/);
  assert.match(c.out, /after fails › after hook failed: Error: fixture: after boom/);
});

test('a file with no tests, a suite never run() and an empty suite directory are failures', () => {
  is(run(false, 'empty'), [0, 1, 0], 'empty file');
  is(run(false, 'norun'), [0, 1, 0], 'run() forgotten');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-empty-suite-'));
  try {
    const c = run(false, dir);
    is(c, [0, 1, 0], 'empty directory');
    assert.match(c.out, /0 tests, fewer than its minimum 1/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an async hang fails by its timeout with its name, and the next test still runs', () => {
  const c = run(false, 'hang');
  is(c, [1, 1, 0], 'hang');
  assert.match(c.out, /waits forever: timed out after 300 ms/);
});

test('a hang that blocks the event loop is killed by the watchdog and named', () => {
  const c = run(false, 'block');
  is(c, [0, 1, 0], 'block');
  assert.match(c.out, /spins forever hung/);
});

test('skips never cancel failures: two failing tests next to skipped ones still read "2 failed"', () => {
  is(run(false, 'fail', 'skip', 'only'), [2, 2, 4], 'fail + skip + only');
});

test.run();
