// A failed ADD undoes what it did. Failures are injected at each stage after the IP is taken:
// the bridge name held by a non-bridge link, CNI_IFNAME already present in the container, a route
// the container cannot have, and an nftables table the masquerade rules cannot be added to. Each
// time: CNI error JSON, no reservation, no host veth, no container interface, no rule, the
// obstacle itself untouched, and once the obstacle is gone the same ADD succeeds with the first IP.
// Subnet 10.200.8.0/24, bridge tsbrb0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { hostVethName } from '../../src/attachment/names';
import { assertTracesSeen, traces } from '../helpers/fuzz-state';
import { RUN_ID, World, bridgeConf, cni, inWorld, assertCniError } from '../helpers/netns';

const BRIDGE = 'tsbrb0';
const NET = 'tsbt-rb';

const conf = (world: World, backend = 'iptables', ipam: object = {}) =>
  bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.200.8.0/24' }]], ipam },
    { ipMasq: true, ipMasqBackend: backend },
  );

function assertNothingLeft(world: World, cid: string, pod: { name: string }, podLinks: string[] = ['lo']): void {
  assertTracesSeen(world, NET); // the presence check: these readers would see a leftover
  assert.equal(traces(world, NET, cid), [], 'traces left behind');
  assert.equal(world.reservations(NET), [], 'IP reservation left behind');
  assert.not.ok(world.links(world.node).includes(hostVethName(cid, 'eth0')), 'host veth left behind');
  assert.equal(world.links(pod.name).sort(), podLinks.sort(), 'container links');
  const dump = world.natDump(world.node);
  assert.not.ok(dump.includes(masqChainName(NET, cid)) || dump.includes(cid), `rules left behind:\n${dump}`);
}

function addAgainOk(world: World, c: object, cid: string, pod: { path: string }): void {
  // host-local moves on after its last reservation, so ask for the released IP by name
  const r = cni(world.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path, args: 'IP=10.200.8.2' });
  assert.is(r.status, 0, `ADD after removing the obstacle failed: ${r.stdout} ${r.stderr}`);
  assert.is(r.json.ips[0].address, '10.200.8.2/24', 'the released IP can be had again');
  assert.equal(world.reservations(NET), ['10.200.8.2']);
}

test('bridge name taken by a non-bridge link: code 7, IP released, nothing left, the link untouched', () => {
  inWorld('rbbr', (world) => {
    // a veth pair (this kernel may lack the dummy driver)
    world.exec(world.node, 'ip', ['link', 'add', BRIDGE, 'type', 'veth', 'peer', 'name', 'tsbrb0-peer']);
    const pod = world.pod('pod');
    const cid = `rbbr-${RUN_ID}`;
    const r = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: pod.path });
    assertCniError(r, 7, 'not a bridge');
    assertNothingLeft(world, cid, pod);
    assert.is(world.link(world.node, BRIDGE)?.linkinfo?.info_kind, 'veth', 'the foreign link was changed');

    world.exec(world.node, 'ip', ['link', 'del', BRIDGE]);
    addAgainOk(world, conf(world), cid, pod);
  });
});

test('CNI_IFNAME already in the container: veth creation fails, IP released, the existing interface kept', () => {
  inWorld('rbif', (world) => {
    const pod = world.pod('pod');
    world.exec(pod.name, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer']);
    const cid = `rbif-${RUN_ID}`;
    const r = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: pod.path });
    assertCniError(r, 7, 'already exists');
    assertNothingLeft(world, cid, pod, ['lo', 'eth0', 'eth0-peer']);
    assert.is(world.link(pod.name, 'eth0')?.linkinfo?.info_kind, 'veth', "the container's own eth0 was replaced");
    assert.is(world.link(pod.name, 'eth0')?.master, undefined);
    assert.equal(world.addrs(pod.name, 'eth0'), []);

    world.exec(pod.name, 'ip', ['link', 'del', 'eth0']);
    addAgainOk(world, conf(world), cid, pod);
  });
});

test('a container route that cannot be added (unreachable gateway): veth pair deleted, IP released', () => {
  inWorld('rbrt', (world) => {
    const pod = world.pod('pod');
    const cid = `rbrt-${RUN_ID}`;
    const bad = conf(world, 'iptables', { routes: [{ dst: '192.168.208.0/24', gw: '10.99.0.1' }] });
    const r = cni(world.node, { command: 'ADD', conf: bad, containerId: cid, netns: pod.path });
    assertCniError(r, 105, '192.168.208.0/24');
    assertNothingLeft(world, cid, pod);

    addAgainOk(world, conf(world), cid, pod);
  });
});

test('nftables masquerade fails (a foreign non-NAT "postrouting" chain in inet tsbridge): everything undone', () => {
  inWorld('rbfw', (world) => {
    world.exec(world.node, 'nft', ['add', 'table', 'inet', 'tsbridge']);
    world.exec(world.node, 'nft', ['add', 'chain', 'inet', 'tsbridge', 'postrouting']);
    const pod = world.pod('pod');
    const cid = `rbfw-${RUN_ID}`;
    const c = conf(world, 'nftables');
    const r = cni(world.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path });
    assertCniError(r, 106, 'nft');
    assertNothingLeft(world, cid, pod);
    const table = world.exec(world.node, 'nft', ['list', 'table', 'inet', 'tsbridge']);
    assert.match(table, 'chain postrouting', 'the pre-existing chain was removed');

    world.exec(world.node, 'nft', ['delete', 'table', 'inet', 'tsbridge']);
    addAgainOk(world, c, cid, pod);
    assert.match(world.exec(world.node, 'nft', ['list', 'table', 'inet', 'tsbridge']), masqChainName(NET, cid));
  });
});

test.run();
