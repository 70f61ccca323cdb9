import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { flushUdpConntrack } from '../../src/firewall/conntrack';

test('flushUdpConntrack: one `conntrack -D` per family and port, failures ignored; nothing to do -> no exec', () => {
  assert.equal(flushUdpConntrack([]), []);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-conntrack-'));
  const log = path.join(dir, 'calls');
  // a stand-in that records its arguments and fails like "0 flow entries have been deleted"
  fs.writeFileSync(path.join(dir, 'conntrack'), `#!/bin/sh\necho "$*" >> ${log}\nexit 1\n`, { mode: 0o755 });
  const oldPath = process.env.PATH;
  process.env.PATH = `${dir}:${oldPath ?? ''}`;
  try {
    const done = flushUdpConntrack([
      { family: 4, hostPort: 53 },
      { family: 6, hostPort: 53 },
      { family: 4, hostPort: 53 },
    ]);
    assert.equal(done, [
      'conntrack -D -f ipv4 -p udp --orig-port-dst 53',
      'conntrack -D -f ipv6 -p udp --orig-port-dst 53',
    ]);
    assert.is(
      fs.readFileSync(log, 'utf8'),
      '-D -f ipv4 -p udp --orig-port-dst 53\n-D -f ipv6 -p udp --orig-port-dst 53\n',
    );
  } finally {
    process.env.PATH = oldPath;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
