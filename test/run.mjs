// Runs every suite and prints the closing line CI reads: "N passed, M failed".
//   unit   - uvu, no root needed;  kernel - uvu, root, real network namespaces (both from build/js/test)
//   e2e    - test/e2e/run.sh: tsbridge under ctr, podman and containerd's CRI (installs them first)
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const uvu = path.join(root, 'node_modules', 'uvu', 'bin.js');
const suites = process.argv.length > 2 ? process.argv.slice(2) : ['unit', 'kernel', 'e2e'];

let passed = 0;
let failed = 0;
let skipped = 0;
for (const suite of suites) {
  if (suite === 'e2e') {
    const r = spawnSync('bash', [path.join(root, 'test', 'e2e', 'run.sh')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 << 20 });
    process.stdout.write(r.stdout);
    const m = [...r.stdout.matchAll(/^(\d+) passed, (\d+) failed$/gm)].pop();
    const p = m ? Number(m[1]) : 0;
    const f = m ? Number(m[2]) : 0;
    const failedNow = f || (r.status !== 0 ? 1 : 0);
    passed += p;
    failed += failedNow;
    console.log(`[e2e] ${p} passed, ${failedNow} failed`);
    continue;
  }
  const dir = path.join(root, 'build', 'js', 'test', suite);
  const r = spawnSync(process.execPath, [uvu, dir, '\\.test\\.js$'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 << 20 });
  process.stdout.write(r.stdout);
  const num = (label) => Number((r.stdout.match(new RegExp(`${label}:\\s+(\\d+)`)) ?? [])[1] ?? 0);
  const total = num('Total');
  const p = num('Passed');
  const s = num('Skipped');
  let f = total - p - s;
  // a file that crashed before reporting counts as one failure
  if (r.status !== 0 && f === 0) f = 1;
  passed += p;
  failed += f;
  skipped += s;
  console.log(`[${suite}] ${p} passed, ${f} failed${s ? `, ${s} skipped` : ''}`);
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed ? 1 : 0;
