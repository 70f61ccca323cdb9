import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError } from '../../src/cni/errors';
import { ipToString, parseIP } from '../../src/ip/addr';
import { addIP } from '../../src/ipam/range';

test('addIP steps over byte and group boundaries and refuses to leave the family space', () => {
  assert.is(ipToString(addIP(parseIP('10.0.0.255'), 1n)), '10.0.1.0');
  assert.is(ipToString(addIP(parseIP('fd00::ffff'), 1n)), 'fd00::1:0');
  assert.is(ipToString(addIP(parseIP('10.0.1.0'), -1n)), '10.0.0.255');
  assert.throws(
    () => addIP(parseIP('255.255.255.255'), 1n),
    (e: CniError) => e.code === 7 && /outside the IPv4 space/.test(e.message),
  );
  assert.throws(() => addIP(parseIP('0.0.0.0'), -1n));
});

test.run();
