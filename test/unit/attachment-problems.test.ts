// The attachment model CHECK and doctor share: the pure "what is wrong" checks, the routes and
// gateway-by-family rule, and the rules an attachment owns taken from plain parameters.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCniArgs } from '../../src/cni/args';
import { parseNetConf } from '../../src/cni/netconf';
import { IPConfig, Result } from '../../src/cni/result';
import { parseBridgeConfig } from '../../src/attachment/config';
import {
  bridgeProblems,
  containerProblems,
  ContainerState,
  forwardingProblems,
  gatewayProblems,
  vethProblems,
} from '../../src/attachment/problems';
import { containerRoutes, gatewayCidrs, routeGateway } from '../../src/attachment/routes';
import { attachmentRules } from '../../src/attachment/rules';
import { IFF_UP } from '../../src/netlink/constants';
import { Link } from '../../src/netlink/link';

const conf = (extra: object) =>
  parseBridgeConfig(
    parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n1', type: 'tsbridge', bridge: 'br7', ...extra })),
    parseCniArgs(''),
  );
const lnk = (index: number, name: string, up: boolean, extra: Partial<Link> = {}): Link => ({
  index,
  name,
  flags: up ? IFF_UP : 0,
  mtu: 1500,
  mac: '02:00:00:00:00:01',
  ...extra,
});
const dual: IPConfig[] = [
  { address: '10.7.0.5/24', gateway: '10.7.0.1' },
  { address: 'fd07::5/64', gateway: 'fd07::1' },
];
const pieces = (ps: { piece: string }[]): string[] => ps.map((p) => p.piece);

test('bridge and host veth: missing, down, off the bridge are each named', () => {
  const cfg = conf({});
  const br = lnk(3, 'br7', true);
  assert.equal(pieces(bridgeProblems(cfg, undefined)), ['bridge']);
  assert.equal(pieces(bridgeProblems(cfg, lnk(3, 'br7', false))), ['bridge-up']);
  assert.equal(bridgeProblems(cfg, br), []);
  assert.equal(pieces(vethProblems(cfg, 'vethx', undefined, br)), ['veth']);
  assert.equal(pieces(vethProblems(cfg, 'vethx', lnk(9, 'vethx', false, { master: 4 }), br)), [
    'veth-master',
    'veth-up',
  ]);
  assert.equal(vethProblems(cfg, 'vethx', lnk(9, 'vethx', true, { master: 3 }), br), []);
});

test('gateway addresses and forwarding are checked only with isGateway, per family', () => {
  const addr = (address: string) => ({
    index: 3,
    family: (address.includes(':') ? 6 : 4) as 4 | 6,
    address,
    prefix: 24,
    flags: 0,
  });
  assert.equal(gatewayProblems(conf({}), dual, []), []);
  const gw = conf({ isGateway: true });
  const missing = gatewayProblems(gw, dual, [addr('10.7.0.1')]);
  assert.equal(
    missing.map((p) => p.what),
    ['fd07::1'],
  );
  assert.is(missing[0].msg, 'bridge br7 lacks gateway address fd07::1');
  assert.equal(forwardingProblems(conf({}), dual, '0', '0'), []);
  assert.equal(pieces(forwardingProblems(gw, dual, '0', '1')), ['ipv4-forwarding']);
  assert.equal(pieces(forwardingProblems(gw, dual.slice(1), '0', '0')), ['ipv6-forwarding']);
});

test('container side: MAC, up, addresses and only the routes tsbridge adds', () => {
  const cfg = conf({ isDefaultGateway: true });
  const prev: Result = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x' }],
    ips: dual,
  };
  const s: ContainerState = {
    iface: lnk(2, 'eth0', true, { mac: '02:00:00:00:00:02' }),
    addrs: [{ index: 2, family: 4, address: '10.7.0.5', prefix: 24, flags: 0 }],
    routes: [{ family: 4, dst: '0.0.0.0/0', gw: '10.7.0.1', oif: 2, table: 254, protocol: 4 }],
  };
  const ps = containerProblems(cfg, 'eth0', prev, s);
  assert.equal(pieces(ps), ['iface-mac', 'address', 'route']);
  assert.equal(
    ps.map((p) => p.what),
    [undefined, 'fd07::5/64', '::/0'],
  );
  assert.equal(pieces(containerProblems(cfg, 'eth0', prev, { addrs: [], routes: [] })), ['iface']);
});

test(
  "routes: a default route per family with isDefaultGateway; a route without gw goes via its family's " + 'gateway',
  () => {
    const prev: Result = { cniVersion: '1.0.0', ips: dual, routes: [{ dst: '192.168.0.0/16' }] };
    assert.equal(containerRoutes(prev, conf({})), [{ dst: '192.168.0.0/16' }]);
    assert.equal(
      containerRoutes(prev, conf({ isDefaultGateway: true })).map((r) => [r.dst, r.gw]),
      [
        ['192.168.0.0/16', undefined],
        ['0.0.0.0/0', '10.7.0.1'],
        ['::/0', 'fd07::1'],
      ],
    );
    assert.is(routeGateway({ dst: '192.168.0.0/16' }, dual), '10.7.0.1');
    assert.is(routeGateway({ dst: 'fd99::/48' }, dual), 'fd07::1');
    assert.is(routeGateway({ dst: 'fd99::/48', gw: 'fd07::9' }, dual), 'fd07::9');
    assert.is(routeGateway({ dst: 'fd99::/48' }, dual.slice(0, 1)), undefined);
    assert.equal(gatewayCidrs([...dual, { address: '10.8.0.5/16' }]), ['10.7.0.1/24', 'fd07::1/64']);
  },
);

test('the rules an attachment owns come from plain parameters (no CNI environment needed)', () => {
  const r = attachmentRules(
    conf({ ipMasq: true }),
    'c1',
    'eth1',
    dual.map((i) => i.address),
  );
  assert.is(r.containerId, 'c1');
  assert.is(r.ifname, 'eth1');
  assert.is(r.network, 'n1');
  assert.is(r.bridge, 'br7');
  assert.ok(r.masquerade);
  assert.equal(r.ips, [
    { ip: '10.7.0.5', subnet: '10.7.0.0/24', family: 4 },
    { ip: 'fd07::5', subnet: 'fd07::/64', family: 6 },
  ]);
});

test.run();
