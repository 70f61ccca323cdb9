import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError } from '../../src/cni/errors';
import { normIp, normSubnet } from '../../src/firewall/addr';
import {
  canonicalOrAsIs,
  compareIP,
  familyOf,
  ipToString,
  parseIP,
  tryCanonicalIP,
  tryParseIP,
} from '../../src/ip/addr';
import {
  bareAddress,
  canonicalIP,
  cidrToString,
  contains,
  covers,
  hostCidrOf,
  lastOf,
  networkOf,
  overlaps,
  parseCidr,
  subnetOf,
  tryParseCidr,
} from '../../src/ip/cidr';
import { canonicalAddress, parsePodCidr } from '../../src/k8s/cidr';

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
  for (const bad of [
    '10.0.0.0',
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/a',
    'fd00::/129',
    '::ffff:10.0.0.0/104',
    '/24',
  ]) {
    assert.throws(
      () => parseCidr(bad),
      (e: CniError) => e.code === 7,
      bad,
    );
  }
});

test('contains, compare', () => {
  const c = parseCidr('10.0.0.0/30');
  assert.ok(contains(c, parseIP('10.0.0.3')));
  assert.not.ok(contains(c, parseIP('10.0.0.4')));
  assert.not.ok(contains(parseCidr('::/0'), parseIP('10.0.0.1'))); // other family
  assert.ok(contains(parseCidr('::/0'), parseIP('fd00::1')));
  assert.is(compareIP(parseIP('10.0.0.2'), parseIP('10.0.0.10')), -1);
  assert.is(compareIP(parseIP('10.0.0.2'), parseIP('10.0.0.2')), 0);
});

test('canonicalIP accepts an address with a prefix (requested IPs) and drops the prefix', () => {
  assert.is(canonicalIP('10.0.0.5/24'), '10.0.0.5');
  assert.is(canonicalIP('FD00::0005'), 'fd00::5');
});

test('familyOf reads the text (a colon is IPv6), never throws: it sorts addresses and CIDRs not yet validated', () => {
  assert.is(familyOf('10.0.0.5'), 4);
  assert.is(familyOf('10.0.0.0/24'), 4);
  assert.is(familyOf('fd00::5/64'), 6);
  assert.is(familyOf('::ffff:10.0.0.5'), 6); // the text's family; parse for the address's (4)
  assert.is(familyOf(''), 4);
});

test('bareAddress drops the prefix; text without one stays', () => {
  assert.is(bareAddress('10.0.0.5/24'), '10.0.0.5');
  assert.is(bareAddress('fd00::5/64'), 'fd00::5');
  assert.is(bareAddress('fd00::5'), 'fd00::5');
});

test('subnet, host CIDR, covers, overlaps', () => {
  const c = (s: string) => tryParseCidr(s)!;
  assert.is(cidrToString(subnetOf(c('10.1.0.5/24'))), '10.1.0.0/24');
  assert.is(cidrToString(hostCidrOf(parseIP('fd00::5'))), 'fd00::5/128');
  assert.ok(covers(c('10.0.0.0/16'), c('10.0.3.0/24')));
  assert.not.ok(covers(c('10.0.3.0/24'), c('10.0.0.0/16')));
  assert.ok(overlaps(c('10.0.3.0/24'), c('10.0.0.0/16')));
  assert.not.ok(overlaps(c('10.0.0.0/24'), c('10.0.1.0/24')));
  assert.not.ok(overlaps(c('0.0.0.0/0'), c('::/0')));
  assert.is(tryParseCidr('10.0.0.0/33'), undefined);
});

// Where the merged helpers differ from the ones they replace. Each caller now gets Go's reading
// (the reference plugins' and the kernel's), which the IPAM store already relied on.
test('firewall rule text: IPv4-mapped and IPv4-compatible IPv6 read as Go reads them', () => {
  assert.is(normIp('FD00:0::5', 6), 'fd00::5');
  assert.is(normSubnet('fd00::1:5/112', 6), 'fd00::1:0/112');
  // was "::ffff:102:304" (ipaddr.js reads the deprecated ::a.b.c.d as IPv4-mapped: another address)
  assert.is(normIp('::1.2.3.4', 6), '::102:304');
  // was accepted as "::ffff:a00:5"; it is an IPv4 address (Go), and not of the rule's family text either
  assert.throws(() => normIp('::ffff:10.0.0.5', 6), /invalid IPv6 address for firewall rule/);
  assert.throws(() => normIp('::ffff:10.0.0.5', 4), /invalid IPv4 address for firewall rule/);
  assert.throws(
    () => normSubnet('10.0.0.0/24', 6),
    (e: CniError) => e.code === 106,
  );
  // saved-rule addresses: canonical when they are addresses, else as they are (was ipaddr.js's lenient "10.0.0.1")
  assert.is(canonicalOrAsIs('FD00::0005'), 'fd00::5');
  assert.is(canonicalOrAsIs('10.1'), '10.1');
});

test('port-mapping hostIP: IPv4-compatible IPv6 stays IPv6 (Go To4), IPv4-mapped becomes IPv4', () => {
  assert.is(tryCanonicalIP('::ffff:192.0.2.7'), '192.0.2.7');
  assert.is(tryCanonicalIP('::1.2.3.4'), '::102:304'); // was "1.2.3.4"
  assert.is(tryCanonicalIP('::ffff:01.2.3.4'), undefined); // was accepted
});

test('k8s pod CIDRs and node addresses: strict as Go, no octal or shorthand', () => {
  assert.is(parsePodCidr(' 10.244.0.0/16 ').cidr, '10.244.0.0/16');
  assert.is(parsePodCidr('FD00:10:244::/64').cidr, 'fd00:10:244::/64');
  // was taken as 8.0.0.0/8 (ipaddr.js reads 010 as octal); Go and kube-controller-manager refuse it
  assert.throws(() => parsePodCidr('010.0.0.0/8'), /"010.0.0.0\/8" is not a CIDR/);
  // was 10.0.0.1/16 and then "has host bits set"
  assert.throws(() => parsePodCidr('10.1/16'), /is not a CIDR/);
  assert.throws(() => parsePodCidr('10.244.1.7/24'), /has host bits set \(network is 10.244.1.0\/24\)/);
  // an IPv4-mapped InternalIP is an IPv4 address (was IPv6 "::ffff:c0a8:105")
  assert.is(canonicalAddress('::ffff:192.168.1.5'), '192.168.1.5');
  assert.throws(() => canonicalAddress('192.168.1'), /not an IP address/);
});

test.run();
