// What the binary knows about its own build, for any bundler: one `define` constant, TSBRIDGE_BUILD
// (esbuild `define`, `bun build --define`, Bun.build({ define })), a JSON object read only by
// src/build-info.ts: the version from package.json, the git commit, the build date, and the license
// texts of what the bundle embeds (the runtime's, and every npm package reachable from
// package.json's dependencies, collected from node_modules).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

function licenseText(dir) {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^(licen[cs]e|copying|notice)(\.|$)/i.test(f))
    .sort();
  return files.map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim()).join('\n\n');
}

/** Runtime dependencies, depth first, from node_modules (types only packages embed no code). */
function dependencyLicenses(root) {
  const seen = new Map();
  const visit = (name, from) => {
    if (seen.has(name) || name.startsWith('@types/')) return;
    // node's resolution: nested node_modules first, then the top level
    const dir = [path.join(from, 'node_modules', name), path.join(root, 'node_modules', name)].find((d) =>
      fs.existsSync(path.join(d, 'package.json')),
    );
    if (!dir) throw new Error(`build-info: dependency ${name} not in node_modules (npm ci)`);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const text = licenseText(dir);
    if (!text) throw new Error(`build-info: ${name} ships no LICENSE file: add its text by hand`);
    seen.set(name, { name, version: pkg.version, license: pkg.license ?? '', text });
    for (const d of Object.keys(pkg.dependencies ?? {})) visit(d, dir);
  };
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  for (const d of Object.keys(pkg.dependencies ?? {})) visit(d, root);
  return [...seen.values()];
}

/** The runtime's entry: `name` (e.g. "Node.js") and the directory of its npm package. */
function runtimeLicense({ name, dir }) {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const text = licenseText(dir);
  if (!text) throw new Error(`build-info: the runtime's package ${dir} ships no LICENSE file`);
  return { name, version: pkg.version, license: pkg.license ?? '', text };
}

function gitCommit(root) {
  try {
    const c = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${c}-dirty` : c;
  } catch {
    return 'unknown';
  }
}

/**
 * The define map for the bundler. `runtime`: the runtime embedded in the executable, with the
 * directory of its npm package (holding its LICENSE).
 * SOURCE_DATE_EPOCH (reproducible builds) fixes the date.
 */
export function buildDefine(root, runtime) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const info = {
    version: pkg.version,
    commit: gitCommit(root),
    date: (epoch ? new Date(Number(epoch) * 1000) : new Date()).toISOString().replace(/\.\d+Z$/, 'Z'),
    licenses: [
      {
        name: 'tsbridge',
        version: pkg.version,
        license: pkg.license,
        text: `tsbridge is licensed under ${pkg.license}.`,
      },
      runtimeLicense(runtime),
      ...dependencyLicenses(root),
    ],
  };
  return { TSBRIDGE_BUILD: JSON.stringify(info) };
}
