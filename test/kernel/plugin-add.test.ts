// ADD of one container through the built binary, run in a throwaway "node" namespace as a
// runtime would: the result JSON (1.1.0 and 0.4.0 shapes), what the container namespace holds
// afterwards, and traffic to the gateway and from the node. Subnet 10.200.1.0/24, bridge tsbadd0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostVethName } from '../../src/attachment/names';
import { RUN_ID, World, bridgeConf, cniOk, inWorld } from '../helpers/netns';

const BRIDGE = 'tsbadd0';
const NET = 'tsbt-add';
const DNS = { nameservers: ['10.200.1.53'], search: ['tsb.test'] };

function conf(world: World, cniVersion: string): Record<string, unknown> {
  return bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, cniVersion, ranges: [[{ subnet: '10.200.1.0/24' }]] },
    { dns: DNS },
  );
}

test(
  'ADD 1.1.0: result shape matches the links, container gets ' + 'address and default route, gateway and node reach it',
  async () => {
    await inWorld('add11', async (world) => {
      const pod = world.pod('pod');
      const cid = `add11-${RUN_ID}`;
      const r = cniOk(world.node, { command: 'ADD', conf: conf(world, '1.1.0'), containerId: cid, netns: pod.path });
      const res = r.json;
      assert.equal(Object.keys(res).sort(), ['cniVersion', 'dns', 'interfaces', 'ips', 'routes']);
      assert.is(res.cniVersion, '1.1.0');

      // interfaces: [bridge, host veth, container end with its sandbox], MACs as the kernel has them
      assert.is(res.interfaces.length, 3);
      const [br, hv, ct] = res.interfaces;
      const vethName = hostVethName(cid, 'eth0');
      assert.equal(Object.keys(br).sort(), ['mac', 'name']);
      assert.is(br.name, BRIDGE);
      assert.is(br.mac, world.link(world.node, BRIDGE)!.address);
      assert.equal(Object.keys(hv).sort(), ['mac', 'name']);
      assert.is(hv.name, vethName);
      assert.is(hv.mac, world.link(world.node, vethName)!.address);
      assert.equal(Object.keys(ct).sort(), ['mac', 'name', 'sandbox']);
      assert.is(ct.name, 'eth0');
      assert.is(ct.sandbox, pod.path);
      assert.is(ct.mac, world.link(pod.name, 'eth0')!.address);

      assert.equal(res.ips, [{ address: '10.200.1.2/24', gateway: '10.200.1.1', interface: 2 }]);
      assert.equal(res.routes, [{ dst: '0.0.0.0/0', gw: '10.200.1.1' }]);
      assert.equal(res.dns, DNS);

      // the node: bridge up with the gateway address, host veth enslaved and up
      assert.equal(world.addrs(world.node, BRIDGE), ['10.200.1.1/24']);
      const veth = world.link(world.node, vethName)!;
      assert.is(veth.master, BRIDGE);
      assert.ok(veth.flags?.includes('UP'), `host veth not up: ${veth.flags}`);
      assert.is(veth.linkinfo?.info_kind, 'veth');
      assert.is(world.sysctl(world.node, 'net.ipv4.ip_forward'), '1');

      // the container: address and default route
      assert.equal(world.addrs(pod.name, 'eth0'), ['10.200.1.2/24']);
      const def = world.routes(pod.name, 4).find((rt) => rt.dst === 'default');
      assert.ok(def, 'no default route in the container');
      assert.is(def!.gateway, '10.200.1.1');
      assert.is(def!.dev, 'eth0');

      assert.ok(world.ping(pod.name, '10.200.1.1'), 'container cannot ping its gateway');
      await world.serveTcp(pod.name, 18101);
      assert.is(world.tcpPeer(world.node, '10.200.1.2', 18101), '10.200.1.1', 'node -> container TCP');
    });
  },
);

test('ADD 0.4.0: result in the 0.4.0 shape (ips[].version), and the container works the same', () => {
  inWorld('add04', (world) => {
    const pod = world.pod('pod');
    const cid = `add04-${RUN_ID}`;
    const r = cniOk(world.node, { command: 'ADD', conf: conf(world, '0.4.0'), containerId: cid, netns: pod.path });
    const res = r.json;
    assert.is(res.cniVersion, '0.4.0');
    assert.equal(
      res.interfaces.map((i: { name: string }) => i.name),
      [BRIDGE, hostVethName(cid, 'eth0'), 'eth0'],
    );
    for (const i of res.interfaces)
      assert.ok(
        Object.keys(i).every((k) => ['name', 'mac', 'sandbox'].includes(k)),
        JSON.stringify(i),
      );
    assert.is(res.interfaces[2].sandbox, pod.path);
    assert.is(res.interfaces[0].sandbox, undefined);
    assert.equal(res.ips, [{ version: '4', address: '10.200.1.2/24', gateway: '10.200.1.1', interface: 2 }]);
    assert.equal(res.routes, [{ dst: '0.0.0.0/0', gw: '10.200.1.1' }]);
    assert.equal(res.dns, DNS);
    assert.equal(world.addrs(pod.name, 'eth0'), ['10.200.1.2/24']);
    assert.ok(world.ping(pod.name, '10.200.1.1'), 'container cannot ping its gateway');
  });
});

test.run();
