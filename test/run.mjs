// Runs the uvu suites (unit: no root needed; kernel: root, real network namespaces) from the
// compiled JS in build/js/test, and prints the closing line CI reads: "N passed, M failed".
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const uvu = path.join(root, 'node_modules', 'uvu', 'bin.js');
const suites = process.argv.length > 2 ? process.argv.slice(2) : ['unit', 'kernel'];

let passed = 0;
let failed = 0;
let skipped = 0;
for (const suite of suites) {
  const dir = path.join(root, 'build', 'js', 'test', suite);
  const r = spawnSync(process.execPath, [uvu, dir, '\\.test\\.js$'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
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
