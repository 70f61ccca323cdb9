import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError } from '../../src/cni/errors';
import { JsonObject } from '../../src/cni/json';
import { DEFAULT_DATA_DIR, parseHostLocalConfig } from '../../src/ipam/config';

const parse = (ipam: JsonObject, name = 'net1', env = {}) =>
  parseHostLocalConfig({ type: 'host-local', ...ipam }, name, env);

function rejects(ipam: JsonObject, msg: RegExp, name = 'net1', env = {}): void {
  try {
    parse(ipam, name, env);
  } catch (e) {
    assert.instance(e, CniError);
    assert.is((e as CniError).code, 7, (e as Error).message);
    assert.match((e as Error).message, msg);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(ipam)}`);
}

test('ranges form with defaults: IPv4 start .1, end broadcast-1, gateway .1', () => {
  const c = parse({ ranges: [[{ subnet: '10.1.0.0/24' }]] });
  assert.equal(c.ranges, [
    [{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.1', rangeEnd: '10.1.0.254', gateway: '10.1.0.1' }],
  ]);
  assert.is(c.dataDir, DEFAULT_DATA_DIR);
  assert.equal(c.routes, []);
  assert.equal(c.requested, []);
  assert.is(c.resolvConf, undefined);
});

test('IPv6 default end is the last address of the subnet; text is canonical', () => {
  const c = parse({ ranges: [[{ subnet: 'FD00:0::/120', rangeStart: 'fd00::0010' }]] });
  assert.equal(c.ranges[0][0], {
    subnet: 'fd00::/120',
    rangeStart: 'fd00::10',
    rangeEnd: 'fd00::ff',
    gateway: 'fd00::1',
  });
});

test('legacy single subnet becomes the first range set, before `ranges`', () => {
  const c = parse({
    subnet: '10.2.0.0/16',
    rangeStart: '10.2.1.0',
    rangeEnd: '10.2.1.255',
    gateway: '10.2.0.254',
    ranges: [[{ subnet: 'fd00::/64' }]],
  });
  assert.equal(c.ranges, [
    [{ subnet: '10.2.0.0/16', rangeStart: '10.2.1.0', rangeEnd: '10.2.1.255', gateway: '10.2.0.254' }],
    [{ subnet: 'fd00::/64', rangeStart: 'fd00::1', rangeEnd: 'fd00::ffff:ffff:ffff:ffff', gateway: 'fd00::1' }],
  ]);
});

test('legacy range keys without a subnet are ignored, as by the reference', () => {
  const c = parse({ rangeStart: '10.9.9.9', ranges: [[{ subnet: '10.1.0.0/24' }]] });
  assert.is(c.ranges.length, 1);
});

test('keys match case-insensitively (Go encoding/json)', () => {
  const c = parse({
    Ranges: [[{ Subnet: '10.1.0.0/24', RangeStart: '10.1.0.10', RANGEEND: '10.1.0.20', GateWay: '10.1.0.254' }]],
    DataDir: '/run/x/',
    ResolvConf: '/etc/resolv.conf',
    Routes: [{ Dst: '0.0.0.0/0', GW: '10.1.0.254' }],
  });
  assert.equal(c.ranges[0][0], {
    subnet: '10.1.0.0/24',
    rangeStart: '10.1.0.10',
    rangeEnd: '10.1.0.20',
    gateway: '10.1.0.254',
  });
  assert.is(c.dataDir, '/run/x/');
  assert.is(c.resolvConf, '/etc/resolv.conf');
  assert.equal(c.routes, [{ dst: '0.0.0.0/0', gw: '10.1.0.254' }]);
});

test('empty strings mean "not set" for addresses (Go decodes "" as a nil IP)', () => {
  const c = parse({ ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '', gateway: '' }]] });
  assert.is(c.ranges[0][0].rangeStart, '10.1.0.1');
  assert.is(c.ranges[0][0].gateway, '10.1.0.1');
});

test('routes: dst keeps host bits as written, addresses canonical', () => {
  const c = parse({
    ranges: [[{ subnet: '10.1.0.0/24' }]],
    routes: [{ dst: '10.9.9.9/8' }, { dst: 'FD00::/8', gw: 'FD00::1' }],
  });
  assert.equal(c.routes, [{ dst: '10.9.9.9/8' }, { dst: 'fd00::/8', gw: 'fd00::1' }]);
});

test('requested IPs (ipArgs) are canonical, prefixes dropped', () => {
  const c = parse({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, 'net1', { ipArgs: ['10.1.0.5/24', 'FD00::5'] });
  assert.equal(c.requested, ['10.1.0.5', 'fd00::5']);
  rejects({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, /requested IP "10\.1\.0\.x"/, 'net1', { ipArgs: ['10.1.0.x'] });
});

test('runtimeConfig ipRanges come first', () => {
  const c = parse({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, 'net1', { ipRanges: [[{ subnet: '10.7.0.0/24' }]] });
  assert.equal(
    c.ranges.map((s) => s[0].subnet),
    ['10.7.0.0/24', '10.1.0.0/24'],
  );
});

test('multiple ranges in one set', () => {
  const c = parse({ ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.2.0.0/24' }]] });
  assert.is(c.ranges[0].length, 2);
});

test('validation errors (all code 7)', () => {
  rejects({}, /no IP ranges specified/);
  rejects({ ranges: [] }, /no IP ranges specified/);
  rejects({ ranges: [[]] }, /empty range set/);
  rejects({ ranges: {} }, /ipam\.ranges/);
  rejects({ ranges: [{}] }, /want a list of ranges/);
  rejects({ ranges: [[{}]] }, /subnet is required/);
  rejects({ ranges: [[{ subnet: 'garbage' }]] }, /subnet "garbage"/);
  rejects({ ranges: [[{ subnet: 10 }]] }, /subnet: want a string/);
  rejects({ ranges: [[{ subnet: '10.1.0.5/24' }]] }, /host bits set.*network address is 10\.1\.0\.0/);
  rejects({ ranges: [[{ subnet: '10.1.0.0/31' }]] }, /too small/);
  rejects({ ranges: [[{ subnet: '10.1.0.0/32' }]] }, /too small/);
  rejects({ ranges: [[{ subnet: 'fd00::/127' }]] }, /too small/);
  rejects(
    { ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.2.0.1' }]] },
    /rangeStart 10\.2\.0\.1 is not in network 10\.1\.0\.0\/24/,
  );
  rejects({ ranges: [[{ subnet: '10.1.0.0/24', rangeEnd: 'fd00::1' }]] }, /rangeEnd fd00::1 is not in network/);
  rejects({ ranges: [[{ subnet: '10.1.0.0/24', rangeEnd: '10.1.0.x' }]] }, /rangeEnd "10\.1\.0\.x"/);
  rejects(
    { ranges: [[{ subnet: '10.1.0.0/24', gateway: '192.168.0.1' }]] },
    /gateway 192\.168\.0\.1 is not in network/,
  );
  rejects(
    { ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.9', rangeEnd: '10.1.0.8' }]] },
    /rangeStart 10\.1\.0\.9 is after rangeEnd 10\.1\.0\.8/,
  );
  rejects({ ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }]] }, /range set 0: mixed address families/);
  rejects({ ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.1.0.0/25' }]] }, /range set 0: ranges .* overlap/);
  rejects({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.128/25' }]] }, /range set 0 overlaps with 1/);
  rejects({ subnet: '10.1.0.0/24', ranges: [[{ subnet: '10.1.0.0/24' }]] }, /range set 0 overlaps with 1/);
  rejects({ ranges: [[{ subnet: '10.1.0.0/24' }]], routes: [{ gw: '10.1.0.1' }] }, /routes\[0\]\.dst is required/);
  rejects(
    { ranges: [[{ subnet: '10.1.0.0/24' }]], routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] },
    /not of the family/,
  );
  rejects({ ranges: [[{ subnet: '10.1.0.0/24' }]], dataDir: 'relative/dir' }, /dataDir/);
  rejects({ ranges: [[{ subnet: '10.1.0.0/24' }]], dataDir: '/var/lib/../../etc' }, /dataDir/);
  rejects({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, /ipRanges/, 'net1', { ipRanges: 'x' });
});

test('ranges of one family in different subnets do not overlap; partial ranges of one subnet may coexist', () => {
  const split = parse({
    ranges: [
      [
        { subnet: '10.1.0.0/24', rangeEnd: '10.1.0.99' },
        { subnet: '10.1.0.0/24', rangeStart: '10.1.0.100' },
      ],
    ],
  });
  assert.equal(split.ranges, [
    [
      { subnet: '10.1.0.0/24', rangeStart: '10.1.0.1', rangeEnd: '10.1.0.99', gateway: '10.1.0.1' },
      { subnet: '10.1.0.0/24', rangeStart: '10.1.0.100', rangeEnd: '10.1.0.254', gateway: '10.1.0.1' },
    ],
  ]);
  const dual = parse({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] });
  assert.equal(
    dual.ranges.map((set) => set.map((r) => r.subnet)),
    [['10.1.0.0/24'], ['fd00::/64']],
  );
  // the contrast: sharing one address, or one subnet inside another, is refused
  rejects(
    {
      ranges: [
        [
          { subnet: '10.1.0.0/24', rangeEnd: '10.1.0.100' },
          { subnet: '10.1.0.0/24', rangeStart: '10.1.0.100' },
        ],
      ],
    },
    /overlap/,
  );
  rejects({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.0/25' }]] }, /overlaps/);
});

test('network name must be a valid CNI name: it becomes a directory', () => {
  const ok = { ranges: [[{ subnet: '10.1.0.0/24' }]] };
  for (const name of ['a', 'my-net_1.x', 'A9']) parse(ok, name);
  for (const name of ['', '.', '..', '../x', 'a/b', '-a', '_a', 'a b', 'a\0', 'x'.repeat(256)]) {
    rejects(ok, /network name/, name);
  }
});

test.run();
