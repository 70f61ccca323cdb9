// IPAM through the binary: a requested address (CNI_ARGS IP= and runtimeConfig.ips), a request
// for a taken address (code 102) and an exhausted range (code 101). A failed ADD leaves no host
// veth, no container interface, no reservation and no rule. Subnet 10.200.5.0/24 (a /29 of it
// for exhaustion), bridge tsbipam0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { hostVethName } from '../../src/attachment/names';
import { assertTracesSeen, traces } from '../helpers/fuzz-state';
import { RUN_ID, World, bridgeConf, cni, inWorld } from '../helpers/netns';

const BRIDGE = 'tsbipam0';
const NET = 'tsbt-ipam';

const conf = (world: World, subnet = '10.200.5.0/24') =>
  bridgeConf(world, { name: NET, bridge: BRIDGE, ranges: [[{ subnet }]] }, { ipMasq: true, ipMasqBackend: 'iptables' });

/** Nothing of attachment (cid, eth0) in the node or the pod: no veth, no eth0, no reservation, no rule. */
function assertNothingOf(world: World, cid: string, pod: { name: string }): void {
  assertTracesSeen(world, NET); // the presence check: these readers would see a leftover
  assert.equal(traces(world, NET, cid), [], 'traces left behind');
  assert.not.ok(world.links(world.node).includes(hostVethName(cid, 'eth0')), 'host veth left behind');
  assert.not.ok(world.links(pod.name).includes('eth0'), 'container interface left behind');
  const dump = world.natDump(world.node);
  assert.not.ok(dump.includes(masqChainName(NET, cid)) || dump.includes(cid), `rules left behind:\n${dump}`);
}

test('requested IP via CNI_ARGS IP= and via runtimeConfig.ips', () => {
  inWorld('ipreq', (world) => {
    const a = world.pod('a');
    const ra = cni(world.node, {
      command: 'ADD',
      conf: conf(world),
      containerId: `ipreq-a-${RUN_ID}`,
      netns: a.path,
      args: 'IgnoreUnknown=1;IP=10.200.5.50',
    });
    assert.is(ra.status, 0, `ADD a failed: ${ra.stdout} ${ra.stderr}`);
    assert.is(ra.json.ips[0].address, '10.200.5.50/24');
    assert.equal(world.addrs(a.name, 'eth0'), ['10.200.5.50/24']);

    const b = world.pod('b');
    const rb = cni(world.node, {
      command: 'ADD',
      conf: { ...conf(world), runtimeConfig: { ips: ['10.200.5.60/24'] } },
      containerId: `ipreq-b-${RUN_ID}`,
      netns: b.path,
    });
    assert.is(rb.status, 0, `ADD b failed: ${rb.stdout} ${rb.stderr}`);
    assert.is(rb.json.ips[0].address, '10.200.5.60/24');
    assert.equal(world.addrs(b.name, 'eth0'), ['10.200.5.60/24']);

    assert.equal(world.reservations(NET), ['10.200.5.50', '10.200.5.60']);
    assert.ok(world.ping(a.name, '10.200.5.60'), 'a cannot reach b');
  });
});

test('requesting an IP that is taken: code 102, nothing left behind, the holder untouched', () => {
  inWorld('iptaken', (world) => {
    const a = world.pod('a');
    const cidA = `iptaken-a-${RUN_ID}`;
    assert.is(
      cni(world.node, { command: 'ADD', conf: conf(world), containerId: cidA, netns: a.path, args: 'IP=10.200.5.50' })
        .status,
      0,
    );

    for (const [how, call] of [
      ['CNI_ARGS', { args: 'IP=10.200.5.50' }],
      ['runtimeConfig', { conf: { ...conf(world), runtimeConfig: { ips: ['10.200.5.50/24'] } } }],
    ] as const) {
      const b = world.pod('b');
      const cidB = `iptaken-b-${RUN_ID}`;
      const r = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cidB, netns: b.path, ...call });
      assert.is.not(r.status, 0, `${how}: ADD of a taken IP succeeded`);
      assert.is(r.json?.code, 102, `${how}: ${r.stdout}`);
      assert.match(r.json.msg, '10.200.5.50');
      assertNothingOf(world, cidB, b);
      assert.equal(world.reservations(NET), ['10.200.5.50'], `${how}: reservations`);
    }
    // the holder keeps its address, veth and rules
    assert.equal(world.addrs(a.name, 'eth0'), ['10.200.5.50/24']);
    assert.ok(world.links(world.node).includes(hostVethName(cidA, 'eth0')));
    assert.ok(world.natDump(world.node).includes(masqChainName(NET, cidA)), 'holder lost its rules');
    assert.ok(world.ping(a.name, '10.200.5.1'));
  });
});

test('range exhaustion: ADD until the /29 is full, then code 101 on stdout, non-zero exit, nothing left behind', () => {
  inWorld('ipfull', (world) => {
    const c = conf(world, '10.200.5.0/29');
    // .1 is the gateway, .7 broadcast: .2 - .6 are the five to hand out
    for (let i = 2; i <= 6; i++) {
      const p = world.pod(`p${i}`);
      const r = cni(world.node, { command: 'ADD', conf: c, containerId: `ipfull-${i}-${RUN_ID}`, netns: p.path });
      assert.is(r.status, 0, `ADD ${i} failed: ${r.stdout}`);
      assert.is(r.json.ips[0].address, `10.200.5.${i}/29`);
    }
    const before = world.reservations(NET);
    assert.equal(before, ['10.200.5.2', '10.200.5.3', '10.200.5.4', '10.200.5.5', '10.200.5.6']);
    const vethsBefore = world.links(world.node).filter((l) => l.startsWith('veth')).length;

    const last = world.pod('last');
    const cid = `ipfull-last-${RUN_ID}`;
    const r = cni(world.node, { command: 'ADD', conf: c, containerId: cid, netns: last.path });
    assert.is.not(r.status, 0, 'ADD into a full range succeeded');
    assert.ok(r.json, `no JSON on stdout: ${r.stdout} / ${r.stderr}`);
    assert.is(r.json.code, 101, r.stdout);
    assert.is(r.json.cniVersion, '1.1.0');
    assert.type(r.json.msg, 'string');
    assertNothingOf(world, cid, last);
    assert.equal(world.reservations(NET), before);
    assert.is(world.links(world.node).filter((l) => l.startsWith('veth')).length, vethsBefore);
  });
});

test.run();
