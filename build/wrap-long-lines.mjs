// One-off helper for the 120-column rule: the formatter wraps code, but not the text inside
// comments or string literals. This splits those (a comment into more comment lines, a string into
// 'a ' + 'b') at a space before column 120; run the formatter afterwards to lay out the result.
// With --join, the reverse: 'a ' + 'b' standing on one line (the formatter brought it back
// together) becomes 'a b' again.
// Usage: node build/wrap-long-lines.mjs [--join] FILE...   (rewrites the files in place)
import * as fs from 'node:fs';
import ts from 'typescript';

const MAX = 120;

const join = process.argv.includes('--join');
for (const file of process.argv.slice(2).filter((a) => a !== '--join')) {
  let text = fs.readFileSync(file, 'utf8');
  for (let pass = 0; pass < 2000; pass++) {
    const next = join ? joinOnce(file, text) : wrapOnce(file, text);
    if (next === text) break;
    text = next;
  }
  fs.writeFileSync(file, text);
}

/** One edit (the first long line that can be wrapped), or the text unchanged. */
function wrapOnce(file, text) {
  const lines = text.split('\n');
  const starts = [];
  for (let i = 0, off = 0; i < lines.length; off += lines[i].length + 1, i++) starts.push(off);
  const sf = ts.createSourceFile(
    file,
    text,
    ts.ScriptTarget.Latest,
    true,
    file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS,
  );
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.length <= MAX) continue;
    const indent = line.match(/^\s*/)[0];
    const t = line.trim();
    // A whole-line // comment.
    if (t.startsWith('//')) {
      const head = `${indent}// `;
      const words = t.replace(/^\/\/\s?/, '').split(' ');
      const out = fill(words, head, head);
      if (out.length > 1) return splice(lines, i, out);
      continue;
    }
    // A one-line /** ... */ doc comment.
    const doc = t.match(/^\/\*\*\s?(.*?)\s*\*\/$/);
    if (doc) {
      const body = fill(doc[1].split(' '), `${indent} * `, `${indent} * `);
      return splice(lines, i, [`${indent}/**`, ...body, `${indent} */`]);
    }
    // A line inside a /* */ block comment (` * text`).
    if (t.startsWith('* ') && insideBlockComment(sf, starts[i] + indent.length)) {
      const out = fill(t.slice(2).split(' '), `${indent}* `, `${indent}* `);
      if (out.length > 1) return splice(lines, i, out);
      continue;
    }
    // A trailing // comment after code: move it above the line.
    const trail = trailingComment(sf, starts[i], line);
    if (trail !== null) {
      const code = line.slice(0, trail).trimEnd();
      const words = line
        .slice(trail)
        .replace(/^\/\/\s?/, '')
        .split(' ');
      return splice(lines, i, [...fill(words, `${indent}// `, `${indent}// `), code]);
    }
    // A string or template literal crossing column 120: split it at a space before the column.
    const edit = splitLiteral(sf, text, starts[i], line);
    if (edit) return text.slice(0, edit.at) + edit.insert + text.slice(edit.at);
  }
  return text;
}

function fill(words, first, rest) {
  const out = [];
  let cur = first;
  let empty = true;
  for (const w of words) {
    if (!empty && cur.length + 1 + w.length > MAX) {
      out.push(cur);
      cur = rest + w;
    } else {
      cur += (empty ? '' : ' ') + w;
    }
    empty = false;
  }
  out.push(cur);
  return out;
}

function splice(lines, i, repl) {
  return [...lines.slice(0, i), ...repl, ...lines.slice(i + 1)].join('\n');
}

/** Every comment in the file: [pos, end, kind], found from each node's leading and trailing trivia. */
function commentRanges(sf) {
  const seen = new Map();
  const add = (rs) => {
    for (const r of rs ?? []) seen.set(r.pos, r);
  };
  const visit = (node) => {
    add(ts.getLeadingCommentRanges(sf.text, node.getFullStart()));
    add(ts.getTrailingCommentRanges(sf.text, node.getEnd()));
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return [...seen.values()];
}

function insideBlockComment(sf, pos) {
  return commentRanges(sf).some((r) => r.kind === ts.SyntaxKind.MultiLineCommentTrivia && r.pos < pos && pos < r.end);
}

/** Column of a `//` comment that ends this line after some code, or null. */
function trailingComment(sf, lineStart, line) {
  for (const r of commentRanges(sf)) {
    if (r.kind !== ts.SyntaxKind.SingleLineCommentTrivia) continue;
    if (r.pos > lineStart && r.pos < lineStart + line.length && line.slice(0, r.pos - lineStart).trim() !== '') {
      return r.pos - lineStart;
    }
  }
  return null;
}

/** Where to cut a literal on this line: {at, insert} to place `' + '` (or the template form). */
function splitLiteral(sf, text, lineStart, line) {
  const lineEnd = lineStart + line.length;
  let best = null;
  const visit = (node) => {
    if (best) return;
    const start = node.getStart(sf);
    if (node.getEnd() <= lineStart || start >= lineEnd) return;
    const k = node.kind;
    const parentTagged = node.parent && ts.isTaggedTemplateExpression(node.parent);
    const isTypeLiteral = node.parent && ts.isLiteralTypeNode(node.parent);
    const isImport = node.parent && (ts.isImportDeclaration(node.parent) || ts.isExportDeclaration(node.parent));
    const isKey = node.parent && ts.isPropertyAssignment(node.parent) && node.parent.name === node;
    if (!parentTagged && !isTypeLiteral && !isImport && !isKey) {
      if (k === ts.SyntaxKind.StringLiteral) best = cutString(text, start, node.getEnd(), lineStart);
      else if (k === ts.SyntaxKind.NoSubstitutionTemplateLiteral)
        best = cutTemplate(text, [[start + 1, node.getEnd() - 1]], lineStart, start, node.getEnd());
      else if (ts.isTemplateExpression(node) && !ts.isTaggedTemplateExpression(node.parent)) {
        const spans = [[node.head.getStart(sf) + 1, node.head.getEnd() - 2]];
        for (const s of node.templateSpans) {
          const lit = s.literal;
          const isTail = lit.kind === ts.SyntaxKind.TemplateTail;
          spans.push([lit.getStart(sf) + 1, lit.getEnd() - (isTail ? 1 : 2)]);
        }
        best = cutTemplate(text, spans, lineStart, start, node.getEnd());
      }
    }
    if (!best) ts.forEachChild(node, visit);
  };
  visit(sf);
  return best;
}

function cutString(text, start, end, lineStart) {
  const q = text[start];
  if (q !== "'" && q !== '"') return null;
  const raw = text.slice(start + 1, end - 1);
  if (raw.includes('\n')) return null;
  const at = bestSpace(text, start + 20, Math.min(end - 2, lineStart + MAX - 4), (start + end) / 2);
  return at === null ? null : { at: at + 1, insert: `${q} +\n${q}` };
}

function cutTemplate(text, spans, lineStart, start, end) {
  const inText = (p) => spans.some(([a, b]) => a + 2 < p && p < b);
  const at = bestSpace(text, lineStart, lineStart + MAX - 4, (start + end) / 2, inText);
  return at === null ? null : { at: at + 1, insert: '` +\n`' };
}

/**
 * The unescaped space in (lo, hi] nearest to `mid`: halves of even length read better than a
 * word carried alone to the next line.
 */
function bestSpace(text, lo, hi, mid, ok = () => true) {
  let best = null;
  for (let p = hi; p > lo; p--) {
    if (text[p] !== ' ' || escaped(text, p) || !ok(p)) continue;
    if (best === null || Math.abs(p - mid) < Math.abs(best - mid)) best = p;
  }
  return best;
}

function escaped(text, p) {
  let n = 0;
  for (let i = p - 1; text[i] === '\\'; i--) n++;
  return n % 2 === 1;
}

/** One join of two literals of the same kind that `+` puts side by side on one line, or the text unchanged. */
function joinOnce(file, text) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, scriptKind(file));
  let edit = null;
  const lineOf = (pos) => sf.getLineAndCharacterOfPosition(pos).line;
  const visit = (node) => {
    if (edit) return;
    if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      let left = node.left;
      while (ts.isBinaryExpression(left) && left.operatorToken.kind === ts.SyntaxKind.PlusToken) left = left.right;
      const right = node.right;
      const l = left.getStart(sf);
      const r = right.getStart(sf);
      const sameLine = lineOf(left.getEnd()) === lineOf(r);
      const strings = ts.isStringLiteral(left) && ts.isStringLiteral(right) && text[l] === text[r];
      const templates =
        (ts.isNoSubstitutionTemplateLiteral(left) || ts.isTemplateExpression(left)) &&
        (ts.isNoSubstitutionTemplateLiteral(right) || ts.isTemplateExpression(right)) &&
        !ts.isTaggedTemplateExpression(left.parent) &&
        !ts.isTaggedTemplateExpression(right.parent);
      if (sameLine && (strings || templates)) edit = { from: left.getEnd() - 1, to: r + 1 };
    }
    if (!edit) ts.forEachChild(node, visit);
  };
  visit(sf);
  return edit ? text.slice(0, edit.from) + text.slice(edit.to) : text;
}

function scriptKind(file) {
  return file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS;
}
