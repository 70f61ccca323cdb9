// One-off helper for the 120-column rule: the formatter wraps code, but not the text inside
// comments or string literals. This splits those (a comment into more comment lines, a string into
// 'a ' + 'b') at a space before column 120; run the formatter afterwards to lay out the result.
// Usage: node build/wrap-long-lines.mjs FILE...   (rewrites the files in place)
import * as fs from 'node:fs';
import ts from 'typescript';

const MAX = 120;

for (const file of process.argv.slice(2)) {
  let text = fs.readFileSync(file, 'utf8');
  for (let pass = 0; pass < 2000; pass++) {
    const next = wrapOnce(file, text);
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
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
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
    const trail = trailingComment(sf, text, starts[i], line);
    if (trail !== null) {
      const code = line.slice(0, trail).trimEnd();
      const words = line.slice(trail).replace(/^\/\/\s?/, '').split(' ');
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
function trailingComment(sf, text, lineStart, line) {
  for (const r of commentRanges(sf)) {
    if (r.kind !== ts.SyntaxKind.SingleLineCommentTrivia) continue;
    if (r.pos > lineStart && r.pos < lineStart + line.length && line.slice(0, r.pos - lineStart).trim() !== '') {
      return r.pos - lineStart;
    }
  }
  return null;
}

function tokenAt(sf, pos) {
  let hit;
  const visit = (node) => {
    if (node.getStart(sf) <= pos && pos < node.getEnd()) {
      hit = node;
      ts.forEachChild(node, visit);
    }
  };
  visit(sf);
  return hit;
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
      else if (k === ts.SyntaxKind.NoSubstitutionTemplateLiteral) best = cutTemplate(text, [[start + 1, node.getEnd() - 1]], lineStart);
      else if (ts.isTemplateExpression(node) && !ts.isTaggedTemplateExpression(node.parent)) {
        const spans = [[node.head.getStart(sf) + 1, node.head.getEnd() - 2]];
        for (const s of node.templateSpans) {
          const lit = s.literal;
          const isTail = lit.kind === ts.SyntaxKind.TemplateTail;
          spans.push([lit.getStart(sf) + 1, lit.getEnd() - (isTail ? 1 : 2)]);
        }
        best = cutTemplate(text, spans, lineStart);
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
  // last space before column MAX-4 (room for the quote and ` +`), at least 20 characters in
  for (let p = Math.min(end - 2, lineStart + MAX - 4); p > start + 20; p--) {
    if (text[p] === ' ' && !escaped(text, p)) return { at: p + 1, insert: `${q} +\n${q}` };
  }
  return null;
}

function cutTemplate(text, spans, lineStart) {
  for (let p = lineStart + MAX - 4; p > lineStart; p--) {
    if (text[p] !== ' ' || escaped(text, p)) continue;
    if (spans.some(([a, b]) => a + 2 < p && p < b)) return { at: p + 1, insert: '` +\n`' };
  }
  return null;
}

function escaped(text, p) {
  let n = 0;
  for (let i = p - 1; text[i] === '\\'; i--) n++;
  return n % 2 === 1;
}
