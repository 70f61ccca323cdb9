import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError } from '../../src/cni/errors';
import { compareIP, ipToString, parseIP, tryParseIP } from '../../src/ip/addr';
import { canonicalIP, cidrToString, contains, lastOf, networkOf, parseCidr } from '../../src/ip/cidr';
import { addIP } from '../../src/ipam/range';

const str = (s: string): string => ipToString(parseIP(s));

test('IPv4 dotted quad round-trips; Go-rejected forms are refused', () => {
  assert.is(str('10.1.2.3'), '10.1.2.3');
  assert.is(parseIP('10.0.0.1').value, 0x0a000001n);
  for (const bad of ['010.0.0.1', '10.0.0.256', '1.2.3', '0x0a.0.0.1', ' 10.0.0.1', '10.0.0.1 ', '', 'abc']) {
    assert.is(tryParseIP(bad), undefined, bad);
  }
});

test('IPv6 prints like Go net.IP.String (RFC 5952)', () => {
  assert.is(str('FD00:0:0:0:0:0:0:05'), 'fd00::5');
  assert.is(str('1:0:0:1:0:0:0:1'), '1:0:0:1::1'); // longest zero run
  assert.is(str('1:0:0:0:1:0:0:1'), '1::1:0:0:1'); // first of equal runs
  assert.is(str('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // a single zero group stays
  assert.is(str('0:0:0:0:0:0:0:0'), '::');
  assert.is(str('::1'), '::1');
  assert.is(str('fd00::'), 'fd00::');
  assert.is(str('::1.2.3.4'), '::102:304'); // deprecated IPv4-compatible stays IPv6
  assert.is(str('1::1.2.3.4'), '1::102:304');
});

test('IPv4-mapped IPv6 is IPv4, as in Go', () => {
  const ip = parseIP('::ffff:10.0.0.1');
  assert.is(ip.family, 4);
  assert.is(ipToString(ip), '10.0.0.1');
});

test('zones and malformed IPv6 are refused', () => {
  for (const bad of ['fe80::1%eth0', '1::2::3', 'fd00::12345', '1:2:3:4:5:6:7:8:9', '::ffff:01.2.3.4']) {
    assert.is(tryParseIP(bad), undefined, bad);
  }
});

test('parseIP throws CniError 7 naming the value', () => {
  try {
    parseIP('nope', 'gateway');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CniError);
    assert.is((e as CniError).code, 7);
    assert.match((e as Error).message, /gateway "nope"/);
  }
});

test('CIDR parsing keeps host bits; network and last address', () => {
  const c = parseCidr('10.1.2.3/24');
  assert.is(cidrToString(c), '10.1.2.3/24');
  assert.is(ipToString(networkOf(c)), '10.1.2.0');
  assert.is(ipToString(lastOf(c)), '10.1.2.255');
  const v6 = parseCidr('fd00::1:5/112');
  assert.is(ipToString(networkOf(v6)), 'fd00::1:0');
  assert.is(ipToString(lastOf(v6)), 'fd00::1:ffff');
  assert.is(cidrToString(parseCidr('0.0.0.0/0')), '0.0.0.0/0');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/a', 'fd00::/129', '::ffff:10.0.0.0/104', '/24']) {
    assert.throws(() => parseCidr(bad), (e: CniError) => e.code === 7, bad);
  }
});

test('contains, compare, add', () => {
  const c = parseCidr('10.0.0.0/30');
  assert.ok(contains(c, parseIP('10.0.0.3')));
  assert.not.ok(contains(c, parseIP('10.0.0.4')));
  assert.not.ok(contains(parseCidr('::/0'), parseIP('10.0.0.1'))); // other family
  assert.ok(contains(parseCidr('::/0'), parseIP('fd00::1')));
  assert.is(compareIP(parseIP('10.0.0.2'), parseIP('10.0.0.10')), -1);
  assert.is(compareIP(parseIP('10.0.0.2'), parseIP('10.0.0.2')), 0);
  assert.is(ipToString(addIP(parseIP('10.0.0.255'), 1n)), '10.0.1.0');
  assert.is(ipToString(addIP(parseIP('fd00::ffff'), 1n)), 'fd00::1:0');
  assert.throws(() => addIP(parseIP('255.255.255.255'), 1n));
  assert.throws(() => addIP(parseIP('0.0.0.0'), -1n));
});

test('canonicalIP accepts an address with a prefix (requested IPs) and drops the prefix', () => {
  assert.is(canonicalIP('10.0.0.5/24'), '10.0.0.5');
  assert.is(canonicalIP('FD00::0005'), 'fd00::5');
});

test.run();
