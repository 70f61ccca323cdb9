// README.md and docs/*.md: every relative link points at a file that exists, and every #anchor at a
// heading of its target (GitHub's slugs). Each docs/*.md page is reachable from the README.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from '../helpers/paths';

/** The text outside fenced code blocks and inline code spans (links there are examples, not links). */
function prose(md: string): string {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchors for a file's headings: rendered text, lower case, punctuation dropped, spaces → '-'. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const text = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The relative links of `file` that do not resolve, as "file: target (why)". */
function brokenLinks(file: string): string[] {
  const broken: string[] = [];
  for (const m of prose(fs.readFileSync(file, 'utf8')).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto: …: not ours to check
    const [rel, anchor] = target.split('#', 2) as [string, string | undefined];
    const dest = rel === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(rel));
    if (!fs.existsSync(dest)) {
      broken.push(`${path.relative(ROOT, file)}: ${target} (no such file)`);
      continue;
    }
    if (anchor !== undefined && !(dest.endsWith('.md') && anchors(fs.readFileSync(dest, 'utf8')).has(anchor))) {
      broken.push(`${path.relative(ROOT, file)}: ${target} (no heading #${anchor} in ${path.relative(ROOT, dest)})`);
    }
  }
  return broken;
}

const DOCS = path.join(ROOT, 'docs');
const docFiles = (): string[] =>
  fs
    .readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => path.join(DOCS, f));

test('the checker finds a planted broken link, anchor and same-file anchor (positive control)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-docs-'));
  try {
    fs.mkdirSync(path.join(dir, 'docs'));
    fs.writeFileSync(path.join(dir, 'docs', 'a.md'), '# A page\n\n## Set `x` up (twice)\n\n## Set `x` up (twice)\n');
    fs.writeFileSync(
      path.join(dir, 'README.md'),
      [
        '# Top',
        '',
        '[ok](docs/a.md) [ok](docs/a.md#a-page) [ok](docs/a.md#set-x-up-twice-1) [ok](#top) [web](https://x.invalid/y)',
        '[gone](docs/missing.md) [bad anchor](docs/a.md#nope) [bad local](#nowhere)',
        '`[in code](docs/also-missing.md)`',
        '```',
        '[in a block](docs/block-missing.md)',
        '```',
        '',
      ].join('\n'),
    );
    const found = brokenLinks(path.join(dir, 'README.md')).map((b) => b.split(': ')[1]);
    assert.equal(found, [
      'docs/missing.md (no such file)',
      'docs/a.md#nope (no heading #nope in ' + path.relative(ROOT, path.join(dir, 'docs', 'a.md')) + ')',
      '#nowhere (no heading #nowhere in ' + path.relative(ROOT, path.join(dir, 'README.md')) + ')',
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('every relative link and anchor in README.md and docs/*.md resolves', () => {
  const files = [path.join(ROOT, 'README.md'), ...docFiles()];
  assert.ok(files.length > 5, `README and docs pages found: ${files.length}`);
  assert.equal(files.flatMap(brokenLinks), []);
});

test('the README links every docs/*.md page', () => {
  const readme = prose(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  const linked = new Set([...readme.matchAll(/\]\((docs\/[^)#\s]+)/g)].map((m) => m[1]));
  const pages = docFiles().map((f) => path.relative(ROOT, f));
  assert.ok(pages.length > 0, 'docs pages exist');
  assert.equal(
    pages.filter((p) => !linked.has(p)),
    [],
  );
});

test.run();
