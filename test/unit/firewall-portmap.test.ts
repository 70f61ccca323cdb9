import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, ErrCode } from '../../src/cni/errors';
import {
  HeldPort,
  dnatEntries,
  findConflicts,
  guardedBridge,
  hairpinChainName,
  hostIpsOverlap,
  parsePortMappings,
  portInUseError,
  requiredSysctls,
} from '../../src/firewall/portmap';
import { dnatChainName } from '../../src/firewall/tag';
import type { AttachmentRules, PortMapping } from '../../src/firewall/types';

function fails(raw: unknown, re: RegExp): void {
  try {
    parsePortMappings(raw);
    assert.unreachable(`accepted ${JSON.stringify(raw)}`);
  } catch (e) {
    assert.instance(e, CniError);
    assert.is((e as CniError).code, ErrCode.InvalidConfig);
    assert.match((e as CniError).message, re);
  }
}

test(
  'parsePortMappings: Go-style case-insensitive keys (containerd CRI sends HostPort, ContainerPort, Protocol, ' +
    'HostIP)',
  () => {
    assert.equal(
      parsePortMappings([
        { HostPort: 8080, ContainerPort: 80, Protocol: 'TCP', HostIP: '' },
        { hostport: 53, CONTAINERPORT: 5353, protocol: 'Udp' },
        { hostPort: 9, containerPort: 9, protocol: 'sctp', hostIP: '192.0.2.1' },
      ]),
      [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostPort: 53, containerPort: 5353, protocol: 'udp' },
        { hostPort: 9, containerPort: 9, protocol: 'sctp', hostIP: '192.0.2.1' },
      ],
    );
  },
);

test('parsePortMappings: defaults and normalization', () => {
  assert.equal(parsePortMappings(undefined), []);
  assert.equal(parsePortMappings(null), []);
  assert.equal(parsePortMappings([]), []);
  assert.equal(parsePortMappings([{ hostPort: 1, containerPort: 65535 }]), [
    { hostPort: 1, containerPort: 65535, protocol: 'tcp' },
  ]);
  assert.equal(parsePortMappings([{ hostPort: 1, containerPort: 2, protocol: '' }])[0].protocol, 'tcp');
  assert.equal(parsePortMappings([{ hostPort: 1, containerPort: 2, protocol: null, hostIP: null }]), [
    { hostPort: 1, containerPort: 2, protocol: 'tcp' },
  ]);
  assert.is(parsePortMappings([{ hostPort: 1, containerPort: 2, hostIP: '2001:DB8:0::1' }])[0].hostIP, '2001:db8::1');
  assert.is(parsePortMappings([{ hostPort: 1, containerPort: 2, hostIP: '::ffff:192.0.2.7' }])[0].hostIP, '192.0.2.7');
  assert.is(parsePortMappings([{ hostPort: 1, containerPort: 2, hostIP: '0.0.0.0' }])[0].hostIP, '0.0.0.0');
  assert.is(parsePortMappings([{ hostPort: 1, containerPort: 2, hostIP: '::' }])[0].hostIP, '::');
  // exact duplicates collapse; same host port on two protocols or two specific addresses is fine
  assert.is(
    parsePortMappings([
      { hostPort: 80, containerPort: 80 },
      { HostPort: 80, ContainerPort: 80, Protocol: 'tcp' },
    ]).length,
    1,
  );
  assert.is(
    parsePortMappings([
      { hostPort: 80, containerPort: 80 },
      { hostPort: 80, containerPort: 81, protocol: 'udp' },
    ]).length,
    2,
  );
  assert.is(
    parsePortMappings([
      { hostPort: 80, containerPort: 80, hostIP: '192.0.2.1' },
      { hostPort: 80, containerPort: 81, hostIP: '192.0.2.2' },
      { hostPort: 80, containerPort: 82, hostIP: '2001:db8::1' },
    ]).length,
    3,
  );
});

test('parsePortMappings: errors are CNI code 7 and say what is wrong', () => {
  fails({ hostPort: 80 }, /want a list/);
  fails('80:80', /want a list/);
  fails([42], /entry 0: want an object/);
  fails([{ containerPort: 80 }], /entry 0: hostPort must be an integer in 1\.\.65535, got undefined/);
  fails([{ hostPort: 0, containerPort: 80 }], /hostPort must be an integer in 1\.\.65535, got 0/);
  fails([{ hostPort: 65536, containerPort: 80 }], /hostPort .* got 65536/);
  fails([{ hostPort: 80, containerPort: -1 }], /containerPort .* got -1/);
  fails([{ hostPort: 80.5, containerPort: 80 }], /hostPort .* got 80\.5/);
  fails([{ hostPort: '80', containerPort: 80 }], /hostPort .* got "80"/);
  fails([{ hostPort: 80, containerPort: 80, protocol: 'icmp' }], /protocol must be tcp, udp or sctp, got "icmp"/);
  fails([{ hostPort: 80, containerPort: 80, protocol: 6 }], /protocol must be a string/);
  fails([{ hostPort: 80, containerPort: 80, hostIP: 'localhost' }], /hostIP must be an IP address, got "localhost"/);
  fails([{ hostPort: 80, containerPort: 80, hostIP: '10.1' }], /hostIP must be an IP address/);
  fails([{ hostPort: 80, containerPort: 80, hostIP: 'fe80::1%eth0' }], /hostIP must be an IP address/);
  fails([{ hostPort: 80, containerPort: 80, hostIP: '192.0.2.0/24' }], /hostIP must be an IP address/);
  fails([{ hostPort: 80, containerPort: 80, hostIP: 7 }], /hostIP must be a string/);
  fails(
    [
      { hostPort: 80, containerPort: 80 },
      { hostPort: 80, containerPort: 81 },
    ],
    /entry 1: host port 80\/tcp is also mapped to container port 80/,
  );
  fails(
    [
      { hostPort: 80, containerPort: 80, hostIP: '0.0.0.0' },
      { hostPort: 80, containerPort: 81, hostIP: '192.0.2.1' },
    ],
    /entry 1: host port 192\.0\.2\.1:80\/tcp is also mapped/,
  );
});

test('hostIpsOverlap: wildcard vs specific, per family', () => {
  assert.ok(hostIpsOverlap(undefined, '192.0.2.1'));
  assert.ok(hostIpsOverlap(undefined, undefined));
  assert.ok(hostIpsOverlap('0.0.0.0', '192.0.2.1'));
  assert.ok(hostIpsOverlap('192.0.2.1', '192.0.2.1'));
  assert.not.ok(hostIpsOverlap('192.0.2.1', '192.0.2.2'));
  assert.not.ok(hostIpsOverlap('0.0.0.0', '::'));
  assert.not.ok(hostIpsOverlap('::', '192.0.2.1'));
  assert.ok(hostIpsOverlap('::', '2001:db8::1'));
});

const rules = (portMappings: PortMapping[], ips = dual): AttachmentRules => ({
  network: 'net',
  containerId: 'ctr',
  ifname: 'eth0',
  ips,
  masquerade: false,
  portMappings,
});
const dual: AttachmentRules['ips'] = [
  { ip: '10.9.0.5', subnet: '10.9.0.5/24', family: 4 },
  { ip: '10.9.0.6', subnet: '10.9.0.6/24', family: 4 },
  { ip: 'FD00:9::5', subnet: 'fd00:9::5/64', family: 6 },
];
const v4only: AttachmentRules['ips'] = [dual[0]];

test('dnatEntries: first address of the family; hostIP of the other family skipped; wildcards per family', () => {
  const r = rules(
    parsePortMappings([
      { hostPort: 80, containerPort: 8080 },
      { hostPort: 81, containerPort: 81, hostIP: '192.0.2.1' },
      { hostPort: 82, containerPort: 82, hostIP: '0.0.0.0' },
      { hostPort: 83, containerPort: 83, hostIP: '::' },
      { hostPort: 84, containerPort: 84, hostIP: '2001:db8::1', protocol: 'udp' },
    ]),
  );
  assert.equal(dnatEntries(r, 4), [
    { family: 4, protocol: 'tcp', hostPort: 80, containerIp: '10.9.0.5', containerPort: 8080 },
    { family: 4, protocol: 'tcp', hostPort: 81, containerIp: '10.9.0.5', containerPort: 81, hostIP: '192.0.2.1' },
    { family: 4, protocol: 'tcp', hostPort: 82, containerIp: '10.9.0.5', containerPort: 82 },
  ]);
  assert.equal(dnatEntries(r, 6), [
    { family: 6, protocol: 'tcp', hostPort: 80, containerIp: 'fd00:9::5', containerPort: 8080 },
    { family: 6, protocol: 'tcp', hostPort: 83, containerIp: 'fd00:9::5', containerPort: 83 },
    { family: 6, protocol: 'udp', hostPort: 84, containerIp: 'fd00:9::5', containerPort: 84, hostIP: '2001:db8::1' },
  ]);
  assert.equal(dnatEntries({ ...r, ips: v4only }, 6), []);
});

const held = (h: Partial<HeldPort>): HeldPort => ({
  family: 4,
  protocol: 'tcp',
  hostPort: 80,
  chain: dnatChainName('net', 'other'),
  containerId: 'other',
  network: 'net',
  ...h,
});

test(
  'findConflicts: same port+proto with overlapping hostIP ' + 'conflicts; other proto, other address, own chain do not',
  () => {
    const own = dnatChainName('net', 'ctr');
    const want = (m: PortMapping[]) => [...dnatEntries(rules(m), 4), ...dnatEntries(rules(m), 6)];
    const wild = want([{ hostPort: 80, containerPort: 80, protocol: 'tcp' }]);
    // same port, different protocol: fine
    assert.equal(findConflicts([held({ protocol: 'udp' })], wild, own), []);
    // our own rules (a repeated ADD) never conflict
    assert.equal(findConflicts([held({ chain: own, containerId: 'ctr' })], wild, own), []);
    // the other family's holder does not block this family
    assert.equal(
      findConflicts(
        [held({ family: 6 })],
        want([{ hostPort: 80, containerPort: 80, protocol: 'tcp', hostIP: '0.0.0.0' }]),
        own,
      ),
      [],
    );
    // two different specific addresses: fine
    const specific = want([{ hostPort: 80, containerPort: 80, protocol: 'tcp', hostIP: '192.0.2.1' }]);
    assert.equal(findConflicts([held({ hostIP: '192.0.2.2' })], specific, own), []);
    // same specific address: conflict
    assert.equal(findConflicts([held({ hostIP: '192.0.2.1' })], specific, own), [
      {
        family: 4,
        protocol: 'tcp',
        hostPort: 80,
        hostIP: '192.0.2.1',
        holder: { containerId: 'other', network: 'net', hostIP: '192.0.2.1' },
      },
    ]);
    // wildcard held, specific wanted: conflict
    assert.equal(findConflicts([held({})], specific, own), [
      {
        family: 4,
        protocol: 'tcp',
        hostPort: 80,
        hostIP: '192.0.2.1',
        holder: { containerId: 'other', network: 'net' },
      },
    ]);
    // specific held, wildcard wanted: conflict
    assert.equal(findConflicts([held({ hostIP: '192.0.2.2' })], wild, own), [
      {
        family: 4,
        protocol: 'tcp',
        hostPort: 80,
        holder: { containerId: 'other', network: 'net', hostIP: '192.0.2.2' },
      },
    ]);
    // a dual-stack wildcard held in both families against a dual-stack wildcard: one conflict per family
    assert.is(findConflicts([held({}), held({ family: 6 })], wild, own).length, 2);
  },
);

test('portInUseError: code 103, names holder and port once even when both families clash', () => {
  const c = { protocol: 'tcp' as const, hostPort: 80, holder: { containerId: 'other', network: 'net' } };
  const e = portInUseError([
    { ...c, family: 4 },
    { ...c, family: 6 },
  ]);
  assert.is(e.code, ErrCode.PortInUse);
  assert.is(e.message, 'host port 80/tcp is already mapped by container other of network "net"');
  const e2 = portInUseError([{ ...c, family: 4, hostIP: '192.0.2.1', holder: { containerId: 'x', network: null } }]);
  assert.is(
    e2.message,
    'host port 192.0.2.1:80/tcp is already mapped by container x (it maps every local IPv4 address)',
  );
});

test('requiredSysctls: route_localnet on the bridge only with IPv4 mappings and a bridge name', () => {
  const m: PortMapping[] = [{ hostPort: 80, containerPort: 80, protocol: 'tcp' }];
  assert.equal(requiredSysctls({ ...rules(m), bridge: 'cni0' }), [
    { key: 'net.ipv4.conf.cni0.route_localnet', path: '/proc/sys/net/ipv4/conf/cni0/route_localnet', value: '1' },
  ]);
  assert.equal(requiredSysctls({ ...rules(m), bridge: 'br.10' })[0].key, 'net.ipv4.conf.br/10.route_localnet');
  assert.equal(requiredSysctls(rules(m)), []);
  assert.equal(requiredSysctls({ ...rules([]), bridge: 'cni0' }), []);
  assert.equal(requiredSysctls({ ...rules(m, [dual[2]]), bridge: 'cni0' }), []);
});

test('guardedBridge: only with a bridge and an IPv4 mapping; names that cannot go into rule text are refused', () => {
  const m: PortMapping[] = [{ hostPort: 80, containerPort: 80, protocol: 'tcp' }];
  assert.is(guardedBridge({ ...rules(m), bridge: 'cni0' }), 'cni0');
  assert.is(guardedBridge({ ...rules(m), bridge: 'br-1.10@x' }), 'br-1.10@x');
  assert.is(guardedBridge(rules(m)), null);
  assert.is(guardedBridge({ ...rules([]), bridge: 'cni0' }), null);
  assert.is(guardedBridge({ ...rules(m, [dual[2]]), bridge: 'cni0' }), null);
  for (const bad of ['a"b', 'x y', 'sixteen-chars-xx', 'a/b', '..']) {
    try {
      guardedBridge({ ...rules(m), bridge: bad });
      assert.unreachable(bad);
    } catch (e) {
      assert.is((e as CniError).code, ErrCode.FirewallFailure);
    }
  }
});

test('chain names: CNI-DN-/CNI-HM- + 21 hex digits of sha512(network + containerID)', () => {
  assert.match(dnatChainName('net', 'ctr'), /^CNI-DN-[0-9a-f]{21}$/);
  assert.is(hairpinChainName('net', 'ctr').slice(7), dnatChainName('net', 'ctr').slice(7));
});

test.run();
