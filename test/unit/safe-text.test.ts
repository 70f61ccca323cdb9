import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unsafeLogFile } from '../../src/log';
import { escapeControls, safeJson, shellCommand, shq } from '../../src/safe-text';

const HOSTILE = [
  'x;reboot',
  '$(reboot)',
  '`reboot`',
  "it's",
  '../x',
  'a b',
  '\x1b[2J',
  'x\ny',
  'tab\there',
  '\u009b2J',
  'evil\u202Etxt',
  '',
  '-rf',
  'ä\x7f',
];

test('shq: plain words stay as they are; anything else is one POSIX word', () => {
  for (const s of [
    'eth0',
    'veth1234abcd',
    '/run/netns/web-1',
    '10.0.0.5/24',
    'fd00::1',
    'net.ipv4.ip_forward=1',
    'a,b:c@d%e+f',
  ])
    assert.is(shq(s), s);
  assert.is(shq('x;reboot'), "'x;reboot'");
  assert.is(shq("it's"), "'it'\\''s'");
  assert.is(shq(''), "''");
  assert.is(shq('\x1b[2J'), "$'\\x1b[2J'");
  assert.is(shq("a'\x07\\"), "$'a\\'\\x07\\\\'");
  assert.is(shq('\u009b'), "$'\\xc2\\x9b'");
  for (const s of HOSTILE)
    assert.not.match(shq(s), /[\x00-\x1f\x7f\u0080-\u009f\u202e]/, `raw control in ${JSON.stringify(shq(s))}`);
});

test('shq: a shell (sh and bash) reads each quoted word back as exactly the original bytes', () => {
  for (const shell of ['sh', 'bash']) {
    for (const s of HOSTILE) {
      // $'...' is POSIX.1-2024; dash (Debian's sh) predates it, so controls are checked with bash only
      if (shell === 'sh' && shq(s).startsWith('$')) continue;
      const r = spawnSync(shell, ['-c', `printf '%s' ${shq(s)}`], { encoding: 'utf8' });
      assert.is(r.status, 0, `${shell}: ${r.stderr}`);
      assert.is(r.stdout, s, `${shell} read ${JSON.stringify(shq(s))} back differently`);
    }
  }
  // positive control: unquoted, the same word does run what is in it
  const r = spawnSync('sh', ['-c', `printf '%s' x;echo RAN`], { encoding: 'utf8' });
  assert.is(r.stdout, 'xRAN\n');
  assert.is(shellCommand('ip', 'link', 'set', 'x;reboot', 'up'), "ip link set 'x;reboot' up");
});

test('escapeControls: controls, DEL, C1, bidi and separators become escapes; text stays', () => {
  assert.is(escapeControls('a\nb\r\x1b[2J\x7f'), 'a\\x0ab\\x0d\\x1b[2J\\x7f');
  assert.is(escapeControls('\u009b \u202e \u2028'), '\\x9b \\u{202e} \\u{2028}');
  assert.is(escapeControls('eth0 ä 10.0.0.1 "x;y"'), 'eth0 ä 10.0.0.1 "x;y"');
});

test('safeJson: the same JSON value, with no raw DEL/C1/bidi characters', () => {
  const v = { a: HOSTILE, n: 1, nested: { 'k\u009b': 'v\u202e' } };
  const text = safeJson(v);
  assert.equal(JSON.parse(text), v);
  assert.not.match(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
  assert.ok(text.includes('\\u009b') && text.includes('\\u202e') && text.includes('\\u001b'));
});

test('unsafeLogFile: only a regular file of ours with one link and no group/other write', () => {
  const st = (o: Partial<{ file: boolean; uid: number; nlink: number; mode: number }>) => ({
    isFile: () => o.file ?? true,
    uid: o.uid ?? 0,
    nlink: o.nlink ?? 1,
    mode: o.mode ?? 0o100600,
  });
  assert.is(unsafeLogFile(st({}), 0), '');
  assert.is(unsafeLogFile(st({ mode: 0o100644 }), 0), '');
  assert.match(unsafeLogFile(st({ file: false }), 0), 'not a regular file');
  assert.match(unsafeLogFile(st({ uid: 1000 }), 0), 'owned by uid 1000');
  assert.match(unsafeLogFile(st({ nlink: 2 }), 0), '2 hard links');
  assert.match(unsafeLogFile(st({ mode: 0o100620 }), 0), 'writable by group or others');
  assert.match(unsafeLogFile(st({ mode: 0o100602 }), 0), 'writable by group or others');
});

test.run();
