// Pure parts of the Kubernetes side: flags, pod CIDRs, the rendered conflist, Node fields, and the
// route plan (which routes to set, which of ours to delete, which to leave to their owner).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalAddress, cidrsOverlap, parsePodCidrs } from '../../src/k8s/cidr';
import { escapeControls } from '../../src/k8s/cli';
import { configsBefore, isOurConflist, renderConflist } from '../../src/k8s/conflist';
import { envName, parseFlags, UsageError } from '../../src/flags';
import { nodeInfo, nodePodCidrs } from '../../src/k8s/node';
import { desiredRoutes, newProblems, planRoutes, RTPROT_TSBRIDGE } from '../../src/k8s/routes-plan';
import { gatewayProblem, ownPodCidrProblems, podCidrProblem, TrustPolicy } from '../../src/k8s/trust';

test('flags: --k=v, --k v, bools, --no-x, env fallback, flag beats env, unknown flag refused', () => {
  const spec = { 'pod-cidr': 'string', watch: 'bool', routes: 'bool', bridge: 'string' } as const;
  assert.equal(parseFlags(['--pod-cidr=10.0.0.0/24', '--bridge', 'br9', '--watch', '--no-routes'], spec), {
    'pod-cidr': '10.0.0.0/24',
    bridge: 'br9',
    watch: true,
    routes: false,
  });
  assert.equal(parseFlags(['--watch=false'], spec), { watch: false });
  assert.is(envName('cni-bin-dir'), 'TSBRIDGE_CNI_BIN_DIR');
  const env = { TSBRIDGE_POD_CIDR: '10.1.0.0/24', TSBRIDGE_WATCH: 'true', TSBRIDGE_BRIDGE: '' };
  assert.equal(parseFlags(['--pod-cidr', '10.2.0.0/24'], spec, env), { 'pod-cidr': '10.2.0.0/24', watch: true });
  assert.throws(
    () => parseFlags(['--pod-cidrs=x'], spec),
    (e: unknown) => e instanceof UsageError && /unknown flag --pod-cidrs/.test((e as Error).message),
  );
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
  assert.ok(cidrsOverlap('10.244.0.0/16', '10.244.3.0/24'));
  assert.not.ok(cidrsOverlap('10.244.0.0/24', '10.244.1.0/24'));
  assert.not.ok(cidrsOverlap('10.244.0.0/24', 'fd00::/64'));
  assert.is(canonicalAddress('FD00:0:0::0002'), 'fd00::2');
});

test('conflist: one range set per family, tsbridge bridge defaults, options, ours or not', () => {
  const text = renderConflist({
    network: 'k8s',
    bridge: 'cni0',
    podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
    ipMasq: false,
  });
  const c = JSON.parse(text);
  assert.is(c.cniVersion, '1.0.0');
  assert.equal(c.cniVersions, ['1.0.0', '1.1.0']);
  assert.is(c.name, 'k8s');
  assert.is(c.plugins.length, 1);
  const p = c.plugins[0];
  assert.equal(
    {
      type: p.type,
      bridge: p.bridge,
      isGateway: p.isGateway,
      isDefaultGateway: p.isDefaultGateway,
      hairpinMode: p.hairpinMode,
      ipMasq: p.ipMasq,
    },
    { type: 'tsbridge', bridge: 'cni0', isGateway: true, isDefaultGateway: true, hairpinMode: true, ipMasq: false },
  );
  assert.equal(p.ipam, {
    type: 'host-local',
    ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]],
  });
  assert.is(p.mtu, undefined);
  assert.is(p.capabilities, undefined);
  const o = JSON.parse(
    renderConflist({
      network: 'k8s',
      bridge: 'br1',
      podCidrs: ['10.9.0.0/24'],
      ipMasq: true,
      mtu: 1450,
      dataDir: '/run/ipam',
      portMappings: true,
    }),
  ).plugins[0];
  assert.equal(
    [o.mtu, o.ipMasq, o.ipam.dataDir, o.ipam.ranges],
    [1450, true, '/run/ipam', [[{ subnet: '10.9.0.0/24' }]]],
  );
  assert.equal(o.capabilities, { portMappings: true });
  assert.ok(text.endsWith('\n'));
  assert.ok(isOurConflist(text, 'k8s'));
  assert.not.ok(isOurConflist(text, 'other'));
  assert.not.ok(isOurConflist('{"name":"k8s","plugins":[{"type":"bridge"}]}', 'k8s'));
  assert.not.ok(isOurConflist('not json', 'k8s'));
});

test('configs a runtime would pick before ours (lexically first wins; temp and dot files ignored)', () => {
  const files = [
    '10-tsbridge.conflist',
    '05-cilium.conflist',
    '87-podman.conflist',
    '00-x.conf',
    '01.json',
    '.10-tsbridge.conflist.ab12cd34.tmp',
    '01-old.conf.bak',
  ];
  assert.equal(configsBefore(files, '10-tsbridge.conflist'), ['00-x.conf', '01.json', '05-cilium.conflist']);
});

test('node fields: podCIDRs, legacy podCIDR, InternalIPs only', () => {
  const n = {
    metadata: { name: 'a' },
    spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24', 'fd00::/64'] },
    status: {
      addresses: [
        { type: 'Hostname', address: 'a' },
        { type: 'InternalIP', address: '192.168.1.1' },
        { type: 'ExternalIP', address: '1.2.3.4' },
        { type: 'InternalIP', address: 'fd01::1' },
      ],
    },
  };
  assert.equal(nodeInfo(n), {
    name: 'a',
    podCidrs: ['10.244.0.0/24', 'fd00::/64'],
    internalIps: ['192.168.1.1', 'fd01::1'],
  });
  assert.equal(nodePodCidrs({ metadata: { name: 'b' }, spec: { podCIDR: '10.244.1.0/24' } }), ['10.244.1.0/24']);
  assert.equal(nodePodCidrs({ metadata: { name: 'c' } }), []);
});

const N = (name: string, podCidrs: string[], internalIps: string[], created?: string) => ({
  name,
  podCidrs,
  internalIps,
  ...(created ? { created } : {}),
});
const LAN: TrustPolicy = {
  clusterCidrs: ['10.244.0.0/16', 'fd00:244::/48'],
  hostAddrs: [
    { address: '192.168.1.1', prefix: 24, ifname: 'eth0' },
    { address: 'fd01::1', prefix: 64, ifname: 'eth0' },
    { address: '127.0.0.1', prefix: 8, ifname: 'lo' },
  ],
  apiServer: [],
};

test(
  'desired routes: every other node, per family via the ' + 'InternalIP of that family; problems reported, not routed',
  () => {
    const d = desiredRoutes(
      'a',
      [
        N('a', ['10.244.0.0/24', 'fd00:244::/64'], ['192.168.1.1', 'fd01::1']),
        N('c', ['10.244.2.0/24'], ['192.168.1.3']),
        N('b', ['10.244.1.0/24', 'fd00:244:0:1::/64'], ['192.168.1.2', 'fd01:0:0::2']),
        N('d', ['10.244.3.0/24', 'fd00:244:0:3::/64'], ['192.168.1.4']), // no IPv6 InternalIP
        N('e', [], ['192.168.1.5']), // no CIDR yet: nothing, no complaint
        N('f', ['10.244.0.0/25'], ['192.168.1.6']), // overlaps ours
        N('g', ['10.244.2.0/24'], ['192.168.1.7']), // same as c
        N('h', ['bogus'], ['192.168.1.8']),
      ],
      LAN,
    );
    assert.equal(d.routes, [
      { dst: '10.244.1.0/24', gw: '192.168.1.2', node: 'b' },
      { dst: 'fd00:244:0:1::/64', gw: 'fd01::2', node: 'b' },
      { dst: '10.244.2.0/24', gw: '192.168.1.3', node: 'c' },
      { dst: '10.244.3.0/24', gw: '192.168.1.4', node: 'd' },
    ]);
    assert.is(d.problems.length, 4);
    assert.match(d.problems.join('\n'), /node d: pod CIDR fd00:244:0:3::\/64 refused: no IPv6 InternalIP/);
    assert.match(
      d.problems.join('\n'),
      /node f: pod CIDR 10.244.0.0\/25 refused: overlaps this node's own pod CIDR 10.244.0.0\/24/,
    );
    assert.match(d.problems.join('\n'), /node g: pod CIDR 10.244.2.0\/24 refused: overlaps 10.244.2.0\/24 of node c/);
    assert.match(d.problems.join('\n'), /node h: "bogus" is not a CIDR/);
  },
);

// A node of a cluster whose pod network is 10.0.0.0/8 (wide on purpose: each check below is then
// reached on its own, not only the cluster-CIDR one), on the LAN 10.250.0.0/24, API server 10.96.0.1.
const WIDE: TrustPolicy = {
  clusterCidrs: ['10.0.0.0/8', 'fd00:10::/48'],
  hostAddrs: [
    { address: '10.250.0.5', prefix: 24, ifname: 'eth0' },
    { address: 'fd00:250::5', prefix: 64, ifname: 'eth0' },
    { address: '127.0.0.1', prefix: 8, ifname: 'lo' },
    { address: '::1', prefix: 128, ifname: 'lo' },
    { address: '10.244.1.1', prefix: 24, ifname: 'cni0' },
  ],
  apiServer: ['10.96.0.1'],
};
const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-02T00:00:00Z';
const self = N('self', ['10.244.1.0/24'], ['10.250.0.5'], T0);
const good = N('good', ['10.244.5.0/24', 'fd00:10:0:5::/64'], ['10.250.0.6', 'fd00:250::6'], T0);

/** The attacker's node next to a good one and this one: what is routed, and what the attacker got. */
function attack(evil: ReturnType<typeof N>, policy = WIDE): { routes: string[]; evil: string[] } {
  const d = desiredRoutes('self', [evil, self, good], policy);
  return {
    routes: d.routes.map((r) => `${r.dst} via ${r.gw}`),
    evil: d.problems.filter((p) => p.startsWith(`node ${evil.name}:`)),
  };
}
const GOOD = ['10.244.5.0/24 via 10.250.0.6', 'fd00:10:0:5::/64 via fd00:250::6'];

test(
  'attack refused: pod CIDRs outside the cluster CIDR ' + '(metadata /32, Service range, half the Internet, ::/1)',
  () => {
    for (const [cidr, policy] of [
      ['169.254.169.254/32', WIDE],
      ['128.0.0.0/1', WIDE],
      ['0.0.0.0/0', WIDE],
      ['::/1', WIDE],
      ['10.96.0.0/12', { ...WIDE, clusterCidrs: ['10.244.0.0/16', 'fd00:10::/48'] }],
    ] as [string, TrustPolicy][]) {
      const r = attack(N('evil', [cidr], ['10.250.0.66', 'fd00:250::66'], T1), policy);
      assert.equal(r.routes, GOOD, cidr);
      assert.is(r.evil.length, 1, cidr);
      assert.match(r.evil[0], /refused: is outside the cluster CIDR/, cidr);
    }
    // a family the cluster CIDR does not cover
    const v4only = attack(N('evil', ['fd00:10:0:9::/64'], ['fd00:250::66'], T1), {
      ...WIDE,
      clusterCidrs: ['10.0.0.0/8'],
    });
    assert.match(v4only.evil[0], /refused: has no IPv6 cluster CIDR/);
  },
);

test("attack refused: the API server address, a /25 of the node LAN, a local address, this node's own CIDR", () => {
  const cases: [string, RegExp][] = [
    ['10.96.0.0/12', /contains the API server address 10\.96\.0\.1/],
    ['10.250.0.128/25', /overlaps 10\.250\.0\.0\/24, a connected subnet of this node \(eth0\)/],
    ['10.250.0.0/16', /contains 10\.250\.0\.5, an address of this node/],
    ['10.250.0.5/32', /contains 10\.250\.0\.5, an address of this node/],
    ['10.244.1.128/25', /overlaps 10\.244\.1\.0\/24, a connected subnet of this node \(cni0\)/],
  ];
  for (const [cidr, why] of cases) {
    const r = attack(N('evil', [cidr], ['10.250.0.66'], T1));
    assert.equal(r.routes, GOOD, cidr);
    assert.is(r.evil.length, 1, cidr);
    assert.match(r.evil[0], why, cidr);
  }
});

test('attack refused: overlap with another node; the older node keeps its CIDR whatever the order', () => {
  const evil = N('a-evil', ['10.244.5.128/25'], ['10.250.0.66'], T1); // sorts first by name, but is newer
  for (const order of [
    [evil, self, good],
    [good, self, evil],
  ]) {
    const d = desiredRoutes('self', order, WIDE);
    assert.equal(
      d.routes.map((r) => r.node),
      ['good', 'good'],
    );
    assert.equal(d.problems, [
      'node a-evil: pod CIDR 10.244.5.128/25 refused: overlaps 10.244.5.0/24 of node good (older)',
    ]);
  }
  // the same two with the ages swapped: now the other one keeps it
  const d = desiredRoutes('self', [self, { ...good, created: T1 }, { ...evil, created: T0 }], WIDE);
  assert.equal(
    d.routes.map((r) => `${r.node} ${r.dst}`),
    ['a-evil 10.244.5.128/25', 'good fd00:10:0:5::/64'],
  );
});

test('attack refused: two pod CIDRs of one family on a node (neither is routed)', () => {
  const r = attack(N('evil', ['10.244.7.0/24', '10.244.8.0/24'], ['10.250.0.66'], T1));
  assert.equal(r.routes, GOOD);
  assert.is(r.evil.length, 2);
  for (const p of r.evil) assert.match(p, /refused: more than one IPv4 pod CIDR on the node/);
});

test('attack refused: a gateway off-link, local, or a pod address; the first usable InternalIP is taken', () => {
  const cases: [string, RegExp][] = [
    ['192.0.2.8', /gateway 192\.0\.2\.8 is not on a connected subnet of this node \(off-link\)/],
    ['10.250.0.5', /gateway 10\.250\.0\.5 is an address of this node/],
    ['127.0.0.1', /gateway 127\.0\.0\.1 is an address of this node/],
    ['127.0.0.2', /gateway 127\.0\.0\.2 is a loopback address/],
    ['fe80::1', /gateway fe80::1 is a linkLocal address/],
    ['fd00:250::5', /gateway fd00:250::5 is an address of this node/],
    ['10.244.1.7', /gateway 10\.244\.1\.7 is inside the pod CIDR 10\.244\.1\.0\/24 of node self \(a pod address\)/],
    ['10.244.5.9', /gateway 10\.244\.5\.9 is inside the pod CIDR 10\.244\.5\.0\/24 of node good \(a pod address\)/],
  ];
  for (const [gw, why] of cases) {
    const r = attack(N('evil', [gw.includes(':') ? 'fd00:10:0:9::/64' : '10.244.9.0/24'], [gw], T1));
    assert.equal(r.routes, GOOD, gw);
    assert.is(r.evil.length, 1, gw);
    assert.match(r.evil[0], why, gw);
  }
  assert.equal(attack(N('multi', ['10.244.9.0/24'], ['192.0.2.8', '10.250.0.9'], T1)).routes, [
    ...GOOD,
    '10.244.9.0/24 via 10.250.0.9',
  ]);
  assert.is(gatewayProblem('10.250.0.9', WIDE), undefined);
  assert.is(podCidrProblem('10.244.9.0/24', WIDE), undefined);
});

test('positive control: good nodes are accepted (both families); the route count is capped', () => {
  const d = desiredRoutes('self', [self, good], WIDE);
  assert.equal(
    d.routes.map((r) => `${r.dst} via ${r.gw}`),
    GOOD,
  );
  assert.equal(d.problems, []);
  const more = N('more', ['10.244.6.0/24'], ['10.250.0.7'], T1);
  const capped = desiredRoutes('self', [self, good, more], WIDE, 2);
  assert.equal(
    capped.routes.map((r) => r.node),
    ['good', 'good'],
  );
  assert.equal(capped.problems, ['node more: pod CIDR 10.244.6.0/24 refused: more than 2 routes (--max-routes)']);
});

test('own pod CIDR: the same checks before the conflist is written; the bridge is left out by the caller', () => {
  const noBridge = { ...WIDE, hostAddrs: WIDE.hostAddrs.filter((a) => a.ifname !== 'cni0') };
  assert.equal(ownPodCidrProblems(['10.244.1.0/24', 'fd00:10:0:1::/64'], noBridge), []);
  assert.equal(ownPodCidrProblems(['169.254.0.0/16'], noBridge), [
    'pod CIDR 169.254.0.0/16 is outside the cluster CIDR 10.0.0.0/8',
  ]);
  assert.match(ownPodCidrProblems(['10.250.0.0/25'], noBridge)[0], /contains 10\.250\.0\.5, an address of this node/);
  // no cluster CIDR given (plain install): the node-network checks only
  assert.equal(ownPodCidrProblems(['172.16.0.0/24'], { ...noBridge, clusterCidrs: [] }), []);
  assert.match(ownPodCidrProblems(['10.250.0.128/25'], { ...noBridge, clusterCidrs: [] })[0], /connected subnet/);
});

test('log lines: a newline or escape sequence from a Node or the API cannot forge a line or drive the terminal', () => {
  assert.is(
    escapeControls('node a\n2026-01-01T00:00:00Z route 0.0.0.0/0 via x'),
    'node a\\x0a2026-01-01T00:00:00Z route 0.0.0.0/0 via x',
  );
  assert.is(escapeControls('\x1b[2J\r\t\x7f\x9b ok é'), '\\x1b[2J\\x0d\\x09\\x7f\\x9b ok é');
});

test('refusals are logged once while they last, again when they come back', () => {
  const seen = new Set<string>();
  assert.equal(newProblems(seen, ['a', 'b']), ['a', 'b']);
  assert.equal(newProblems(seen, ['b', 'a']), []);
  assert.equal(newProblems(seen, ['b']), []);
  assert.equal(newProblems(seen, ['a', 'b']), ['a']);
});

test(
  'route plan: add missing, keep matching, replace changed gateway, delete only our stale routes, never touch ' +
    'foreign ones',
  () => {
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
    assert.equal(
      plan.set.map((r) => r.dst),
      ['10.244.2.0/24', '10.244.3.0/24'],
    );
    assert.equal(plan.del, [{ dst: '10.244.7.0/24', gw: '192.168.1.7', protocol: P }]);
    assert.equal(
      plan.blocked.map((r) => r.dst),
      ['10.50.0.0/24'],
    );
    assert.equal(
      planRoutes([], kernel).del.map((r) => r.dst),
      ['10.244.1.0/24', '10.244.3.0/24', '10.244.7.0/24'],
    );
    assert.equal(planRoutes(want.slice(0, 1), kernel.slice(0, 1)), { set: [], del: [], blocked: [] });
  },
);

test.run();
