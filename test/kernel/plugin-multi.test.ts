// Three containers ADDed to one bridge: distinct addresses, all three host veths on the bridge,
// every container reaches every other one, the node reaches each and each reaches the node.
// Subnet 10.200.2.0/24, bridge tsbmulti0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { RUN_ID, bridgeConf, cni, cniAsync, withPrev, inWorld } from '../helpers/netns';

const BRIDGE = 'tsbmulti0';

test('three containers on one bridge reach each other; node <-> each container', async () => {
  await inWorld('multi', async (world) => {
    const conf = bridgeConf(world, { name: 'tsbt-multi', bridge: BRIDGE, ranges: [[{ subnet: '10.200.2.0/24' }]] });
    const pods = ['a', 'b', 'c'].map((t) => {
      const pod = world.pod(t);
      const r = cni(world.node, {
        command: 'ADD',
        conf,
        containerId: `multi-${t}-${RUN_ID}`,
        netns: pod.path,
        ifname: 'eth0',
      });
      assert.is(r.status, 0, `ADD ${t} failed: ${r.stdout} ${r.stderr}`);
      return { ...pod, ip: (r.json.ips[0].address as string).split('/')[0], veth: r.json.interfaces[1].name as string };
    });
    assert.equal(
      pods.map((p) => p.ip),
      ['10.200.2.2', '10.200.2.3', '10.200.2.4'],
    );
    for (const p of pods) assert.is(world.link(world.node, p.veth)?.master, BRIDGE, `${p.veth} not on the bridge`);

    for (const from of pods) {
      for (const to of pods) {
        if (from !== to) assert.ok(world.ping(from.name, to.ip), `${from.ip} cannot ping ${to.ip}`);
      }
      assert.ok(world.ping(world.node, from.ip), `node cannot ping ${from.ip}`);
      assert.ok(world.ping(from.name, '10.200.2.1'), `${from.ip} cannot ping the node (gateway)`);
    }

    // TCP too: a server in the node, each container connects; and container a serves the others
    await world.serveTcp(world.node, 18201);
    await world.serveTcp(pods[0].name, 18202);
    for (const p of pods) assert.is(world.tcpPeer(p.name, '10.200.2.1', 18201), p.ip, `TCP ${p.ip} -> node`);
    for (const p of pods.slice(1))
      assert.is(world.tcpPeer(p.name, pods[0].ip, 18202), p.ip, `TCP ${p.ip} -> ${pods[0].ip}`);
  });
});

for (const backend of ['iptables', 'nftables'] as const) {
  test(
    `${backend}: eight ADDs at once into a fresh node, ` + `then eight DELs at once: all succeed, nothing left`,
    async () => {
      await inWorld(`par-${backend.slice(0, 3)}`, async (world) => {
        const NET = 'tsbt-par';
        const conf = bridgeConf(
          world,
          { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.200.2.0/24' }], [{ subnet: 'fd00:200:2::/64' }]] },
          { ipMasq: true, ipMasqBackend: backend },
        );
        const pods = Array.from({ length: 8 }, (_, i) => ({
          ...world.pod(`p${i}`),
          cid: `par-${backend}-${i}-${RUN_ID}`,
        }));
        const adds = await Promise.all(
          pods.map((p) => cniAsync(world.node, { command: 'ADD', conf, containerId: p.cid, netns: p.path })),
        );
        adds.forEach((r, i) => {
          assert.is(r.status, 0, `ADD ${i} failed: ${r.stdout} ${r.stderr}`);
        });
        const v4 = adds.map((r) => r.json.ips[0].address as string);
        assert.is(new Set(v4).size, 8, `duplicate addresses: ${v4}`);
        assert.is(world.reservations(NET).length, 16);
        assert.equal(world.addrs(world.node, BRIDGE).sort(), ['10.200.2.1/24', 'fd00:200:2::1/64']);
        for (const [i, p] of pods.entries()) {
          const chk = cni(world.node, {
            command: 'CHECK',
            conf: withPrev(conf, adds[i].json),
            containerId: p.cid,
            netns: p.path,
          });
          assert.is(chk.status, 0, `CHECK ${i}: ${chk.stdout}`);
        }
        assert.ok(world.ping(pods[0].name, v4[7].split('/')[0]), 'first cannot reach last');

        const dels = await Promise.all(
          pods.map((p) => cniAsync(world.node, { command: 'DEL', conf, containerId: p.cid, netns: p.path })),
        );
        dels.forEach((r, i) => {
          assert.is(r.status, 0, `DEL ${i} failed: ${r.stdout} ${r.stderr}`);
        });
        assert.equal(world.reservations(NET), []);
        assert.equal(
          world.links(world.node).filter((l) => l.startsWith('veth')),
          [],
        );
        const dump = world.natDump(world.node);
        for (const p of pods)
          assert.not.ok(dump.includes(masqChainName(NET, p.cid)), `rules of ${p.cid} left:\n${dump}`);
      });
    },
  );
}

test.run();
