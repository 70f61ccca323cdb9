// Tools are run only when root (or the user running the tests) owns them and their directories and
// nobody else may write them: a tool planted earlier on PATH is skipped. As root the planted copy
// belongs to another user; otherwise its directory is world-writable (both are refused).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runToolOk, which } from '../../src/sys/exec';
import { findTrustedTool, pathProblem } from '../../src/sys/owner';

const root = process.geteuid?.() === 0;
/** Make `p` something another user may change. */
function foreign(p: string): void {
  if (root) fs.chownSync(p, 65534, 65534);
  else fs.chmodSync(p, 0o777);
}

function tool(dir: string, name: string, says: string, mode = 0o755): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const p = path.join(dir, name);
  fs.writeFileSync(p, `#!/bin/sh\necho ${says}\n`, { mode });
  fs.chmodSync(p, mode);
  return p;
}

test('a tool planted earlier on PATH by another user is skipped; the trusted one later on PATH runs', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-owner-'));
  const savedPath = process.env.PATH;
  try {
    fs.chmodSync(d, 0o755);
    const name = `tsbt-tool-${process.pid}`;
    const planted = path.join(d, 'planted');
    tool(planted, name, 'planted');
    foreign(planted);
    const good = tool(path.join(d, 'good'), name, 'trusted');
    assert.match(pathProblem(path.join(planted, name)) ?? '', root ? /owned by uid 65534, not root/ : /writable by/);
    assert.is(pathProblem(good), undefined, 'positive control');
    process.env.PATH = `${planted}:${path.join(d, 'good')}:${savedPath}`;
    assert.is(which(name), good);
    assert.is(runToolOk(name, []).trim(), 'trusted');
    // the same tool on its own: nothing to run
    assert.is(findTrustedTool(name, [planted]), null);
  } finally {
    process.env.PATH = savedPath;
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test(
  'refused: a group/other-writable tool, a tool under a directory another user controls, a link into such a ' +
    'directory',
  () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-owner-'));
    try {
      fs.chmodSync(d, 0o755);
      const writable = tool(path.join(d, 'a'), 't', 'x', 0o775);
      assert.match(pathProblem(writable) ?? '', /writable by its group \(mode 0775\)/);
      const deep = tool(path.join(d, 'b', 'bin'), 't', 'x');
      assert.is(pathProblem(deep), undefined, 'positive control');
      foreign(path.join(d, 'b'));
      assert.match(pathProblem(deep) ?? '', /\/b (is owned by uid 65534|is writable by)/);
      const target = tool(path.join(d, 'c'), 't', 'x');
      fs.mkdirSync(path.join(d, 'links'), { mode: 0o755 });
      fs.symlinkSync(target, path.join(d, 'links', 't'));
      assert.is(pathProblem(path.join(d, 'links', 't')), undefined, 'a link into a trusted directory is fine');
      foreign(path.join(d, 'c'));
      assert.match(pathProblem(path.join(d, 'links', 't')) ?? '', /\/c (is owned by uid 65534|is writable by)/);
      // a sticky world-writable directory (like /tmp) is fine on the way
      fs.mkdirSync(path.join(d, 'sticky'), { mode: 0o755 });
      fs.chmodSync(path.join(d, 'sticky'), 0o1777);
      assert.is(pathProblem(tool(path.join(d, 'sticky', 'bin'), 't', 'x')), undefined);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  },
);

test.run();
