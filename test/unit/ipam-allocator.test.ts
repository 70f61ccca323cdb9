import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, ErrCode } from '../../src/cni/errors';
import { JsonObject } from '../../src/cni/json';
import { allocateAll, allocateInSet, freeAddressCount } from '../../src/ipam/allocator';
import { parseHostLocalConfig, RangeSet } from '../../src/ipam/config';
import { MemoryStore } from '../../src/ipam/store';

const sets = (...ranges: JsonObject[][]): RangeSet[] => parseHostLocalConfig({ ranges }, 'n').ranges;
const one = (r: JsonObject): RangeSet => sets([r])[0];

function fails(fn: () => unknown, code: number, msg: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CniError);
    assert.is((e as CniError).code, code, (e as Error).message);
    assert.match((e as Error).message, msg);
    return;
  }
  assert.unreachable('no error');
}

test('first allocation skips the gateway (.1) and records the last reservation', () => {
  const s = new MemoryStore();
  const a = allocateInSet(s, 0, one({ subnet: '10.0.0.0/24' }), 'c1', 'eth0');
  assert.equal(a, { ip: '10.0.0.2', prefix: 24, gateway: '10.0.0.1', family: 4, rangeSetIndex: 0 });
  assert.is(s.lastReservedIP(0), '10.0.0.2');
  assert.equal(s.records.get('10.0.0.2'), { ip: '10.0.0.2', containerId: 'c1', ifname: 'eth0' });
});

test('round-robin continues after last_reserved_ip, even when earlier IPs are free', () => {
  const s = new MemoryStore();
  const set = one({ subnet: '10.0.0.0/24' });
  s.last.set(0, '10.0.0.50');
  assert.is(allocateInSet(s, 0, set, 'c1', 'eth0').ip, '10.0.0.51');
  assert.is(allocateInSet(s, 0, set, 'c2', 'eth0').ip, '10.0.0.52');
  s.release('10.0.0.51');
  assert.is(allocateInSet(s, 0, set, 'c3', 'eth0').ip, '10.0.0.53');
});

test('wraps to the start after rangeEnd, skipping reserved IPs and the gateway', () => {
  const s = new MemoryStore();
  const set = one({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.5' });
  s.last.set(0, '10.0.0.5');
  s.reserve('x', 'eth0', '10.0.0.2', 9);
  assert.is(allocateInSet(s, 0, set, 'c1', 'eth0').ip, '10.0.0.3');
});

test('a last_reserved_ip outside the set restarts at rangeStart', () => {
  const s = new MemoryStore();
  s.last.set(0, '192.168.7.7');
  assert.is(allocateInSet(s, 0, one({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.20' }), 'c1', 'eth0').ip, '10.0.0.20');
});

test('network and broadcast are never handed out, even inside an explicit range', () => {
  const s = new MemoryStore();
  const set = one({ subnet: '10.0.0.0/30', rangeStart: '10.0.0.0', rangeEnd: '10.0.0.3', gateway: '10.0.0.2' });
  assert.is(allocateInSet(s, 0, set, 'c1', 'eth0').ip, '10.0.0.1');
  fails(
    () => allocateInSet(s, 0, set, 'c2', 'eth0'),
    ErrCode.RangeExhausted,
    /no IP addresses available in range set: 10\.0\.0\.0-10\.0\.0\.3$/,
  );
});

test('a /30 has one address to give; then RangeExhausted (101)', () => {
  const s = new MemoryStore();
  const set = one({ subnet: '10.0.0.0/30' });
  assert.is(allocateInSet(s, 0, set, 'c1', 'eth0').ip, '10.0.0.2');
  assert.is(freeAddressCount(s, set), 0n);
  fails(
    () => allocateInSet(s, 0, set, 'c2', 'eth0'),
    101,
    /^no IP addresses available in range set: 10\.0\.0\.1-10\.0\.0\.2$/,
  );
  s.release('10.0.0.2');
  assert.is(freeAddressCount(s, set), 1n);
  assert.is(allocateInSet(s, 0, set, 'c2', 'eth0').ip, '10.0.0.2');
});

test('the same attachment may not get a second IP from one set (reference: duplicate allocation)', () => {
  const s = new MemoryStore();
  const set = one({ subnet: '10.0.0.0/24' });
  allocateInSet(s, 0, set, 'c1', 'eth0');
  fails(
    () => allocateInSet(s, 0, set, 'c1', 'eth0'),
    ErrCode.AddressInUse,
    /10\.0\.0\.2 has been allocated to c1, duplicate allocation is not allowed/,
  );
  fails(() => allocateInSet(s, 0, set, ' c1 ', 'eth0', '10.0.0.9'), ErrCode.AddressInUse, /duplicate/);
  // another interface of the same container is a different attachment
  assert.is(allocateInSet(s, 0, set, 'c1', 'eth1').ip, '10.0.0.3');
  // an old-format record (container ID only) counts too
  const s2 = new MemoryStore();
  s2.records.set('10.0.0.7', { ip: '10.0.0.7', containerId: 'c1', ifname: '' });
  fails(() => allocateInSet(s2, 0, set, 'c1', 'eth0'), ErrCode.AddressInUse, /duplicate/);
});

test('requested IP: used when free, 102 when taken, refused when it is the gateway or network', () => {
  const s = new MemoryStore();
  const set = one({ subnet: '10.0.0.0/24' });
  assert.is(allocateInSet(s, 0, set, 'c1', 'eth0', '10.0.0.77').ip, '10.0.0.77');
  assert.is(s.lastReservedIP(0), '10.0.0.77');
  fails(
    () => allocateInSet(s, 0, set, 'c2', 'eth0', '10.0.0.77'),
    ErrCode.AddressInUse,
    /requested IP address 10\.0\.0\.77 is not available in range set 10\.0\.0\.1-10\.0\.0\.254/,
  );
  fails(() => allocateInSet(s, 0, set, 'c2', 'eth0', '10.0.0.1'), ErrCode.AddressInUse, /is subnet's gateway/);
  const wide = one({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.0', gateway: '10.0.0.254' });
  fails(() => allocateInSet(s, 0, wide, 'c3', 'eth0', '10.0.0.0'), ErrCode.InvalidConfig, /network or broadcast/);
});

test('allocateAll: dual stack, one IP per set, requested IP goes to its set', () => {
  const s = new MemoryStore();
  const r = allocateAll(s, sets([{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]), 'c1', 'eth0', [
    'fd00::abcd/64',
  ]);
  assert.equal(
    r.map((a) => [a.ip, a.prefix, a.family, a.rangeSetIndex]),
    [
      ['10.0.0.2', 24, 4, 0],
      ['fd00::abcd', 64, 6, 1],
    ],
  );
  assert.is(s.lastReservedIP(0), '10.0.0.2');
  assert.is(s.lastReservedIP(1), 'fd00::abcd');
});

test('allocateAll: multiple ranges in one set are walked in order and wrap', () => {
  const s = new MemoryStore();
  const set = sets([{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30' }]);
  const got = ['a', 'b'].map((c) => allocateAll(s, set, c, 'eth0', [])[0].ip);
  assert.equal(got, ['10.0.0.2', '10.0.1.2']);
  s.release('10.0.0.2');
  assert.is(allocateAll(s, set, 'c', 'eth0', [])[0].ip, '10.0.0.2'); // wrapped from the last range to the first
  fails(
    () => allocateAll(s, set, 'd', 'eth0', []),
    101,
    new RegExp(
      '^failed to allocate for range 0: no IP addresses available in range set: ' +
        String.raw`10\.0\.0\.1-10\.0\.0\.2,10\.0\.1\.1-10\.0\.1\.2$`,
    ),
  );
});

test('allocateAll: a requested IP in no range set fails before anything is reserved', () => {
  const s = new MemoryStore();
  const two = sets([{ subnet: '10.0.0.0/24', rangeEnd: '10.0.0.100' }]);
  fails(
    () => allocateAll(s, two, 'c1', 'eth0', ['10.0.0.200']),
    ErrCode.InvalidConfig,
    /failed to allocate all requested IPs: 10\.0\.0\.200/,
  );
  fails(
    () => allocateAll(s, two, 'c1', 'eth0', ['10.0.0.5', '10.0.0.6']),
    ErrCode.InvalidConfig,
    /requested IPs: 10\.0\.0\.6$/,
  );
  assert.is(s.records.size, 0);
  assert.is(s.lastReservedIP(0), undefined);
});

test('allocateAll: a failing second set releases what the first reserved', () => {
  const s = new MemoryStore();
  const two = sets([{ subnet: '10.0.0.0/24' }], [{ subnet: '10.1.0.0/30' }]);
  s.reserve('other', 'eth0', '10.1.0.2', 1);
  fails(() => allocateAll(s, two, 'c1', 'eth0', []), 101, /^failed to allocate for range 1: no IP addresses/);
  assert.equal([...s.records.keys()], ['10.1.0.2']);
});

test('IPv6 allocation starts at ::2 (gateway ::1) and includes the last address', () => {
  const s = new MemoryStore();
  const set = one({ subnet: 'fd00::/126' });
  assert.equal(
    ['a', 'b'].map((c) => allocateInSet(s, 0, set, c, 'eth0').ip),
    ['fd00::2', 'fd00::3'],
  );
  fails(() => allocateInSet(s, 0, set, 'c', 'eth0'), 101, /fd00::1-fd00::3/);
});

test('a huge IPv6 range does not make allocation or counting slow', () => {
  const s = new MemoryStore();
  const set = one({ subnet: 'fd00::/64' });
  s.last.set(0, 'fd00::ffff:ffff:ffff:ffff');
  assert.is(allocateInSet(s, 0, set, 'c', 'eth0').ip, 'fd00::2'); // wrapped, gateway skipped
  assert.is(freeAddressCount(s, set), (1n << 64n) - 3n); // minus network, gateway, the one taken
});

test.run();
