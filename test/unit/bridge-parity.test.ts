// Config and IPAM semantics matched to the reference bridge + host-local (issue 12, points 1, 6,
// 8, 9, 10, 14): the pure parts, without root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorCode } from '../helpers/cni-error';
import { parseNetConf } from '../../src/cni/netconf';
import { parseHostLocalConfig, requireOnePerFamily } from '../../src/ipam/config';
import * as A from '../../src/netlink/attrs';
import { RTA } from '../../src/netlink/constants';
import { newRouteMsg } from '../../src/netlink/route';
import { mergeDns } from '../../src/plugin/add';
import { withGateways } from '../../src/attachment/routes';
import { hostLocalConfig } from '../../src/plugin/ipam';
import { fullnessWarnings } from '../../src/ipam/fullness';
import { firewallToolProblem } from '../../src/plugin/status';

test('point 1: runtimeConfig.ipRanges reach host-local and come before the configured (and legacy) ranges', () => {
  const net = parseNetConf(
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'n',
      type: 'tsbridge',
      ipam: { type: 'host-local', subnet: '10.202.0.0/24', ranges: [[{ subnet: '10.201.0.0/24' }]] },
      runtimeConfig: { ipRanges: [[{ subnet: '10.207.0.0/24' }], [{ subnet: 'fd07::/64' }]] },
    }),
  );
  const cfg = hostLocalConfig(net as typeof net & { ipam: Record<string, unknown> });
  assert.equal(
    cfg.ranges.map((s) => s[0].subnet),
    ['10.207.0.0/24', 'fd07::/64', '10.202.0.0/24', '10.201.0.0/24'],
  );
});

test("point 6: the config's dns, when it sets anything, replaces IPAM's as a whole; else IPAM's stays", () => {
  const ipam = { nameservers: ['10.0.0.53'], search: ['ipam.local'] };
  assert.equal(mergeDns(ipam, { nameservers: ['1.1.1.1'] }), {
    nameservers: ['1.1.1.1'],
    domain: undefined,
    search: undefined,
    options: undefined,
  });
  assert.equal(mergeDns(ipam, { Domain: 'conf.local' })!.domain, 'conf.local');
  assert.equal(mergeDns(ipam, { nameservers: [] })!.nameservers, []); // Go: a present list is "set", even empty
  assert.equal(mergeDns(ipam, {}), ipam);
  assert.equal(mergeDns(ipam, undefined), ipam);
  assert.equal(mergeDns(undefined, undefined), {});
});

test('point 8: ipam.routes keep priority, table, scope (and mtu, advmss); bad values are code 7', () => {
  const c = parseHostLocalConfig(
    {
      ranges: [[{ subnet: '10.1.0.0/24' }]],
      routes: [
        { dst: '10.99.0.0/16', priority: 77, table: 100, scope: 253 },
        { dst: '0.0.0.0/0', mtu: 1400, advmss: 1360 },
      ],
    },
    'n',
  );
  assert.equal(c.routes, [
    { dst: '10.99.0.0/16', priority: 77, table: 100, scope: 253 },
    { dst: '0.0.0.0/0', mtu: 1400, advmss: 1360 },
  ]);
  assert.is(
    errorCode(() =>
      parseHostLocalConfig({ ranges: [[{ subnet: '10.1.0.0/24' }]], routes: [{ dst: '10.0.0.0/8', scope: 300 }] }, 'n'),
    ),
    7,
  );
  assert.is(
    errorCode(() =>
      parseHostLocalConfig({ ranges: [[{ subnet: '10.1.0.0/24' }]], routes: [{ dst: '10.0.0.0/8', table: 'x' }] }, 'n'),
    ),
    7,
  );
});

test('point 8: the route codec puts table, scope and priority in the RTM_NEWROUTE message', () => {
  const parse = (m: Buffer) => ({ table: m.readUInt8(4), scope: m.readUInt8(6), attrs: A.parseAttrs(m, 12) });
  const main = parse(newRouteMsg({ dst: '10.9.0.0/16', gw: '10.1.0.1', oif: 3 }));
  assert.is(main.table, 254);
  assert.is(main.scope, 0);
  assert.not.ok(main.attrs.has(RTA.TABLE));
  assert.not.ok(main.attrs.has(RTA.PRIORITY));
  const linkScope = parse(newRouteMsg({ dst: '10.9.0.0/16', oif: 3 }));
  assert.is(linkScope.scope, 253);
  const t = parse(newRouteMsg({ dst: '10.9.0.0/16', gw: '10.1.0.1', oif: 3, table: 100, scope: 253, priority: 77 }));
  assert.is(t.table, 100);
  assert.is(t.scope, 253);
  assert.is(A.readU32(t.attrs.get(RTA.TABLE)), 100);
  assert.is(A.readU32(t.attrs.get(RTA.PRIORITY)), 77);
  const big = parse(newRouteMsg({ dst: '10.9.0.0/16', gw: '10.1.0.1', oif: 3, table: 1000 }));
  assert.is(big.table, 252); // RT_TABLE_COMPAT; the id is in RTA_TABLE
  assert.is(A.readU32(big.attrs.get(RTA.TABLE)), 1000);
  assert.is(parse(newRouteMsg({ dst: '10.9.0.0/16', oif: 3, table: 0 })).table, 254);
});

test('point 9: with isGateway, an IPAM address without gateway gets network+1 (the reference calcGateways)', () => {
  const ips = [
    { address: '10.233.0.7/24' },
    { address: 'fd33::7/64' },
    { address: '10.234.0.9/24', gateway: '10.234.0.254' },
  ];
  assert.equal(withGateways(ips, true), [
    { address: '10.233.0.7/24', gateway: '10.233.0.1' },
    { address: 'fd33::7/64', gateway: 'fd33::1' },
    { address: '10.234.0.9/24', gateway: '10.234.0.254' },
  ]);
  assert.equal(withGateways(ips, false), ips);
});

test('point 10: a full or nearly full range set is a warning, never a STATUS error', () => {
  assert.equal(fullnessWarnings([{ free: 100n, size: 253n }]), []);
  const w = fullnessWarnings([
    { free: 0n, size: 1n },
    { free: 30n, size: 253n },
    { free: 9n, size: 253n },
  ]);
  assert.is(w.length, 2);
  assert.match(w[0], /range set 0 is exhausted/);
  assert.match(w[1], /range set 2 is nearly full \(9 of 253/);
});

test('point 10: the firewall tool the config needs, per backend choice and family', () => {
  const only =
    (...cmds: string[]) =>
    (c: string) =>
      cmds.includes(c);
  const ipt4 = ['iptables-save', 'iptables-restore'];
  assert.is(firewallToolProblem(undefined, [4], only(...ipt4)), undefined);
  assert.is(firewallToolProblem(undefined, [4], only('nft')), undefined);
  assert.match(firewallToolProblem(undefined, [4], only())!, /none is installed/);
  assert.match(firewallToolProblem('nftables', [4], only(...ipt4))!, /needs nft/);
  assert.is(firewallToolProblem('nftables', [4, 6], only('nft')), undefined);
  assert.match(firewallToolProblem('iptables', [4, 6], only(...ipt4, 'nft'))!, /ip6tables-save, ip6tables-restore/);
});

test("point 14: a 0.1.0/0.2.0 config may have one range set per family only (host-local's rule)", () => {
  const two = parseHostLocalConfig({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24' }]] }, 'n').ranges;
  assert.is(
    errorCode(() => requireOnePerFamily(two, '0.2.0')),
    7,
  );
  requireOnePerFamily(two, '0.3.0');
  requireOnePerFamily(
    parseHostLocalConfig({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] }, 'n').ranges,
    '0.1.0',
  );
});

test.run();
