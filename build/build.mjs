// Build the single executable: our N-API addon (gcc), then `bun build --compile --bytecode` of
// src/main.ts with the addon embedded as an asset, every autoload the compile flags control turned
// off. Bun comes from npm (`bun` -> `@oven/bun-<platform>`), pinned in package.json: nothing is
// downloaded at build time. Then the same for linux-arm64 (build/bin/tsbridge-arm64), cross-built:
// the addon with Debian's aarch64-linux-gnu-gcc, the runtime from @oven/bun-linux-aarch64 (pinned
// in build/arm64, installed by build/deps.sh). `--host-only` skips the arm64 binary.
// The bytecode is laid out by the committed profile in build/bytecode-order/ (which functions a
// call runs: fewer executable pages touched, lower RSS), when it is there; `--recorder` builds only
// build/recorder/tsbridge, the host binary that may write such a profile
// (build/record-bytecode-order.mjs, `make bytecode-order`; docs/build.md).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { buildDefine } from './build-info.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = path.join(root, 'build');
const require = createRequire(import.meta.url);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', ...opts });

/** The real bun binary: the platform package's, or the `bun` package's once its postinstall linked it. */
function bunBinary() {
  const arch = process.arch === 'arm64' ? 'aarch64' : process.arch;
  const candidates = [];
  try {
    candidates.push(path.join(path.dirname(require.resolve(`@oven/bun-linux-${arch}/package.json`)), 'bin', 'bun'));
  } catch {
    /* not installed */
  }
  candidates.push(path.join(path.dirname(require.resolve('bun/package.json')), 'bin', 'bun.exe'));
  for (const c of candidates) {
    try {
      const head = Buffer.alloc(4);
      const fd = fs.openSync(c, 'r');
      fs.readSync(fd, head, 0, 4, 0);
      fs.closeSync(fd);
      if (head.toString('latin1') === '\x7fELF') return c;
    } catch {
      /* try the next */
    }
  }
  throw new Error(`no bun binary in node_modules (tried ${candidates.join(', ')}): run npm ci`);
}

/** The runtime's license entry: npm `bun` ships no LICENSE file, conf/licenses/bun.txt stands in. */
function bunRuntime() {
  const dir = path.join(out, 'bundle', 'bun-license');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(require.resolve('bun/package.json'), path.join(dir, 'package.json'));
  fs.copyFileSync(path.join(root, 'conf', 'licenses', 'bun.txt'), path.join(dir, 'LICENSE'));
  return { name: 'Bun', dir };
}

fs.mkdirSync(path.join(out, 'native'), { recursive: true });
fs.mkdirSync(path.join(out, 'bin'), { recursive: true });

// 1. our syscall addon (N-API: one build runs under Bun and under Node, for the tests).
const napiInclude = path.join(path.dirname(require.resolve('node-api-headers/package.json')), 'include');
const addon = (cc, file) =>
  run(cc, [
    '-O2',
    '-Wall',
    '-Werror',
    '-shared',
    '-fPIC',
    '-I',
    napiInclude,
    path.join(root, 'native', 'tsb_sys.c'),
    '-o',
    file,
  ]);
addon('gcc', path.join(out, 'native', 'tsb_sys.node'));
// `--native-only`: just the addon (what the compiled tests in build/js load; `make test-unit`)
if (process.argv.includes('--native-only')) process.exit(0);

// 2. bundle + compile (bun's own bundler reads the TypeScript). The addon is an asset, read by
// src/sys/native.ts from /$bunfs and loaded only through the verified cache; an imported .node
// would be dlopened by Bun from a temp file of its own. Autoloads off: a runtime execs us from any
// working directory (test/kernel/binary-env). TSBRIDGE_BUILD: version, commit, date, licenses.
const defines = Object.entries(buildDefine(root, bunRuntime())).map(([k, v]) => `--define=${k}=${v}`);

const JIT_POLICY = 100;

const sha256File = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// The profile: one order file per CNI command, most important first (bun places the functions of
// the first file first). A missing file is left out; if none exists, no --bytecode-order at all.
const ORDER_DIR = path.join(root, 'build', 'bytecode-order');
const ORDER_FIRST = ['add', 'del', 'check', 'version'];
function orderFiles() {
  let names;
  try {
    names = fs.readdirSync(ORDER_DIR).filter((f) => f.endsWith('.order'));
  } catch {
    return [];
  }
  const rank = (f) => {
    const i = ORDER_FIRST.indexOf(f.slice(0, -'.order'.length));
    return i < 0 ? ORDER_FIRST.length : i;
  };
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((f) => path.join(ORDER_DIR, f));
}

const RECORDER = process.argv.includes('--recorder');
const orders = RECORDER ? [] : orderFiles();

/** One `bun build --compile` of src/main.ts into <dir>/<name> for `target`, `addonFile` embedded. */
function compile(name, addonFile, target, extra, dir = path.join(out, 'bin')) {
  const tmp = path.join(dir, `.${name}.tmp`);
  const bunArgs = (order) => [
    'build',
    path.join(root, 'src', 'main.ts'),
    '--compile',
    '--bytecode',
    '--minify',
    `--target=${target}`,
    '--format=cjs',
    // A plugin run executes almost every function once: JIT compiling any of it is CPU (and
    // executable memory) spent for nothing. Tier-up thresholds x100 keep run-once code in the
    // interpreter; long-running commands restore the normal policy (main.ts).
    `--compile-jit-policy=${JIT_POLICY}`,
    '--no-compile-autoload-dotenv',
    '--no-compile-autoload-bunfig',
    '--no-compile-autoload-tsconfig',
    '--no-compile-autoload-package-json',
    `--asset=${addonFile}`,
    ...defines,
    // the cache (src/sys/native.ts) is checked against this without reading the asset
    `--define=TSBRIDGE_NATIVE_SHA256=${JSON.stringify(sha256File(addonFile))}`,
    ...extra,
    ...(order.length ? [`--bytecode-order=${order.join(',')}`] : []),
    '--outfile',
    tmp,
  ];
  const opts = { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NO_COLOR: '1' } };
  let used = orders;
  try {
    run(bunBinary(), bunArgs(used), opts);
  } catch (e) {
    // a stale profile only warns (bun: "record it again"), an unreadable one fails: never the build
    if (!used.length) throw e;
    console.error(`build: ${name} failed with the bytecode order files; built again without them`);
    used = [];
    run(bunBinary(), bunArgs(used), opts);
  }
  fs.chmodSync(tmp, 0o755);
  const file = path.join(dir, name);
  fs.renameSync(tmp, file);
  const laid = used.length ? `, bytecode laid out by ${used.map((o) => path.basename(o)).join(',')}` : '';
  console.log(`built ${file} (${(fs.statSync(file).size / 1e6).toFixed(1)} MB${laid})`);
}

if (RECORDER) {
  const dir = path.join(out, 'recorder');
  fs.mkdirSync(dir, { recursive: true });
  compile(
    'tsbridge',
    path.join(out, 'native', 'tsb_sys.node'),
    'bun',
    ['--define=TSBRIDGE_RECORD_BYTECODE_ORDER=true'],
    dir,
  );
  process.exit(0);
}
compile('tsbridge', path.join(out, 'native', 'tsb_sys.node'), 'bun', []);
if (process.argv.includes('--host-only')) process.exit(0);

// 3. linux-arm64. The addon keeps its file name (build/native-arm64/tsb_sys.node), so it lands at
// the same /$bunfs path and goes through the same verified cache. The runtime's version must be
// the host bun's: the bytecode and the bundle are made by the host bun for that runtime.
const CROSS_CC = 'aarch64-linux-gnu-gcc';
const fail = (msg) => {
  console.error(`build: ${msg}`);
  process.exit(1);
};
try {
  execFileSync(CROSS_CC, ['--version'], { stdio: 'ignore' });
} catch {
  fail(
    `${CROSS_CC} not found: the arm64 binary needs Debian's gcc-aarch64-linux-gnu ` +
      '(`make deps`, or apt-get install gcc-aarch64-linux-gnu); `node build/build.mjs --host-only` skips it',
  );
}
const arm64Bun = path.join(root, 'build', 'arm64', 'node_modules', '@oven', 'bun-linux-aarch64');
if (!fs.existsSync(path.join(arm64Bun, 'bin', 'bun'))) {
  fail(`${arm64Bun}/bin/bun missing: run \`make deps\` (npm ci in build/arm64)`);
}
const hostVersion = JSON.parse(fs.readFileSync(require.resolve('bun/package.json'), 'utf8')).version;
const armVersion = JSON.parse(fs.readFileSync(path.join(arm64Bun, 'package.json'), 'utf8')).version;
if (hostVersion !== armVersion) {
  fail(
    `build/arm64 pins @oven/bun-linux-aarch64 ${armVersion} but bun is ${hostVersion}: pin the same version in ` +
      `both`,
  );
}
fs.mkdirSync(path.join(out, 'native-arm64'), { recursive: true });
addon(CROSS_CC, path.join(out, 'native-arm64', 'tsb_sys.node'));
compile('tsbridge-arm64', path.join(out, 'native-arm64', 'tsb_sys.node'), 'bun-linux-arm64', [
  `--compile-executable-path=${path.join(arm64Bun, 'bin', 'bun')}`,
]);
