// Pure parts of the Kubernetes side: flags, pod CIDRs, the rendered conflist, Node fields, and the
// route plan (which routes to set, which of ours to delete, which to leave to their owner).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalIp, overlaps, parsePodCidrs } from '../../src/k8s/cidr';
import { configsBefore, isOurConflist, renderConflist } from '../../src/k8s/conflist';
import { envName, parseFlags, UsageError } from '../../src/k8s/flags';
import { nodeInfo, nodePodCidrs } from '../../src/k8s/node';
import { desiredRoutes, planRoutes, RTPROT_TSBRIDGE } from '../../src/k8s/routes-plan';

test('flags: --k=v, --k v, bools, --no-x, env fallback, flag beats env, unknown flag refused', () => {
  const spec = { 'pod-cidr': 'string', watch: 'bool', routes: 'bool', bridge: 'string' } as const;
  assert.equal(parseFlags(['--pod-cidr=10.0.0.0/24', '--bridge', 'br9', '--watch', '--no-routes'], spec),
    { 'pod-cidr': '10.0.0.0/24', bridge: 'br9', watch: true, routes: false });
  assert.equal(parseFlags(['--watch=false'], spec), { watch: false });
  assert.is(envName('cni-bin-dir'), 'TSBRIDGE_CNI_BIN_DIR');
  const env = { TSBRIDGE_POD_CIDR: '10.1.0.0/24', TSBRIDGE_WATCH: 'true', TSBRIDGE_BRIDGE: '' };
  assert.equal(parseFlags(['--pod-cidr', '10.2.0.0/24'], spec, env), { 'pod-cidr': '10.2.0.0/24', watch: true });
  assert.throws(() => parseFlags(['--pod-cidrs=x'], spec), (e: unknown) => e instanceof UsageError && /unknown flag --pod-cidrs/.test((e as Error).message));
  assert.throws(() => parseFlags(['--bridge'], spec), /needs a value/);
  assert.throws(() => parseFlags(['install'], spec), /unexpected argument/);
  assert.throws(() => parseFlags(['--watch=maybe'], spec), /not a boolean/);
});

test('pod CIDRs: canonical, IPv4 first, one per family, host bits refused', () => {
  assert.equal(parsePodCidrs('fd00:10:244:0001::/64, 10.244.1.0/24'), ['10.244.1.0/24', 'fd00:10:244:1::/64']);
  assert.equal(parsePodCidrs(['10.244.1.0/24']), ['10.244.1.0/24']);
  assert.throws(() => parsePodCidrs('10.244.1.0/24,10.244.2.0/24'), /more than one IPv4/);
  assert.throws(() => parsePodCidrs('10.244.1.7/24'), /host bits/);
  assert.throws(() => parsePodCidrs('nonsense'), /not a CIDR/);
  assert.throws(() => parsePodCidrs(''), /no pod CIDR/);
  assert.ok(overlaps('10.244.0.0/16', '10.244.3.0/24'));
  assert.not.ok(overlaps('10.244.0.0/24', '10.244.1.0/24'));
  assert.not.ok(overlaps('10.244.0.0/24', 'fd00::/64'));
  assert.is(canonicalIp('FD00:0:0::0002'), 'fd00::2');
});

test('conflist: one range set per family, tsbridge bridge defaults, options, ours or not', () => {
  const text = renderConflist({ network: 'k8s', bridge: 'cni0', podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], ipMasq: false });
  const c = JSON.parse(text);
  assert.is(c.cniVersion, '1.0.0');
  assert.equal(c.cniVersions, ['1.0.0', '1.1.0']);
  assert.is(c.name, 'k8s');
  assert.is(c.plugins.length, 1);
  const p = c.plugins[0];
  assert.equal({ type: p.type, bridge: p.bridge, isGateway: p.isGateway, isDefaultGateway: p.isDefaultGateway, hairpinMode: p.hairpinMode, ipMasq: p.ipMasq },
    { type: 'tsbridge', bridge: 'cni0', isGateway: true, isDefaultGateway: true, hairpinMode: true, ipMasq: false });
  assert.equal(p.ipam, { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]] });
  assert.is(p.mtu, undefined);
  assert.is(p.capabilities, undefined);
  const o = JSON.parse(renderConflist({ network: 'k8s', bridge: 'br1', podCidrs: ['10.9.0.0/24'], ipMasq: true, mtu: 1450, dataDir: '/run/ipam', portMappings: true })).plugins[0];
  assert.equal([o.mtu, o.ipMasq, o.ipam.dataDir, o.ipam.ranges], [1450, true, '/run/ipam', [[{ subnet: '10.9.0.0/24' }]]]);
  assert.equal(o.capabilities, { portMappings: true });
  assert.ok(text.endsWith('\n'));
  assert.ok(isOurConflist(text, 'k8s'));
  assert.not.ok(isOurConflist(text, 'other'));
  assert.not.ok(isOurConflist('{"name":"k8s","plugins":[{"type":"bridge"}]}', 'k8s'));
  assert.not.ok(isOurConflist('not json', 'k8s'));
});

test('configs a runtime would pick before ours (lexically first wins; temp and dot files ignored)', () => {
  const files = ['10-tsbridge.conflist', '05-cilium.conflist', '87-podman.conflist', '00-x.conf', '01.json', '.10-tsbridge.conflist.ab12cd34.tmp', '01-old.conf.bak'];
  assert.equal(configsBefore(files, '10-tsbridge.conflist'), ['00-x.conf', '01.json', '05-cilium.conflist']);
});

test('node fields: podCIDRs, legacy podCIDR, InternalIPs only', () => {
  const n = { metadata: { name: 'a' }, spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24', 'fd00::/64'] },
    status: { addresses: [{ type: 'Hostname', address: 'a' }, { type: 'InternalIP', address: '192.168.1.1' }, { type: 'ExternalIP', address: '1.2.3.4' }, { type: 'InternalIP', address: 'fd01::1' }] } };
  assert.equal(nodeInfo(n), { name: 'a', podCidrs: ['10.244.0.0/24', 'fd00::/64'], internalIps: ['192.168.1.1', 'fd01::1'] });
  assert.equal(nodePodCidrs({ metadata: { name: 'b' }, spec: { podCIDR: '10.244.1.0/24' } }), ['10.244.1.0/24']);
  assert.equal(nodePodCidrs({ metadata: { name: 'c' } }), []);
});

const N = (name: string, podCidrs: string[], internalIps: string[]) => ({ name, podCidrs, internalIps });

test('desired routes: every other node, per family via the InternalIP of that family; problems reported, not routed', () => {
  const d = desiredRoutes('a', [
    N('a', ['10.244.0.0/24', 'fd00:244::/64'], ['192.168.1.1', 'fd01::1']),
    N('c', ['10.244.2.0/24'], ['192.168.1.3']),
    N('b', ['10.244.1.0/24', 'fd00:244:0:1::/64'], ['192.168.1.2', 'fd01:0:0::2']),
    N('d', ['10.244.3.0/24', 'fd00:244:0:3::/64'], ['192.168.1.4']), // no IPv6 InternalIP
    N('e', [], ['192.168.1.5']), // no CIDR yet: nothing, no complaint
    N('f', ['10.244.0.0/25'], ['192.168.1.6']), // overlaps ours
    N('g', ['10.244.2.0/24'], ['192.168.1.7']), // same as c
    N('h', ['bogus'], ['192.168.1.8']),
  ]);
  assert.equal(d.routes, [
    { dst: '10.244.1.0/24', gw: '192.168.1.2', node: 'b' },
    { dst: 'fd00:244:0:1::/64', gw: 'fd01::2', node: 'b' },
    { dst: '10.244.2.0/24', gw: '192.168.1.3', node: 'c' },
    { dst: '10.244.3.0/24', gw: '192.168.1.4', node: 'd' },
  ]);
  assert.is(d.problems.length, 4);
  assert.match(d.problems.join('\n'), /node d: no IPv6 InternalIP for pod CIDR fd00:244:0:3::\/64/);
  assert.match(d.problems.join('\n'), /node f: pod CIDR 10.244.0.0\/25 overlaps this node's own/);
  assert.match(d.problems.join('\n'), /node g: pod CIDR 10.244.2.0\/24 overlaps 10.244.2.0\/24 of node c/);
  assert.match(d.problems.join('\n'), /node h: "bogus" is not a CIDR/);
});

test('route plan: add missing, keep matching, replace changed gateway, delete only our stale routes, never touch foreign ones', () => {
  const P = RTPROT_TSBRIDGE;
  const want = [
    { dst: '10.244.1.0/24', gw: '192.168.1.2', node: 'b' },
    { dst: '10.244.2.0/24', gw: '192.168.1.3', node: 'c' },
    { dst: '10.244.3.0/24', gw: '192.168.1.9', node: 'd' },
    { dst: '10.50.0.0/24', gw: '192.168.1.5', node: 'e' },
  ];
  const kernel = [
    { dst: '10.244.1.0/24', gw: '192.168.1.2', protocol: P }, // as wanted
    { dst: '10.244.3.0/24', gw: '192.168.1.4', protocol: P }, // gateway changed
    { dst: '10.244.7.0/24', gw: '192.168.1.7', protocol: P }, // node gone
    { dst: '10.50.0.0/24', gw: '192.168.1.1', protocol: 4 }, // someone's static route
    { dst: '10.99.0.0/24', gw: '192.168.1.1', protocol: 3 }, // not ours, not wanted: untouched
    { dst: '0.0.0.0/0', gw: '192.168.1.254', protocol: 3 },
  ];
  const plan = planRoutes(want, kernel);
  assert.equal(plan.set.map((r) => r.dst), ['10.244.2.0/24', '10.244.3.0/24']);
  assert.equal(plan.del, [{ dst: '10.244.7.0/24', gw: '192.168.1.7', protocol: P }]);
  assert.equal(plan.blocked.map((r) => r.dst), ['10.50.0.0/24']);
  assert.equal(planRoutes([], kernel).del.map((r) => r.dst), ['10.244.1.0/24', '10.244.3.0/24', '10.244.7.0/24']);
  assert.equal(planRoutes(want.slice(0, 1), kernel.slice(0, 1)), { set: [], del: [], blocked: [] });
});

test.run();
