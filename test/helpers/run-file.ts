// Runs ONE uvu test file in this process for test/run.mjs and ends with one result line
// "##tsbridge-result {json}". Unlike uvu's own CLI, a file that throws while loading is a named
// failure (not the end of the whole suite), a swallowed hook error or a suite never run is a
// failure, and skips are reported with their reasons. Usage: node run-file.js FILE
import * as path from 'node:path';

interface Result {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  /** failures that are not a test's own assertion: load errors, hooks, .only, suites not run */
  problems: string[];
  /** "suite › test: reason" for every skip */
  skips: string[];
  /** not counted: tests that took more than half their timeout */
  notes: string[];
}

type Runner = () => Promise<[string | true, number, number, number]>;

async function main(): Promise<void> {
  const file = path.resolve(process.argv[2] ?? '');
  const result: Result = { file, passed: 0, failed: 0, skipped: 0, problems: [], skips: [], notes: [] };
  let finished = false;
  process.on('exit', () => {
    if (finished) return;
    // the event loop ran dry with a test still pending (a promise nothing will ever settle)
    result.failed++;
    result.problems.push(
      `${path.basename(file)}: the process ran out of work before its tests finished (a test ` +
        `awaits something that never settles)`,
    );
    process.stdout.write(`\n##tsbridge-result ${JSON.stringify(result)}\n`);
    process.exitCode = 1;
  });

  (globalThis as any).UVU_DEFER = 1; // before uvu loads: queue the suites, run them here
  const guard = require('./guard') as typeof import('./guard');
  guard.installGuard();
  const queue: unknown[][] = ((globalThis as any).UVU_QUEUE ??= []);
  queue.push([path.basename(file)]);
  (globalThis as any).UVU_INDEX = queue.length - 1;
  process.stdout.write(`${path.basename(file)}\n`);
  let loaded = false;
  try {
    require(file);
    loaded = true;
  } catch (e) {
    result.failed++;
    result.problems.push(
      `${path.basename(file)}: threw while loading: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
    );
  }

  for (const group of queue) {
    for (const run of group.slice(1) as Runner[]) {
      const hookErrors = guard.guardState.records.filter((r) => r.kind === 'hook').length;
      try {
        const [errs, ran, skipped, total] = await run();
        result.passed += ran;
        result.skipped += skipped;
        result.failed += total - ran;
        if (errs !== true) process.stdout.write(`\n${errs}\n`);
        else if (ran < total && guard.guardState.records.filter((r) => r.kind === 'hook').length === hookErrors) {
          // uvu swallowed a hook error (a hook not registered through the guard)
          result.problems.push(
            `${path.basename(file)}: ${total - ran} test(s) did not run: a hook failed (uvu hides its error)`,
          );
        }
      } catch (e) {
        // an `after` hook threw: uvu lets it escape the suite
        result.failed++;
        result.problems.push(
          `${path.basename(file)}: a suite's after hook threw: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
  }

  for (const r of guard.guardState.records) {
    const where = `${path.basename(file)}: ${r.suite ? `${r.suite} › ` : ''}${r.name}`;
    if (r.kind === 'fail') result.problems.push(`${where}: ${r.detail}`);
    else if (r.kind === 'slow') result.notes.push(`${where}: ${r.detail}`);
    else if (r.kind === 'hook') {
      result.problems.push(`${where} hook failed: ${r.detail.split('\n')[0]}`);
      if (r.name === 'after') result.failed++; // the others fail the tests they guard
    } else if (r.kind === 'only' && !guard.inCI())
      result.skips.push(`${where}: ${r.detail}`); // under CI it failed
    else if (r.kind === 'skip') result.skips.push(`${where}: ${r.detail}`);
    else if (r.kind === 'runtime-skip') {
      // uvu counted it as passed: move it to skipped
      result.passed--;
      result.skipped++;
      result.skips.push(`${where}: ${r.detail}`);
    }
  }
  // (after a load error the suites it never got to run are part of that one failure)
  for (const r of loaded ? guard.notRun() : []) {
    result.failed++;
    result.problems.push(`${path.basename(file)}: ${r.suite || '(default suite)'}: ${r.detail}`);
  }
  if (result.passed + result.failed + result.skipped === 0) {
    result.failed++;
    result.problems.push(`${path.basename(file)}: no tests`);
  }
  finished = true;
  process.stdout.write(`\n##tsbridge-result ${JSON.stringify(result)}\n`);
  process.exitCode = result.failed ? 1 : 0;
}

void main();
