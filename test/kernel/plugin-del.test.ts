// DEL through the binary: idempotent, and complete even when the container's namespace is gone
// (`ip netns del`) or not given at all (empty CNI_NETNS, as containerd's ctr sends): the IP is
// released, the host veth and the MASQUERADE rules removed. The reference bridge leaks its rules
// in the empty-CNI_NETNS case (plugins#810); the last test shows the difference.
// Subnet 10.200.6.0/24, bridge tsbdel0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { hostVethName } from '../../src/attachment/names';
import { RUN_ID, World, bridgeConf, cni, cniOk, sh, inWorld } from '../helpers/netns';

const BRIDGE = 'tsbdel0';
const NET = 'tsbt-del';
const BACKENDS = ['iptables', 'nftables'] as const;

const conf = (world: World, backend: string, cniVersion = '1.1.0') =>
  bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, cniVersion, ranges: [[{ subnet: '10.200.6.0/24' }]] },
    { ipMasq: true, ipMasqBackend: backend },
  );

function addOk(world: World, c: object, cid: string, pod: { path: string }): void {
  cniOk(world.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path });
}

/** The attachment's rules, veth and reservation are all there (so their absence later means something). */
function assertPresent(world: World, cid: string): void {
  assert.ok(world.links(world.node).includes(hostVethName(cid, 'eth0')), 'host veth missing after ADD');
  assert.ok(world.natDump(world.node).includes(masqChainName(NET, cid)), 'masquerade chain missing after ADD');
  assert.equal(world.reservations(NET), ['10.200.6.2']);
}

function assertGone(world: World, cid: string): void {
  assert.equal(world.reservations(NET), [], 'IP not released');
  assert.not.ok(world.links(world.node).includes(hostVethName(cid, 'eth0')), 'host veth left behind');
  const dump = world.natDump(world.node);
  assert.not.ok(dump.includes(masqChainName(NET, cid)) || dump.includes(cid), `rules left behind:\n${dump}`);
}

test('DEL twice: both succeed, nothing left behind', () => {
  inWorld('deltwice', (world) => {
    const pod = world.pod('pod');
    const cid = `deltwice-${RUN_ID}`;
    const c = conf(world, 'iptables');
    addOk(world, c, cid, pod);
    assertPresent(world, cid);
    for (const n of [1, 2]) {
      const r = cni(world.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path });
      assert.is(r.status, 0, `DEL #${n} failed: ${r.stdout} ${r.stderr}`);
      assert.is(r.stdout.trim(), '', `DEL #${n} printed something`);
    }
    assertGone(world, cid);
    assert.not.ok(world.links(pod.name).includes('eth0'), 'container interface left behind');
  });
});

for (const backend of BACKENDS) {
  test(`${backend}: DEL after the container netns was deleted releases the IP, host veth and rules`, () => {
    inWorld(`delgone-${backend.slice(0, 3)}`, (world) => {
      const pod = world.pod('pod');
      const cid = `delgone-${backend}-${RUN_ID}`;
      const c = conf(world, backend);
      addOk(world, c, cid, pod);
      assertPresent(world, cid);
      sh('ip', ['netns', 'del', pod.name]);
      cniOk(world.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path });
      assertGone(world, cid);
      // and again: still fine
      assert.is(cni(world.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path }).status, 0);
    });
  });

  test(`${backend}: DEL with empty CNI_NETNS releases the IP, host veth (and so the pair) and rules`, () => {
    inWorld(`delnons-${backend.slice(0, 3)}`, (world) => {
      const pod = world.pod('pod');
      const cid = `delnons-${backend}-${RUN_ID}`;
      const c = conf(world, backend);
      addOk(world, c, cid, pod);
      assertPresent(world, cid);
      cniOk(world.node, { command: 'DEL', conf: c, containerId: cid, netns: '' });
      assertGone(world, cid);
      assert.not.ok(world.links(pod.name).includes('eth0'), 'container end of the pair left behind');
    });
  });
}

test('empty CNI_NETNS: the reference bridge leaks its MASQUERADE chain and host veth, tsbridge does not', () => {
  inWorld('delref', (world) => {
    // the installed reference speaks up to 1.0.0 and only iptables by default
    const c = conf(world, 'iptables', '1.0.0');
    const refPod = world.pod('ref');
    const refCid = `delref-ref-${RUN_ID}`;
    const add = cni(world.node, {
      command: 'ADD',
      conf: { ...c, type: 'bridge' },
      containerId: refCid,
      netns: refPod.path,
      bin: '/usr/lib/cni/bridge',
    });
    assert.is(add.status, 0, `reference ADD failed: ${add.stdout} ${add.stderr}`);
    const refChain = masqChainName(NET, refCid);
    assert.ok(world.natDump(world.node).includes(refChain), 'reference made no masquerade chain');
    const del = cni(world.node, {
      command: 'DEL',
      conf: { ...c, type: 'bridge' },
      containerId: refCid,
      netns: '',
      bin: '/usr/lib/cni/bridge',
    });
    assert.is(del.status, 0, `reference DEL failed: ${del.stdout} ${del.stderr}`);
    assert.equal(world.reservations(NET), [], 'the reference releases the IP');
    assert.ok(
      world.natDump(world.node).includes(refChain),
      'the installed reference bridge no longer leaks its chain (plugins#810 fixed?)',
    );
    const refVeth = add.json.interfaces[1].name as string;
    assert.ok(
      world.links(world.node).includes(refVeth),
      'the installed reference bridge no longer leaks its host veth',
    );

    // tsbridge, same scenario, same node: its own attachment is cleaned completely
    const pod = world.pod('tsb');
    const cid = `delref-tsb-${RUN_ID}`;
    addOk(world, c, cid, pod);
    assert.is(cni(world.node, { command: 'DEL', conf: c, containerId: cid, netns: '' }).status, 0);
    assertGone(world, cid);
  });
});

test.run();
