// Dual-stack: two range sets (IPv4 and IPv6). Both addresses are in the result and in the
// container, neither is tentative, and both work the moment ADD returns: no waiting out DAD
// before the first IPv6 ping. IPv6 forwarding is on in the node namespace.
// Subnets 10.200.4.0/24 and fd00:200:4::/64, bridge tsbdual0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RUN_ID, bridgeConf, cni, cniOk, sh, inWorld } from '../helpers/netns';

const BRIDGE = 'tsbdual0';

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  tentative?: boolean;
  dadfailed?: boolean;
}
const addrInfo = (ns: string, dev: string): AddrInfo[] =>
  (JSON.parse(sh('ip', ['-j', '-n', ns, 'addr', 'show', 'dev', dev])) as { addr_info: AddrInfo[] }[])[0].addr_info;

test('dual-stack ADD: v4 and v6 addresses present and usable at once, IPv6 forwarding on', async () => {
  await inWorld('dual', async (world) => {
    const pod = world.pod('pod');
    const conf = bridgeConf(world, {
      name: 'tsbt-dual',
      bridge: BRIDGE,
      ranges: [[{ subnet: '10.200.4.0/24' }], [{ subnet: 'fd00:200:4::/64' }]],
    });
    const r = cniOk(world.node, { command: 'ADD', conf, containerId: `dual-${RUN_ID}`, netns: pod.path });
    // first thing after ADD: IPv6 traffic, before anything else could give DAD time to finish
    assert.ok(world.ping(pod.name, 'fd00:200:4::1'), 'IPv6 ping to the gateway right after ADD failed');
    assert.ok(world.ping(pod.name, '10.200.4.1'), 'IPv4 ping to the gateway failed');

    assert.equal(r.json.ips, [
      { address: '10.200.4.2/24', gateway: '10.200.4.1', interface: 2 },
      { address: 'fd00:200:4::2/64', gateway: 'fd00:200:4::1', interface: 2 },
    ]);
    assert.equal(r.json.routes, [
      { dst: '0.0.0.0/0', gw: '10.200.4.1' },
      { dst: '::/0', gw: 'fd00:200:4::1' },
    ]);

    assert.equal(world.addrs(pod.name, 'eth0').sort(), ['10.200.4.2/24', 'fd00:200:4::2/64']);
    assert.equal(world.addrs(world.node, BRIDGE).sort(), ['10.200.4.1/24', 'fd00:200:4::1/64']);
    for (const [ns, dev] of [
      [pod.name, 'eth0'],
      [world.node, BRIDGE],
    ]) {
      for (const a of addrInfo(ns, dev).filter((x) => x.scope === 'global')) {
        assert.not.ok(a.tentative || a.dadfailed, `${a.local} on ${dev} is tentative/dadfailed`);
      }
    }
    const def6 = world.routes(pod.name, 6).find((rt) => rt.dst === 'default');
    assert.is(def6?.gateway, 'fd00:200:4::1', 'IPv6 default route');
    assert.is(world.sysctl(world.node, 'net.ipv6.conf.all.forwarding'), '1');
    assert.is(world.sysctl(world.node, 'net.ipv4.ip_forward'), '1');

    // node -> container and container -> node over both families
    assert.ok(world.ping(world.node, 'fd00:200:4::2'), 'node cannot ping the container over IPv6');
    await world.serveTcp(world.node, 18401);
    assert.is(world.tcpPeer(pod.name, 'fd00:200:4::1', 18401), 'fd00:200:4::2');
    assert.is(world.tcpPeer(pod.name, '10.200.4.1', 18401), '10.200.4.2');
  });
});

test('dual-stack: a second container gets the next address of each family and reaches the first over IPv6', () => {
  inWorld('dual2', (world) => {
    const conf = bridgeConf(world, {
      name: 'tsbt-dual',
      bridge: BRIDGE,
      ranges: [[{ subnet: '10.200.4.0/24' }], [{ subnet: 'fd00:200:4::/64' }]],
    });
    const a = world.pod('a');
    const b = world.pod('b');
    assert.is(cni(world.node, { command: 'ADD', conf, containerId: `dual-a-${RUN_ID}`, netns: a.path }).status, 0);
    const rb = cni(world.node, { command: 'ADD', conf, containerId: `dual-b-${RUN_ID}`, netns: b.path });
    assert.is(rb.status, 0, rb.stdout);
    assert.equal(
      rb.json.ips.map((i: { address: string }) => i.address),
      ['10.200.4.3/24', 'fd00:200:4::3/64'],
    );
    assert.ok(world.ping(b.name, 'fd00:200:4::2'), 'b cannot reach a over IPv6');
    assert.ok(world.ping(a.name, 'fd00:200:4::3'), 'a cannot reach b over IPv6');
  });
});

test.run();
