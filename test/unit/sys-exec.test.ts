import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, ErrCode } from '../../src/cni/errors';
import { runTool, runToolOk, toolError, which } from '../../src/sys/exec';

test('runTool feeds stdin and returns stdout, stderr and status', () => {
  assert.equal(runTool('cat', [], 'hello\n'), { status: 0, stdout: 'hello\n', stderr: '' });
  const r = runTool('sh', ['-c', 'echo oops >&2; exit 3']);
  assert.is(r.status, 3);
  assert.is(r.stderr, 'oops\n');
});

test('runToolOk: nonzero exit -> FirewallFailure naming the command and stderr, input in details', () => {
  try {
    runToolOk('sh', ['-c', 'echo "line 2 failed: Bad rule" >&2; exit 1'], '*nat\nCOMMIT\n');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CniError);
    const c = e as CniError;
    assert.is(c.code, ErrCode.FirewallFailure);
    assert.match(c.message, /^sh -c .* failed: line 2 failed: Bad rule$/);
    assert.match(c.details, /--- input ---\n\*nat\nCOMMIT/);
  }
});

test('a tool that exits without reading its input still reports its own status and stderr', () => {
  const r = runTool('sh', ['-c', 'echo early >&2; exit 2'], 'x'.repeat(4 << 20));
  assert.equal([r.status, r.stderr], [2, 'early\n']);
});

test('a missing tool is a FirewallFailure', () => {
  assert.is(which('tsbridge-no-such-tool'), null);
  try {
    runTool('tsbridge-no-such-tool', []);
    assert.unreachable();
  } catch (e) {
    assert.is((e as CniError).code, ErrCode.FirewallFailure);
    assert.match((e as Error).message, /tsbridge-no-such-tool not found/);
  }
});

test('xtables lock contention -> try again later (11)', () => {
  const stderr =
    "Can't lock /run/xtables.lock: Resource temporarily unavailable\nAnother app is currently holding " +
    'the xtables lock. Stopped waiting after 5s.\n';
  const e = toolError('iptables-restore', ['--noflush', '-w', '5'], { status: 4, stdout: '', stderr });
  assert.is(e.code, ErrCode.TryAgainLater);
  assert.match(e.message, /iptables-restore --noflush -w 5: xtables lock is busy/);
});

test('nft errors keep the failing statement in the message', () => {
  const stderr =
    'Error: Could not process rule: Device or resource busy\ndelete chain inet tsbridge CNI-x\n         ' +
    '    ^^^^^\n';
  const e = toolError('nft', ['-f', '-'], { status: 1, stdout: '', stderr });
  assert.is(e.code, ErrCode.FirewallFailure);
  assert.is(
    e.message,
    'nft -f - failed: Error: Could not process rule: Device or resource busy | delete chain inet tsbridge CNI-x',
  );
});

test.run();
