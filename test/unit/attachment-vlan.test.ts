// vlan / vlanTrunk / preserveDefaultVlan: config validation (code 7 naming the bad entry), the
// netlink VLAN entries (encode, decode, ranges) and CHECK's judgement of a port's entries.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCniArgs } from '../../src/cni/args';
import { CniError } from '../../src/cni/errors';
import { parseNetConf } from '../../src/cni/netconf';
import { BRIDGE_VLAN_INFO, decodeVlanSpec, vlanSpec } from '../../src/netlink/bridge-vlan';
import { parseBridgeConfig } from '../../src/attachment/config';
import { vlanGatewayName } from '../../src/attachment/names';
import { portVlanProblems } from '../../src/attachment/problems';
import { parseVlanConfig, vlanRanges, wantsVlans } from '../../src/attachment/vlan-config';

const conf = (extra: object) =>
  parseBridgeConfig(
    parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n1', type: 'tsbridge', ...extra })),
    parseCniArgs(''),
  );
const err = (fn: () => unknown): CniError => {
  try {
    fn();
  } catch (e) {
    return e as CniError;
  }
  throw new Error('expected an error');
};

test('vlan and vlanTrunk parse; trunk ids sorted and deduplicated; defaults off', () => {
  assert.equal(conf({}).vlans, { vlan: 0, vlanTrunk: [], preserveDefaultVlan: false });
  assert.equal(conf({ VLAN: 100, preserveDefaultVlan: true }).vlans, {
    vlan: 100,
    vlanTrunk: [],
    preserveDefaultVlan: true,
  });
  assert.equal(
    conf({ vlanTrunk: [{ id: 40 }, { minID: 10, maxID: 12 }, { id: 11 }] }).vlans.vlanTrunk,
    [10, 11, 12, 40],
  );
  assert.is(wantsVlans(conf({ vlan: 0, vlanTrunk: [] }).vlans), false);
  assert.is(wantsVlans(conf({ vlan: 4094 }).vlans), true);
});

test('bad VLAN settings are code 7 and name the entry', () => {
  const cases: [object, RegExp][] = [
    [{ vlan: 4095 }, /vlan/],
    [{ vlan: -1 }, /vlan/],
    [{ vlanTrunk: [{ id: 0 }] }, /vlanTrunk\[0\] \{"id":0\}: id 0 is not a VLAN ID in 1\.\.4094/],
    [{ vlanTrunk: [{ id: 5 }, { id: 4095 }] }, /vlanTrunk\[1\] \{"id":4095\}/],
    [{ vlanTrunk: [{ minID: 20, maxID: 10 }] }, /vlanTrunk\[0\] .*minID 20 is greater than maxID 10/],
    [{ vlanTrunk: [{ minID: 20 }] }, /vlanTrunk\[0\] .*minID and maxID go together/],
    [{ vlanTrunk: [{}] }, /vlanTrunk\[0\] \{\}: it names no VLAN/],
    [{ vlanTrunk: [5] }, /vlanTrunk\[0\] 5/],
    [{ vlanTrunk: { id: 5 } }, /invalid vlanTrunk/],
    [{ vlanTrunk: [{ id: '5' }] }, /vlanTrunk\[0\]/],
    [{ vlan: 10, vlanTrunk: [{ id: 20 }] }, /"vlan" 10 together with "vlanTrunk"/],
  ];
  for (const [c, re] of cases) {
    const e = err(() => conf(c));
    assert.is(e.code, 7, `${JSON.stringify(c)}: ${e.message}`);
    assert.match(e.message, re, JSON.stringify(c));
  }
});

test('netlink VLAN entries: one entry, or a RANGE_BEGIN/RANGE_END pair; decoded back', () => {
  const one = vlanSpec(10, 10, BRIDGE_VLAN_INFO.PVID | BRIDGE_VLAN_INFO.UNTAGGED);
  // nested IFLA_AF_SPEC (26) holding IFLA_BRIDGE_VLAN_INFO (2) {flags u16, vid u16}
  assert.equal([...one], [12, 0, 26, 0x80, 8, 0, 2, 0, 6, 0, 10, 0]);
  assert.equal(decodeVlanSpec(one.subarray(4)), [{ vid: 10, pvid: true, untagged: true }]);
  const range = vlanSpec(30, 32, 0);
  assert.equal(
    decodeVlanSpec(range.subarray(4)),
    [30, 31, 32].map((vid) => ({ vid, pvid: false, untagged: false })),
  );
  assert.equal(vlanRanges([1, 10, 11, 12, 40, 42, 43]), [
    [1, 1],
    [10, 12],
    [40, 40],
    [42, 43],
  ]);
});

test('CHECK of a port: access VLAN, trunk, VLAN 1 and filtering', () => {
  const access = parseVlanConfig({ vlan: 10 });
  assert.equal(portVlanProblems('veth1', access, true, [{ vid: 10, pvid: true, untagged: true }]), []);
  assert.match(portVlanProblems('veth1', access, true, []).join(), /not an untagged PVID member of VLAN 10/);
  assert.match(
    portVlanProblems('veth1', access, false, [{ vid: 10, pvid: true, untagged: true }]).join(),
    /VLAN filtering is off/,
  );
  assert.match(
    portVlanProblems('veth1', access, true, [
      { vid: 1, pvid: false, untagged: true },
      { vid: 10, pvid: true, untagged: true },
    ]).join(),
    /still a member of VLAN 1/,
  );
  assert.equal(
    portVlanProblems('veth1', parseVlanConfig({ vlan: 10, preserveDefaultVlan: true }), true, [
      { vid: 1, pvid: false, untagged: true },
      { vid: 10, pvid: true, untagged: true },
    ]),
    [],
  );
  const trunk = parseVlanConfig({ vlanTrunk: [{ minID: 30, maxID: 31 }] });
  assert.match(
    portVlanProblems('veth1', trunk, true, [
      { vid: 1, pvid: true, untagged: true },
      { vid: 30, pvid: false, untagged: false },
    ]).join(),
    /lacks tagged trunk VLAN\(s\) 31/,
  );
  assert.equal(portVlanProblems('veth1', parseVlanConfig({}), false, []), []);
});

test('the VLAN gateway interface is <bridge>.<vlan>; too long a name is code 7', () => {
  assert.is(vlanGatewayName('cni0', 10), 'cni0.10');
  assert.is(err(() => vlanGatewayName('a-long-bridge01', 100)).code, 7);
});

test.run();
