// The house rules a machine can check: Biome's formatter and linter pass on the tree (biome.jsonc),
// its layering rules really refuse an import that runs up a floor (each planted in a scratch tree,
// with an allowed import beside it as the control), and no line of code is over 120 characters.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = path.resolve(__dirname, '../../../..');
const BIOME = path.join(ROOT, 'node_modules', '.bin', 'biome');
const MAX_COLUMNS = 120;

function biome(args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync(BIOME, [...args, '--colors=off'], { cwd, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('biome ci (format and lint, layering included) passes on the tree', () => {
  const r = biome(['ci', '--max-diagnostics=50'], ROOT);
  assert.is(r.status, 0, `biome ci failed (fix with \`make fmt\`, then the lint findings by hand):\n${r.out}`);
});

// [file in src/, import line, refused?]: each refused import is a floor the layering forbids; the
// allowed ones beside them show the rule is not simply refusing everything.
const PLANTS: [string, string, boolean][] = [
  ['cni/planted.ts', "import { flock } from '../sys/flock';", true],
  ['cni/planted.ts', "import { ErrCode } from './errors';", false],
  ['ip/planted.ts', "import { log } from '../log';", true],
  ['ip/planted.ts', "import { ErrCode } from '../cni/errors';", false],
  ['safe-text.ts', "import { log } from './log';", true],
  ['build-info.ts', "import { SUPPORTED_VERSIONS } from './cni/version';", false],
  ['sys/planted.ts', "import { getLink } from '../netlink/link';", true],
  ['sys/planted.ts', "import { ErrCode } from '../cni/errors';", false],
  ['netlink/planted.ts', "import { rtnetlink } from '../sys/native';", true],
  ['netlink/socket.ts', "import { rtnetlink } from '../sys/native';", false],
  ['ipam/planted.ts', "import { selectBackend } from '../firewall';", true],
  ['ipam/planted.ts', "import { rtnetlink } from '../sys/native';", true],
  ['firewall/nft/planted.ts', "import { getLink } from '../../netlink/link';", true],
  ['firewall/nft/planted.ts', "import { runTool } from '../../sys/exec';", false],
  ['attachment/planted.ts', "import { cmdAdd } from '../plugin/add';", true],
  ['plugin/planted.ts', "import { runDoctor } from '../doctor/cli';", true],
  ['plugin/planted.ts', "import { routesAgent } from '../k8s/routes';", true],
  ['plugin/planted.ts', "import { BridgeConfig } from '../attachment/config';", false],
  ['k8s/planted.ts', "import { cmdAdd } from '../plugin/add';", true],
  ['doctor/planted.ts', "import { cmdCheck } from '../plugin/check';", true],
  ['doctor/planted.ts', "import { routesAgent } from '../k8s/routes';", true],
  ['doctor/planted.ts', "import { BridgeConfig } from '../attachment/config';", false],
];

test('the layering rules refuse imports that run up a floor, and only those', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbridge-lint-'));
  try {
    // the project's config, minus the git integration (the scratch tree is not a checkout)
    const config = fs.readFileSync(path.join(ROOT, 'biome.jsonc'), 'utf8').replace(/^\s*"vcs":.*$/m, '');
    fs.writeFileSync(path.join(dir, 'biome.jsonc'), config.replace(/"\$schema":[^\n]*\n/, ''));
    const wrong: string[] = [];
    for (const [file, line, refused] of PLANTS) {
      // one plant at a time, under its real name (socket.ts is the one file allowed the rtnetlink half)
      fs.rmSync(path.join(dir, 'src'), { recursive: true, force: true });
      const f = path.join(dir, 'src', file);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, `${line}\n\nexport const used = [${line.match(/\{ (\w+) \}/)![1]}];\n`);
      const r = biome(['lint', 'src'], dir);
      const flagged = /lint\/style\/noRestrictedImports/.test(r.out);
      if (flagged !== refused) wrong.push(`${file}: ${line} ${refused ? 'not refused' : 'refused'}\n${r.out}`);
    }
    assert.equal(wrong, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(`no line of code is over ${MAX_COLUMNS} characters`, () => {
  const r = spawnSync('git', ['ls-files', '-z', '--', '*.ts', '*.mjs', '*.sh', '*.c', 'Makefile'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.is(r.status, 0, `git ls-files failed: ${r.stderr}`);
  const files = r.stdout.split('\0').filter(Boolean);
  assert.ok(files.length > 100, `only ${files.length} files listed: is this a checkout?`);
  const long: string[] = [];
  for (const f of files) {
    fs.readFileSync(path.join(ROOT, f), 'utf8')
      .split('\n')
      .forEach((l, i) => {
        if (l.length > MAX_COLUMNS) long.push(`${f}:${i + 1} (${l.length})`);
      });
  }
  assert.equal(long, [], `lines over ${MAX_COLUMNS} characters:\n${long.slice(0, 40).join('\n')}`);
});

test.run();
