// Untrusted strings (interface names a pod chose, IPAM record contents, CNI_ARGS, API messages)
// made safe to show: escaped for a terminal or a log line, quoted for a shell command an operator
// may paste. Pure; imported by the logger and by doctor.

/**
 * What a terminal may act on or that hides text: C0 and C1 controls and DEL, Unicode format
 * characters (bidi overrides, zero-width), line/paragraph separators, lone surrogates.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;
const HAS_UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

const JSON_RAW = /[\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}]/gu;

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** `\xHH` for a control below U+0100, `\u{H}` above; everything else unchanged. */
function escapeChar(c: string): string {
  const cp = c.codePointAt(0)!;
  return cp < 0x100 ? `\\x${hex2(cp)}` : `\\u{${cp.toString(16)}}`;
}

/** The text with every unprintable character written as an escape (newlines too: one line stays one line). */
export function escapeControls(s: string): string {
  return s.replace(UNPRINTABLE, escapeChar);
}

/**
 * JSON text in which unprintable characters inside strings are \u escapes too: JSON.stringify
 * escapes only U+0000-001F, so DEL, C1 controls (U+009B is CSI) and bidi overrides would reach a
 * terminal raw. They occur only inside strings, so rewriting them keeps the JSON equal. (C0 and
 * lone surrogates are escaped by JSON.stringify: a raw C0 here is the indentation's newline.)
 */
export function safeJson(value: unknown, indent = 2): string {
  const u = (n: number): string => `\\u${n.toString(16).padStart(4, '0')}`;
  return JSON.stringify(value, null, indent).replace(JSON_RAW, (c) =>
    [...Array(c.length).keys()].map((i) => u(c.charCodeAt(i))).join(''),
  );
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One shell word for `s`, POSIX style: as is when it has only characters no shell treats
 * specially, else in single quotes (`'` written as `'\''`). A string with unprintable characters
 * becomes a `$'...'` word (POSIX.1-2024, bash, zsh, ksh) with its UTF-8 bytes as \xHH escapes, so
 * what is printed is still exactly what the command needs and nothing reaches the terminal raw.
 */
export function shq(s: string): string {
  if (SHELL_SAFE.test(s)) return s;
  if (!HAS_UNPRINTABLE.test(s)) return `'${s.replace(/'/g, `'\\''`)}'`;
  let out = '';
  for (const ch of s) {
    if (ch === '\\' || ch === "'") out += `\\${ch}`;
    else if (HAS_UNPRINTABLE.test(ch)) out += [...Buffer.from(ch, 'utf8')].map((b) => `\\x${hex2(b)}`).join('');
    else out += ch;
  }
  return `$'${out}'`;
}

/** A command line from its words, each quoted as needed. */
export const shellCommand = (...words: string[]): string => words.map(shq).join(' ');
