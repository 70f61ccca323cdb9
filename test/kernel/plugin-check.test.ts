// CHECK through the binary, with the ADD result as prevResult: success on a healthy container, and
// CNI error 104 naming the problem after each kind of breakage: nat rules flushed (iptables and
// nftables), ip_forward off, the container address gone, the host veth detached from the bridge,
// the IPAM reservation file removed. Subnet 10.200.7.0/24, bridge tsbchk0.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RUN_ID, World, bridgeConf, cni, withPrev } from '../helpers/netns';

const BRIDGE = 'tsbchk0';
const NET = 'tsbt-chk';

type Backend = 'iptables' | 'nftables';
interface Attached {
  world: World;
  pod: { name: string; path: string };
  cid: string;
  conf: object;
  prev: object;
  veth: string;
}

function attach(tag: string, backend: Backend): Attached {
  const world = new World(tag);
  const pod = world.pod('pod');
  const cid = `${tag}-${RUN_ID}`;
  const conf = bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.200.7.0/24' }]] },
    { ipMasq: true, ipMasqBackend: backend },
  );
  const add = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
  if (add.status !== 0) {
    world.cleanup();
    throw new Error(`ADD failed: ${add.stdout} ${add.stderr}`);
  }
  return { world, pod, cid, conf, prev: withPrev(conf, add.json), veth: add.json.interfaces[1].name };
}

const check = (a: Attached) =>
  cni(a.world.node, { command: 'CHECK', conf: a.prev, containerId: a.cid, netns: a.pod.path });

for (const backend of ['iptables', 'nftables'] as const) {
  test(`${backend}: CHECK passes on a healthy container (and again after a no-op)`, () => {
    const a = attach(`chkok-${backend.slice(0, 3)}`, backend);
    try {
      for (const n of [1, 2]) {
        const r = check(a);
        assert.is(r.status, 0, `CHECK #${n} failed: ${r.stdout} ${r.stderr}`);
        assert.is(r.stdout.trim(), '');
      }
    } finally {
      a.world.cleanup();
    }
  });
}

interface Breakage {
  name: string;
  backend: Backend;
  breakIt: (a: Attached) => void;
  /** every one of these must be in msg */
  expect: string[];
  /** none of these may be in msg: the problems that were not made */
  not: string[];
}

const breakages: Breakage[] = [
  {
    name: 'iptables -t nat -F',
    backend: 'iptables',
    breakIt: (a) => a.world.exec(a.world.node, 'iptables', ['-t', 'nat', '-F']),
    expect: ['MASQUERADE rule for 10.200.7.2 missing', 'iptables nat'],
    not: ['forwarding', 'IPAM', 'not attached', 'is missing from eth0'],
  },
  {
    name: 'nft flush ruleset',
    backend: 'nftables',
    breakIt: (a) => a.world.exec(a.world.node, 'nft', ['flush', 'ruleset']),
    expect: ['nftables table inet tsbridge is missing'],
    not: ['forwarding', 'IPAM', 'not attached', 'is missing from eth0'],
  },
  {
    name: 'ip_forward=0',
    backend: 'iptables',
    breakIt: (a) => a.world.exec(a.world.node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0']),
    expect: ['net.ipv4.ip_forward=0'],
    not: ['MASQUERADE', 'IPAM', 'not attached', 'is missing from eth0'],
  },
  {
    name: 'container address removed',
    backend: 'iptables',
    breakIt: (a) => a.world.exec(a.pod.name, 'ip', ['addr', 'del', '10.200.7.2/24', 'dev', 'eth0']),
    expect: ['address 10.200.7.2/24 is missing from eth0'],
    not: ['MASQUERADE', 'IPAM', 'not attached', 'forwarding'],
  },
  {
    name: 'host veth detached from the bridge',
    backend: 'nftables',
    breakIt: (a) => a.world.exec(a.world.node, 'ip', ['link', 'set', a.veth, 'nomaster']),
    expect: ['not attached to bridge tsbchk0'],
    not: ['MASQUERADE', 'IPAM', 'forwarding', 'is missing from eth0'],
  },
  {
    name: 'IPAM file removed',
    backend: 'iptables',
    breakIt: (a) => fs.rmSync(path.join(a.world.dataDir, NET, '10.200.7.2')),
    expect: ['IPAM has no reservation of 10.200.7.2'],
    not: ['MASQUERADE', 'forwarding', 'not attached', 'is missing from eth0'],
  },
];

breakages.forEach((b, i) => {
  test(`CHECK fails with code 104 naming the problem after: ${b.name} (${b.backend})`, () => {
    const a = attach(`chkbad${i}`, b.backend);
    try {
      const ok = check(a);
      assert.is(ok.status, 0, `CHECK before breaking failed: ${ok.stdout}`);
      b.breakIt(a);
      const r = check(a);
      assert.is.not(r.status, 0, 'CHECK passed on a broken container');
      assert.ok(r.json, `no error JSON: ${r.stdout} ${r.stderr}`);
      assert.is(r.json.code, 104, r.stdout);
      assert.is(r.json.cniVersion, '1.1.0');
      for (const s of b.expect) assert.ok(r.json.msg.includes(s), `msg lacks "${s}": ${r.json.msg}`);
      for (const s of b.not)
        assert.not.ok(r.json.msg.includes(s), `msg names "${s}", which was not broken: ${r.json.msg}`);
    } finally {
      a.world.cleanup();
    }
  });
});

// A container attached twice to one network with isDefaultGateway: the second ADD reports a
// default route in its result; CHECK right after that ADD must agree with it.
test('CHECK passes right after ADD of a second interface (eth1) with isDefaultGateway', () => {
  const a = attach('chk2if', 'iptables');
  try {
    const add1 = cni(a.world.node, {
      command: 'ADD',
      conf: a.conf,
      containerId: a.cid,
      netns: a.pod.path,
      ifname: 'eth1',
    });
    assert.is(add1.status, 0, `ADD eth1 failed: ${add1.stdout}`);
    assert.ok(
      (add1.json.routes as { dst: string }[]).some((r) => r.dst === '0.0.0.0/0'),
      'ADD eth1 reports no default route',
    );
    const r = cni(a.world.node, {
      command: 'CHECK',
      conf: withPrev(a.conf, add1.json),
      containerId: a.cid,
      netns: a.pod.path,
      ifname: 'eth1',
    });
    assert.is(r.status, 0, `CHECK eth1 right after its ADD: ${r.stdout}`);
  } finally {
    a.world.cleanup();
  }
});

test('CHECK without prevResult is refused with a config error', () => {
  const a = attach('chknoprev', 'iptables');
  try {
    const r = cni(a.world.node, { command: 'CHECK', conf: a.conf, containerId: a.cid, netns: a.pod.path });
    assert.is.not(r.status, 0);
    assert.is(r.json?.code, 7, r.stdout);
    assert.match(r.json.msg, 'prevResult');
  } finally {
    a.world.cleanup();
  }
});

test.run();
