// Runs the test suites and prints the closing line CI reads: "N passed, M failed" (", K skipped"
// appended when K > 0). How the count is made (docs/testing.md):
// - each uvu test file runs in its own process (build/js/test/helpers/run-file.js), which reports a
//   structured result; a file that throws while loading is one named failure and the rest of its
//   suite still runs; a file with no tests is a failure;
// - every test and hook has a timeout (the suite's default below, or timeout(ms, fn) from
//   test/helpers/test); a hang that blocks the event loop is caught by the watchdog here and named;
// - a skip is counted and printed with its reason, never as a pass; under CI=true (where every
//   prerequisite is installed) a missing prerequisite, `.only` and a `.skip` without a reason fail;
// - a suite with fewer tests (passed + failed + skipped) than its minimum fails.
// Usage: node test/run.mjs [suite|suite:file-regex|directory|file.test.js ...]   (default: every suite in SUITES)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

// One line per suite. min: the fewest tests it may report (raise it when you add tests);
// timeout: per-test default (ms); jobs: files run at once; needs: 'root' (otherwise each of its
// tests is counted as skipped, a failure under CI=true); source: the suite only counts once that
// source directory exists (before that it is listed as "not present" and not run).
const SUITES = [
  // unit tests run on the shipped runtime (bun from npm); the others drive the built binary
  { name: 'unit', dir: 'build/js/test/unit', min: 340, timeout: 30_000, jobs: 2, runtime: 'node_modules/.bin/bun' },
  { name: 'kernel', dir: 'build/js/test/kernel', min: 276, timeout: 120_000, jobs: 1, needs: 'root' },
  // issue 12's differential suite: reference plugins vs tsbridge in twin namespaces (test/parity)
  {
    name: 'parity',
    dir: 'build/js/test/parity',
    min: 68,
    timeout: 120_000,
    jobs: 1,
    needs: 'root',
    source: 'test/parity',
  },
  { name: 'e2e', script: 'test/e2e/run.sh', min: 136 },
  // a VM on Debian's stock kernel (6.1, with bridge VLAN filtering and 802.1Q): test/vm/guest/*.sh
  { name: 'vm', script: 'test/vm/run.sh', min: 44 },
];

const RESULT = '##tsbridge-result ';
const driver = path.join(root, 'build', 'js', 'test', 'helpers', 'run-file.js');
const children = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const pid of children) killGroup(pid);
    process.exit(130);
  });
}

function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A suite from the table, or an ad-hoc one for a directory of compiled test files or one file (min 1). */
function suiteOf(arg) {
  const known = SUITES.find((s) => s.name === arg);
  if (known) return known;
  // "suite:regex": the files of a suite whose name matches (its minimum does not apply)
  const [name, pattern] = [arg.slice(0, arg.indexOf(':')), arg.slice(arg.indexOf(':') + 1)];
  const part = SUITES.find((s) => s.name === name && s.dir);
  if (part && arg.includes(':')) return { ...part, name: arg, min: 1, filter: new RegExp(pattern) };
  if (arg.includes('/') || fs.existsSync(arg)) {
    return {
      name: path.basename(arg),
      dir: path.resolve(arg),
      min: 1,
      timeout: Number(process.env.TSB_TEST_TIMEOUT_MS) || 30_000,
      jobs: 1,
    };
  }
  throw new Error(`unknown suite "${arg}" (known: ${SUITES.map((s) => s.name).join(', ')}, or a directory)`);
}

/** What the whole suite lacks on this machine ('' when nothing). */
function suiteMissing(suite) {
  return suite.needs === 'root' && process.getuid?.() !== 0 ? 'root (these tests make network namespaces)' : '';
}

/** Run one test file in its own process; resolves with its result (a failure when it never reported). */
function runFile(suite, file, stream) {
  return new Promise((resolve) => {
    const statusFile = path.join(os.tmpdir(), `tsbridge-test-status-${process.pid}-${path.basename(file)}`);
    fs.rmSync(statusFile, { force: true });
    const started = Date.now();
    const child = spawn(suite.runtime ? path.join(root, suite.runtime) : process.execPath, [driver, file], {
      cwd: root,
      detached: true, // its own process group: a hang is killed with everything it started
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TSB_TEST_TIMEOUT_MS: String(suite.timeout),
        TSB_TEST_STATUS: statusFile,
        TSB_SUITE_MISSING: suiteMissing(suite),
      },
    });
    children.add(child.pid);
    let out = '';
    let err = '';
    let hung;
    child.stdout.on('data', (b) => {
      out += b;
      if (stream)
        process.stdout.write(
          String(b)
            .split('\n')
            .filter((l) => !l.startsWith(RESULT))
            .join('\n'),
        );
    });
    child.stderr.on('data', (b) => {
      err += b;
      if (stream) process.stderr.write(b);
    });
    const watchdog = setInterval(() => {
      let st = { test: '(loading the file)', timeout: suite.timeout, started };
      try {
        st = JSON.parse(fs.readFileSync(statusFile, 'utf8'));
      } catch {
        // not started a test yet
      }
      const grace = Math.min(st.timeout, 10_000) + 2_000;
      if (Date.now() - st.started > st.timeout + grace) {
        hung =
          `${st.suite ? `${st.suite} › ` : ''}${st.test} hung (no end ${st.timeout} ms + ${grace} ms after it ` +
          `started; the event loop was blocked or the process would not exit): killed`;
        killGroup(child.pid);
      }
    }, 500);
    child.on('close', (code, signal) => {
      clearInterval(watchdog);
      children.delete(child.pid);
      fs.rmSync(statusFile, { force: true });
      if (!stream) {
        process.stdout.write(
          out
            .split('\n')
            .filter((l) => !l.startsWith(RESULT))
            .join('\n'),
        );
        process.stderr.write(err);
      }
      const name = path.relative(path.resolve(root, suite.dir), file) || path.basename(file);
      const at = out.lastIndexOf(`\n${RESULT}`);
      let r;
      try {
        r = at >= 0 ? JSON.parse(out.slice(at + RESULT.length + 1).split('\n')[0]) : undefined;
      } catch {
        r = undefined;
      }
      if (hung) {
        r ??= { passed: 0, failed: 0, skipped: 0, problems: [], skips: [] };
        r.failed++;
        r.problems.push(`${name}: ${hung}`);
      } else if (!r) {
        r = {
          passed: 0,
          failed: 1,
          skipped: 0,
          problems: [`${name}: exited (${signal ?? code}) without reporting a result`],
          skips: [],
        };
      } else if (code !== 0 && r.failed === 0) {
        r.failed = 1;
        r.problems.push(`${name}: exited with ${signal ?? code} although its tests passed`);
      }
      resolve(r);
    });
  });
}

/** Every *.test.js below `dir`, sorted (as uvu lists them). */
function testFiles(dir) {
  if (fs.statSync(dir).isFile()) return [dir];
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.js')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

async function runUvuSuite(suite) {
  const dir = path.resolve(root, suite.dir);
  const total = { passed: 0, failed: 0, skipped: 0, problems: [], skips: [], notes: [] };
  if (!fs.existsSync(driver) || !fs.existsSync(dir)) {
    total.failed = 1;
    total.problems.push(
      `${path.relative(root, fs.existsSync(driver) ? dir : driver)} is missing: run \`make compile\` first`,
    );
    return total;
  }
  const files = testFiles(dir).filter((f) => !suite.filter || suite.filter.test(path.relative(dir, f)));
  const results = new Array(files.length);
  let next = 0;
  const stream = suite.jobs === 1;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      results[i] = await runFile(suite, files[i], stream);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, suite.jobs) }, worker));
  for (const r of results) {
    total.passed += r.passed;
    total.failed += r.failed;
    total.skipped += r.skipped;
    total.problems.push(...r.problems);
    total.skips.push(...r.skips);
    total.notes.push(...(r.notes ?? []));
  }
  return total;
}

function runScriptSuite(suite) {
  return new Promise((resolve) => {
    const child = spawn('bash', [path.join(root, suite.script)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b) => {
      out += b;
      process.stdout.write(b);
    });
    child.on('close', (code) => {
      // the script's own closing line, the last one of that shape
      const m = [...out.matchAll(/^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/gm)].pop();
      const r = {
        passed: m ? Number(m[1]) : 0,
        failed: m ? Number(m[2]) : 0,
        skipped: m?.[3] ? Number(m[3]) : 0,
        problems: [],
        skips: [],
      };
      if (!m) r.problems.push(`${suite.script} printed no "N passed, M failed" line`);
      if (code !== 0 && r.failed === 0) {
        r.failed = 1;
        r.problems.push(`${suite.script} exited with ${code}`);
      }
      for (const l of out.matchAll(/^skip (.*)$/gm)) r.skips.push(`${suite.name}: ${l[1]}`);
      resolve(r);
    });
  });
}

async function main() {
  const args = process.argv.slice(2);
  const suites = args.length ? args.map(suiteOf) : SUITES;
  const sum = { passed: 0, failed: 0, skipped: 0 };
  const lines = [];
  for (const suite of suites) {
    if (suite.source && !fs.existsSync(path.join(root, suite.source))) {
      lines.push(`[${suite.name}] not present yet (no ${suite.source}): not run`);
      continue;
    }
    const r = suite.script ? await runScriptSuite(suite) : await runUvuSuite(suite);
    const tests = r.passed + r.failed + r.skipped;
    if (tests < suite.min) {
      r.failed++;
      r.problems.push(
        `${suite.name}: ${tests} tests, fewer than its minimum ${suite.min} (tests vanished, or update ` +
          `SUITES in test/run.mjs)`,
      );
    }
    // never below zero, whatever a suite reported
    r.failed = Math.max(0, r.failed);
    r.passed = Math.max(0, r.passed);
    sum.passed += r.passed;
    sum.failed += r.failed;
    sum.skipped += r.skipped;
    lines.push(`[${suite.name}] ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}`);
    for (const p of r.problems) lines.push(`  FAIL ${p.split('\n').join('\n       ')}`);
    for (const s of r.skips) lines.push(`  skipped ${s}`);
    for (const n of r.notes ?? []) lines.push(`  slow ${n}`);
  }
  console.log(`\n${lines.join('\n')}`);
  console.log(`${sum.passed} passed, ${sum.failed} failed${sum.skipped ? `, ${sum.skipped} skipped` : ''}`);
  process.exitCode = sum.failed ? 1 : 0;
}

await main();
