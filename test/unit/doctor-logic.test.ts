// tsbridge doctor's pure parts: iptables chain evaluation (FORWARD drops, nat shadowing), the
// findings made from collected facts (first broken piece in path order, fix commands, what --fix may
// touch), route conflicts, config loading from conflist/conf, counters from iptables-save -c, the
// text report.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCniArgs } from '../../src/cni/args';
import { parseNetConf } from '../../src/cni/netconf';
import { masqChainName } from '../../src/firewall/tag';
import { recordProblem } from '../../src/doctor/collect';
import { tsbridgeConf } from '../../src/doctor/config';
import { attachmentReport, diagnoseAttachment, firstBroken, routeConflicts } from '../../src/doctor/diagnose';
import { dropped, evalChain, ruleMatches, parseTable } from '../../src/doctor/iptables-eval';
import { savedCounter } from '../../src/doctor/probe';
import { renderText, uniqueFindings } from '../../src/doctor/report';
import { AttachmentFacts, DoctorContext, DoctorReport, NodeFacts } from '../../src/doctor/types';
import { decodeStats64 } from '../../src/netlink/inspect';
import { parseBridgeConfig } from '../../src/attachment/config';
import { hostVethName } from '../../src/attachment/names';

const BR = 'cni0';
const NET = 'podnet';
const CID = 'c0ffee';

function cfgOf(extra: object = {}) {
  const conf = {
    cniVersion: '1.0.0',
    name: NET,
    type: 'tsbridge',
    bridge: BR,
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.9.0.0/24' }]] },
    ...extra,
  };
  return parseBridgeConfig(parseNetConf(JSON.stringify(conf)), parseCniArgs(''));
}

const ctx: DoctorContext = {
  network: NET,
  bridge: BR,
  isGateway: true,
  ipMasq: true,
  subnets: ['10.9.0.0/24'],
  dataDir: '/var/lib/cni/networks',
  doctorCmd: 'tsbridge doctor --config /etc/cni/net.d/10.conflist',
};

const UP = 1;
const link = (index: number, name: string, extra: object = {}) => ({
  index,
  name,
  flags: UP,
  mtu: 1500,
  mac: '02:00:00:00:00:01',
  ...extra,
});

function healthyNode(): NodeFacts {
  return {
    bridge: link(3, BR, { kind: 'bridge' }),
    bridgeAddrs: [{ index: 3, family: 4, address: '10.9.0.1', prefix: 24, flags: 0 }],
    links: [
      link(1, 'lo'),
      link(2, 'eth0'),
      link(3, BR, { kind: 'bridge' }),
      link(4, hostVethName(CID, 'eth0'), { master: 3, peerIndex: 2, linkNetnsId: 0 }),
    ],
    addrs: [
      { index: 2, family: 4, address: '192.168.1.5', prefix: 24, flags: 0 },
      { index: 3, family: 4, address: '10.9.0.1', prefix: 24, flags: 0 },
    ],
    routes: [
      { family: 4, dst: '0.0.0.0/0', gw: '192.168.1.1', oif: 2, table: 254, protocol: 3 },
      { family: 4, dst: '10.9.0.0/24', oif: 3, table: 254, protocol: 2 },
      { family: 4, dst: '192.168.1.0/24', oif: 2, table: 254, protocol: 2 },
    ],
    ipv4Forward: '1',
    ipv6Forward: '0',
    brNfCallIptables: '1',
    brNfCallIp6tables: '1',
    filter: {
      4: parseTable('*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n', 'filter'),
    },
    nat: { 4: natTable([]) },
    nftForwardDrops: [],
    errors: [],
  };
}

function natTable(before: string[]): ReturnType<typeof parseTable> {
  const chain = masqChainName(NET, CID);
  return parseTable(
    [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      `:${chain} - [0:0]`,
      ...before,
      `-A POSTROUTING -s 10.9.0.2/32 -m comment --comment "name: \\"${NET}\\" id: \\"${CID}\\"" -j ${chain}`,
      `-A ${chain} -d 10.9.0.0/24 -j ACCEPT`,
      `-A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE`,
      'COMMIT',
      '',
    ].join('\n'),
    'nat',
  );
}

function healthyAttachment(): AttachmentFacts {
  const node = healthyNode();
  return {
    containerId: CID,
    ifname: 'eth0',
    ips: [{ address: '10.9.0.2/24', gateway: '10.9.0.1' }],
    reserved: ['10.9.0.2'],
    outOfRange: [],
    ipamRoutes: [],
    netns: '/run/netns/pod',
    netnsFoundBy: 'veth-peer',
    netnsCandidates: [],
    vethName: hostVethName(CID, 'eth0'),
    veth: node.links[3],
    container: {
      iface: link(2, 'eth0'),
      addrs: [{ index: 2, family: 4, address: '10.9.0.2', prefix: 24, flags: 0 }],
      routes: [
        { family: 4, dst: '0.0.0.0/0', gw: '10.9.0.1', oif: 2, table: 254, protocol: 3 },
        { family: 4, dst: '10.9.0.0/24', oif: 2, table: 254, protocol: 2 },
      ],
    },
    rules: { backend: 'iptables', problems: [], portMappings: null },
  };
}

const pieces = (n: NodeFacts, a: AttachmentFacts, c = ctx) => diagnoseAttachment(c, cfgOf(), n, a).map((f) => f.piece);

// ---- iptables evaluation ----------------------------------------------------------------------

test(
  'ruleMatches: interfaces (with + wildcards), addresses, ' + 'negation, conntrack state, unknown matches are "maybe"',
  () => {
    const p = {
      iif: { name: BR },
      oif: { not: BR },
      src: '10.9.0.2',
      dstOutside: '10.9.0.0/24',
      state: 'NEW' as const,
    };
    assert.is(ruleMatches(['-i', BR, '-j', 'ACCEPT'], p), 'yes');
    assert.is(ruleMatches(['-i', 'cni+', '-j', 'ACCEPT'], p), 'yes');
    assert.is(ruleMatches(['-i', 'eth0', '-j', 'ACCEPT'], p), 'no');
    assert.is(ruleMatches(['!', '-i', BR, '-j', 'ACCEPT'], p), 'no');
    assert.is(ruleMatches(['-o', BR, '-j', 'ACCEPT'], p), 'no');
    assert.is(ruleMatches(['-o', 'eth0', '-j', 'ACCEPT'], p), 'maybe');
    assert.is(ruleMatches(['-s', '10.9.0.0/16', '-j', 'ACCEPT'], p), 'yes');
    assert.is(ruleMatches(['-s', '10.8.0.0/24', '-j', 'ACCEPT'], p), 'no');
    assert.is(ruleMatches(['-d', '10.9.0.0/25', '-j', 'ACCEPT'], p), 'no', 'the destination is outside the pod subnet');
    assert.is(ruleMatches(['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'], p), 'no');
    assert.is(
      ruleMatches(['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'], {
        ...p,
        state: 'ESTABLISHED',
      }),
      'yes',
    );
    assert.is(ruleMatches(['-p', 'tcp', '-m', 'tcp', '--dport', '80', '-j', 'ACCEPT'], p), 'maybe');
    assert.is(ruleMatches(['-m', 'comment', '--comment', 'x y', '-i', BR, '-j', 'ACCEPT'], p), 'yes');
  },
);

test(
  'evalChain: policy DROP without an accept drops; an ACCEPT for the bridge (also in a user chain) saves it; ' +
    'conditional ones stay uncertain',
  () => {
    const pkt = { iif: { name: BR }, oif: { not: BR }, src: '10.9.0.2', state: 'NEW' as const };
    const t = (rules: string[]) =>
      parseTable(['*filter', ':FORWARD DROP [0:0]', ':USER - [0:0]', ...rules, 'COMMIT', ''].join('\n'), 'filter');
    const plain = evalChain(t([]), 'FORWARD', pkt);
    assert.ok(dropped(plain));
    assert.is(plain.policy, 'DROP');
    assert.not.ok(dropped(evalChain(t([`-A FORWARD -i ${BR} -j ACCEPT`]), 'FORWARD', pkt)));
    assert.not.ok(dropped(evalChain(t(['-A FORWARD -j USER', `-A USER -s 10.9.0.0/24 -j ACCEPT`]), 'FORWARD', pkt)));
    assert.ok(
      dropped(evalChain(t(['-A FORWARD -j USER', '-A USER -j RETURN', `-A USER -i ${BR} -j ACCEPT`]), 'FORWARD', pkt)),
      'RETURN goes back before the accept',
    );
    const cond = evalChain(t([`-A FORWARD -i ${BR} -p tcp -j ACCEPT`]), 'FORWARD', pkt);
    assert.ok(dropped(cond));
    assert.is(cond.uncertain.length, 1);
    const rejected = evalChain(
      parseTable(
        [
          '*filter',
          ':FORWARD ACCEPT [0:0]',
          `-A FORWARD -i ${BR} -j REJECT --reject-with icmp-port-unreachable`,
          'COMMIT',
        ].join('\n'),
        'filter',
      ),
      'FORWARD',
      pkt,
    );
    assert.ok(dropped(rejected));
    assert.match(rejected.rule!.line, 'REJECT');
  },
);

// ---- findings ---------------------------------------------------------------------------------

test('a healthy attachment has no findings and every hop ok', () => {
  const r = attachmentReport(ctx, cfgOf(), healthyNode(), healthyAttachment());
  assert.equal(r.findings, []);
  assert.ok(r.healthy);
  assert.equal(
    r.hops.map((h) => h.status),
    Array(9).fill('ok'),
  );
});

test(
  'route_localnet on the bridge without a localnet guard is named (CVE-2020-8558); with the guard, or ' +
    'route_localnet off, it is not',
  () => {
    const n = healthyNode();
    n.routeLocalnet = '1';
    n.localnetGuard = false;
    const f = diagnoseAttachment(ctx, cfgOf(), n, healthyAttachment()).find((x) => x.piece === 'bridge.localnet-guard');
    assert.ok(f, 'named');
    assert.is(f!.severity, 'warning');
    assert.match(f!.message, /route_localnet is 1 but no localnet guard/);
    n.localnetGuard = true;
    assert.not.ok(pieces(n, healthyAttachment()).includes('bridge.localnet-guard'));
    n.routeLocalnet = '0';
    n.localnetGuard = undefined;
    assert.not.ok(pieces(n, healthyAttachment()).includes('bridge.localnet-guard'));
  },
);

test('each broken piece is the first broken one, with its fix command and fixability', () => {
  const cases: {
    name: string;
    mut: (n: NodeFacts, a: AttachmentFacts) => void;
    piece: string;
    fix: string | RegExp;
    fixable: boolean;
  }[] = [
    {
      name: 'forwarding',
      mut: (n) => (n.ipv4Forward = '0'),
      piece: 'forwarding.ipv4',
      fix: 'sysctl -w net.ipv4.ip_forward=1',
      fixable: true,
    },
    {
      name: 'veth detached',
      mut: (_n, a) => (a.veth = { ...a.veth!, master: undefined }),
      piece: 'host-veth.master',
      fix: `ip link set ${hostVethName(CID, 'eth0')} master ${BR}`,
      fixable: true,
    },
    {
      name: 'veth down',
      mut: (_n, a) => (a.veth = { ...a.veth!, flags: 0 }),
      piece: 'host-veth.up',
      fix: `ip link set ${hostVethName(CID, 'eth0')} up`,
      fixable: true,
    },
    {
      name: 'bridge down',
      mut: (n) => (n.bridge = { ...n.bridge!, flags: 0 }),
      piece: 'bridge.up',
      fix: `ip link set ${BR} up`,
      fixable: true,
    },
    {
      name: 'bridge address',
      mut: (n) => (n.bridgeAddrs = []),
      piece: 'bridge.gateway',
      fix: `ip addr add 10.9.0.1/24 dev ${BR}`,
      fixable: true,
    },
    {
      name: 'container address',
      mut: (_n, a) => (a.container!.addrs = []),
      piece: 'container.address',
      fix: 'nsenter --net=/run/netns/pod ip addr add 10.9.0.2/24 dev eth0',
      fixable: true,
    },
    {
      name: 'container down',
      mut: (_n, a) => (a.container!.iface = { ...a.container!.iface!, flags: 0 }),
      piece: 'container.iface-up',
      fix: 'nsenter --net=/run/netns/pod ip link set eth0 up',
      fixable: true,
    },
    {
      name: 'default route',
      mut: (_n, a) => (a.container!.routes = []),
      piece: 'container.route',
      fix: 'nsenter --net=/run/netns/pod ip route add default via 10.9.0.1 dev eth0',
      fixable: true,
    },
    {
      name: 'interface gone',
      mut: (_n, a) => (a.container = { addrs: [], routes: [] }),
      piece: 'container.iface',
      fix: /re-create the attachment/,
      fixable: false,
    },
    {
      name: 'masquerade gone',
      mut: (_n, a) => (a.rules!.problems = ['MASQUERADE rule for 10.9.0.2 missing']),
      piece: 'nat.rules',
      fix: `${ctx.doctorCmd} --container ${CID} --fix`,
      fixable: true,
    },
    {
      name: 'FORWARD DROP',
      mut: (n) => (n.filter[4] = parseTable('*filter\n:FORWARD DROP [0:0]\nCOMMIT\n', 'filter')),
      piece: 'filter.forward-drop',
      fix: `iptables -I FORWARD -i ${BR} -j ACCEPT`,
      fixable: false,
    },
    {
      name: 'shadowed',
      mut: (n) => (n.nat[4] = natTable(['-A POSTROUTING -s 10.9.0.0/16 -j RETURN'])),
      piece: 'nat.shadowed',
      fix: 'iptables -t nat -D POSTROUTING -s 10.9.0.0/16 -j RETURN',
      fixable: false,
    },
    { name: 'no IPAM file', mut: (_n, a) => (a.reserved = []), piece: 'ipam.missing', fix: /printf/, fixable: false },
  ];
  for (const c of cases) {
    const n = healthyNode();
    const a = healthyAttachment();
    c.mut(n, a);
    const fs = diagnoseAttachment(ctx, cfgOf(), n, a);
    const first = firstBroken(fs);
    assert.is(first?.piece, c.piece, `${c.name}: ${JSON.stringify(fs)}`);
    if (typeof c.fix === 'string') assert.ok(first!.fix?.startsWith(c.fix), `${c.name}: fix ${first!.fix}`);
    else assert.match(first!.fix!, c.fix);
    assert.is(first!.fixable, c.fixable, c.name);
  }
});

test(
  'macspoofchk: every problem of the chains is one finding on the host veth; a changed MAC gets the command that ' +
    'restores it',
  () => {
    const a = { ...healthyAttachment(), spoofcheck: [] as string[] };
    assert.equal(diagnoseAttachment(ctx, cfgOf({ macspoofchk: true }), healthyNode(), a), []);
    a.spoofcheck = [
      'macspoofchk: chain cni-br-iface-c0ffee-eth0-mac lets only 0a:58:0a:09:00:02 through but eth0 has MAC ' +
        '02:00:00:00:00:01: its frames are dropped',
      'macspoofchk: chain cni-br-iface-c0ffee-eth0-mac does not end with "drop": spoofed frames pass',
    ];
    const f = diagnoseAttachment(ctx, cfgOf({ macspoofchk: true }), healthyNode(), a);
    assert.is(f.length, 1);
    assert.is(f[0].piece, 'host-veth.macspoofchk');
    assert.is(firstBroken(f)?.piece, 'host-veth.macspoofchk');
    assert.match(f[0].message, /^macspoofchk: chain .* its frames are dropped; chain .* spoofed frames pass$/);
    assert.is(
      f[0].fix?.startsWith('nsenter --net=/run/netns/pod ip link set eth0 address 0a:58:0a:09:00:02'),
      true,
      f[0].fix,
    );
  },
);

test('vlan with isGateway: the gateway interface <bridge>.<vlan> holding the pod subnet is no conflict', () => {
  const node = healthyNode();
  node.links.push(link(9, `${BR}.10`));
  node.addrs.push({ index: 9, family: 4, address: '10.9.0.1', prefix: 24, flags: 0 });
  node.routes.push({ family: 4, dst: '10.9.0.0/24', oif: 9, table: 254, protocol: 2 });
  assert.is(routeConflicts(ctx, node).length, 1, 'without the VLAN gateway known it is a conflict');
  assert.equal(routeConflicts(ctx, { ...node, vlanGateway: 9 }), []);
});

test(
  'FORWARD DROP with br_netfilter on also names traffic ' + 'between containers; with accept rules nothing is named',
  () => {
    const n = healthyNode();
    n.filter[4] = parseTable('*filter\n:FORWARD DROP [0:0]\nCOMMIT\n', 'filter');
    assert.equal(pieces(n, healthyAttachment()), [
      'filter.forward-drop',
      'filter.forward-drop-replies',
      'filter.bridge-nf',
    ]);
    n.brNfCallIptables = undefined; // br_netfilter not loaded
    assert.equal(pieces(n, healthyAttachment()), ['filter.forward-drop', 'filter.forward-drop-replies']);
    n.filter[4] = parseTable(
      `*filter\n:FORWARD DROP [0:0]\n-A FORWARD -i ${BR} -j ACCEPT\n-A FORWARD -o ${BR} -m ` +
        `conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n`,
      'filter',
    );
    n.brNfCallIptables = '1';
    assert.equal(pieces(n, healthyAttachment()), []);
  },
);

test(
  'the order is the path: a broken container comes before ' + 'forwarding; a missing bridge before its detached ports',
  () => {
    const n = healthyNode();
    const a = healthyAttachment();
    n.ipv4Forward = '0';
    a.container!.addrs = [];
    assert.is(firstBroken(diagnoseAttachment(ctx, cfgOf(), n, a))?.piece, 'container.address');
    const n2 = healthyNode();
    n2.bridge = undefined;
    n2.bridgeAddrs = [];
    const a2 = healthyAttachment();
    a2.veth = { ...a2.veth!, master: undefined };
    const ps = pieces(n2, a2);
    assert.equal(ps.slice(0, 2), ['bridge.missing', 'host-veth.master']);
  },
);

test(
  'a gone container: only its leaked reservation is named; ' + 'an unknown namespace with a live veth is named as such',
  () => {
    const a = healthyAttachment();
    a.netns = undefined;
    a.container = undefined;
    a.veth = undefined;
    const r = attachmentReport(ctx, cfgOf(), healthyNode(), a);
    assert.equal(
      r.findings.map((f) => f.piece),
      ['netns.gone'],
    );
    assert.match(r.findings[0].fix!, 'rm /var/lib/cni/networks/podnet/10.9.0.2');
    assert.ok(r.hops.slice(2).every((h) => h.status === 'skip'));
    const b = healthyAttachment();
    b.netns = undefined;
    b.container = undefined;
    assert.is(firstBroken(diagnoseAttachment(ctx, cfgOf(), healthyNode(), b))?.piece, 'netns.unknown');
  },
);

test(
  'route conflicts: another interface with an address or ' + 'a route inside the pod subnet; wider routes are fine',
  () => {
    const n = healthyNode();
    assert.equal(routeConflicts(ctx, n), []);
    n.links.push(link(9, 'dup0'));
    n.addrs.push({ index: 9, family: 4, address: '10.9.0.200', prefix: 24, flags: 0 });
    n.routes.push(
      { family: 4, dst: '10.9.0.0/24', oif: 9, table: 254, protocol: 2 },
      { family: 4, dst: '10.0.0.0/8', oif: 2, table: 254, protocol: 3 },
    );
    const c = routeConflicts(ctx, n);
    assert.is(c.length, 1);
    assert.match(c[0].message, 'interface dup0 claims the pod subnet 10.9.0.0/24');
    assert.match(c[0].fix!, 'ip addr del 10.9.0.200/24 dev dup0');
    assert.not.ok(c[0].fixable);
    n.addrs.pop();
    n.routes.push({ family: 4, dst: '10.9.0.128/25', oif: 2, table: 254, protocol: 3 });
    assert.match(
      routeConflicts(ctx, n)
        .map((f) => f.fix)
        .join(' '),
      'ip route del 10.9.0.128/25 dev eth0',
    );
  },
);

test('nat: an earlier SNAT is a warning; a conditional earlier ACCEPT a warning; a RETURN for the pod an error', () => {
  const n = healthyNode();
  n.nat[4] = natTable(['-A POSTROUTING -s 10.9.0.0/24 -j SNAT --to-source 192.168.1.5']);
  let f = diagnoseAttachment(ctx, cfgOf(), n, healthyAttachment());
  assert.equal(
    f.map((x) => `${x.piece} ${x.severity}`),
    ['nat.other-snat warning'],
  );
  n.nat[4] = natTable(['-A POSTROUTING -p tcp -j ACCEPT']);
  f = diagnoseAttachment(ctx, cfgOf(), n, healthyAttachment());
  assert.equal(
    f.map((x) => `${x.piece} ${x.severity}`),
    ['nat.shadowed warning'],
  );
  n.nat[4] = natTable(['-A POSTROUTING -s 10.8.0.0/24 -j RETURN', '-A POSTROUTING -d 10.9.0.0/24 -j RETURN']);
  assert.equal(
    pieces(n, healthyAttachment()),
    [],
    'rules for other sources or for the pod subnet as destination do not shadow',
  );
});

test('forwarding and FORWARD are not judged when isGateway is off', () => {
  const n = healthyNode();
  n.ipv4Forward = '0';
  n.filter[4] = parseTable('*filter\n:FORWARD DROP [0:0]\nCOMMIT\n', 'filter');
  n.brNfCallIptables = '0';
  const c = { ...ctx, isGateway: false };
  const f = diagnoseAttachment(c, cfgOf({ isGateway: false, isDefaultGateway: false }), n, healthyAttachment());
  assert.equal(
    f.map((x) => x.piece),
    [],
  );
});

// ---- config, counters, report -----------------------------------------------------------------

test(
  'tsbridgeConf: the tsbridge entry of a conflist gets the ' + 'list name and version; a plain conf is taken as is',
  () => {
    const list = {
      cniVersion: '1.0.0',
      name: 'n1',
      plugins: [{ type: 'portmap' }, { type: 'tsbridge', bridge: 'b0' }],
    };
    assert.equal(tsbridgeConf(list), { type: 'tsbridge', bridge: 'b0', name: 'n1', cniVersion: '1.0.0' });
    assert.is(tsbridgeConf({ name: 'x', plugins: [{ type: 'bridge' }] }), undefined);
    const one = { cniVersion: '0.4.0', name: 'n2', type: 'tsbridge' };
    assert.is(tsbridgeConf(one), one);
  },
);

test(
  'savedCounter reads a chain policy and a rule counter from iptables-save -c; decodeStats64 reads ' +
    'rtnl_link_stats64',
  () => {
    const text =
      '*filter\n:INPUT ACCEPT [5:100]\n:FORWARD DROP [17:1400]\nCOMMIT\n*nat\n:POSTROUTING ACCEPT ' +
      '[0:0]\n[3:180] -A POSTROUTING -s 10.9.0.2/32 -j CNI-x\nCOMMIT\n';
    assert.is(savedCounter(text, 'filter', { chainPolicy: 'FORWARD' }), 17);
    assert.is(savedCounter(text, 'nat', { rule: (l) => l.includes('-j CNI-x') }), 3);
    assert.is(savedCounter(text, 'nat', { rule: (l) => l.includes('-j CNI-y') }), undefined);
    const b = Buffer.alloc(23 * 8);
    [10, 20, 1000, 2000, 1, 2, 3, 4].forEach((v, i) => {
      b.writeBigUInt64LE(BigInt(v), i * 8);
    });
    assert.equal(decodeStats64(b), {
      rxPackets: 10,
      txPackets: 20,
      rxBytes: 1000,
      txBytes: 2000,
      rxErrors: 1,
      txErrors: 2,
      rxDropped: 3,
      txDropped: 4,
    });
    assert.is(decodeStats64(Buffer.alloc(8)), undefined);
  },
);

test('the text report: a table per attachment, the first broken piece and its fix; findings once', () => {
  const n = healthyNode();
  n.ipv4Forward = '0';
  const a = attachmentReport(ctx, cfgOf(), n, healthyAttachment());
  const b = attachmentReport(ctx, cfgOf(), n, { ...healthyAttachment(), containerId: 'other' });
  const report: DoctorReport = {
    network: NET,
    bridge: BR,
    config: '/etc/cni/net.d/10.conflist',
    healthy: false,
    firstBroken: { ...a.firstBroken!, containerId: CID, ifname: 'eth0' },
    attachments: [a, b],
    findings: uniqueFindings([a, b]),
    notes: [],
  };
  assert.is(report.findings.length, 1, 'the node-wide finding appears once');
  const text = renderText(report);
  assert.match(text, /HOP\s+STATUS\s+DETAIL/);
  assert.match(text, /forwarding\s+FAIL\s+IPv4 forwarding is off/);
  assert.match(text, `first broken: ${CID}/eth0 forwarding:`);
  assert.match(text, 'fix: sysctl -w net.ipv4.ip_forward=1');
  assert.match(text, '(tsbridge doctor --fix does this)');
});

test('hostile names: every interpolated value in a fix is one shell word; the text report has no raw controls', () => {
  // a pod with NET_ADMIN names its interface; a netns path and a bridge come from elsewhere
  for (const ifname of ['x;reboot', '\x1b[2J', "a'b$(id)"]) {
    const a = healthyAttachment();
    a.ifname = ifname;
    a.container!.iface = { ...link(2, ifname), flags: 0 };
    a.container!.addrs = [];
    a.container!.routes = [];
    const fs = diagnoseAttachment(ctx, cfgOf(), healthyNode(), a);
    const up = fs.find((f) => f.piece === 'container.iface-up')!;
    const addr = fs.find((f) => f.piece === 'container.address')!;
    const route = fs.find((f) => f.piece === 'container.route')!;
    const q = ifname === 'x;reboot' ? "'x;reboot'" : ifname === '\x1b[2J' ? "$'\\x1b[2J'" : "'a'\\''b$(id)'";
    assert.is(up.fix, `nsenter --net=/run/netns/pod ip link set ${q} up`);
    assert.is(addr.fix, `nsenter --net=/run/netns/pod ip addr add 10.9.0.2/24 dev ${q}`);
    assert.is(route.fix, `nsenter --net=/run/netns/pod ip route add default via 10.9.0.1 dev ${q}`);
    const r = attachmentReport(ctx, cfgOf(), healthyNode(), a);
    const report: DoctorReport = {
      network: NET,
      bridge: BR,
      config: 'c',
      healthy: false,
      firstBroken: { ...r.firstBroken!, containerId: CID, ifname },
      attachments: [r],
      findings: r.findings,
      notes: [`${ifname}: note`],
    };
    const text = renderText(report);
    assert.not.match(text, /[\x00-\x09\x0b-\x1f\x7f]/, 'a raw control character in the text report');
    assert.ok(text.includes(`fix: nsenter --net=/run/netns/pod ip link set ${q} up`), text);
  }
  // positive control: a plain name stays as it is (nothing over-quoted)
  const a = healthyAttachment();
  a.container!.iface = { ...link(2, 'eth0'), flags: 0 };
  assert.is(
    diagnoseAttachment(ctx, cfgOf(), healthyNode(), a).find((f) => f.piece === 'container.iface-up')!.fix,
    'nsenter --net=/run/netns/pod ip link set eth0 up',
  );
});

test('hostile strings elsewhere: netns path, interface names on the node, iptables rule words are quoted', () => {
  const a = healthyAttachment();
  a.netns = '/proc/1/ns/net;reboot';
  a.container!.iface = { ...link(2, 'eth0'), flags: 0 };
  assert.is(
    diagnoseAttachment(ctx, cfgOf(), healthyNode(), a).find((f) => f.piece === 'container.iface-up')!.fix,
    "nsenter --net='/proc/1/ns/net;reboot' ip link set eth0 up",
  );
  const n = healthyNode();
  n.links.push(link(9, 'x$(reboot)'));
  n.addrs.push({ index: 9, family: 4, address: '10.9.0.77', prefix: 24, flags: 0 });
  const conflict = routeConflicts(ctx, n)[0];
  assert.match(conflict.fix!, "ip addr del 10.9.0.77/24 dev 'x$(reboot)'");
  const nat = healthyNode();
  nat.nat[4] = natTable(['-A POSTROUTING -s 10.9.0.0/16 -m comment --comment "$(reboot) `id`" -j RETURN']);
  const f = diagnoseAttachment(ctx, cfgOf(), nat, healthyAttachment()).find((x) => x.piece === 'nat.shadowed')!;
  assert.is(
    f.fix,
    "iptables -t nat -D POSTROUTING -s 10.9.0.0/16 -m comment --comment '$(reboot) `id`' -j RETURN   " +
      "(not tsbridge's rule)",
  );
});

test('records: IDs and interface names no runtime gives are refused; real ones pass', () => {
  for (const [id, ifname] of [
    ['$(reboot)', 'eth0'],
    ['../x', 'eth0'],
    ['a/b', 'eth0'],
    ['x;y', 'eth0'],
    ['-rf', 'eth0'],
    ['c0ffee', 'x;reboot\x1b'],
    ['c0ffee', 'a/b'],
    ['c0ffee', 'x'.repeat(16)],
  ]) {
    assert.ok(recordProblem(id, ifname), `${id}/${ifname} accepted`);
  }
  for (const [id, ifname] of [
    ['c0ffee', 'eth0'],
    ['0123456789abcdef'.repeat(4), 'net1'],
    ['cnitool-77383ca0a0715733ca6f', ''],
    ['web-1.a_b', 'x;reboot'],
  ]) {
    assert.is(recordProblem(id, ifname), '', `${id}/${ifname} refused`);
  }
});

test.run();
