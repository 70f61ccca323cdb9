// ipMasq through the binary, both backends: an "outside host" namespace hangs off the node by a
// veth (192.168.203.0/24); a TCP server there answers with the source address it sees. With
// ipMasq it is the node's address, without it the container's own (outside then needs a route
// back to the pod subnet). DEL takes the rules away again. Subnet 10.200.3.0/24, bridge tsbmasq0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { RUN_ID, bridgeConf, cni, cniOk, withPrev, inWorld } from '../helpers/netns';

const BRIDGE = 'tsbmasq0';
const NET = 'tsbt-masq';
const NODE_OUT = '192.168.203.1';
const OUT = '192.168.203.2';
const PORT = 18301;
const NODE_OUT6 = 'fd00:200:203::1';
const OUT6 = 'fd00:200:203::2';

for (const backend of ['iptables', 'nftables'] as const) {
  test(
    `${backend}: with ipMasq the outside host sees the node's address (v4 and v6); CHECK passes; DEL removes the ` +
      `rules`,
    async () => {
      await inWorld(`masq-${backend.slice(0, 3)}`, async (world) => {
        const out = world.outside('out', `${NODE_OUT}/24`, `${OUT}/24`);
        world.exec(world.node, 'ip', ['addr', 'add', `${NODE_OUT6}/64`, 'dev', 'to-out', 'nodad']);
        world.exec(out, 'ip', ['addr', 'add', `${OUT6}/64`, 'dev', 'eth0', 'nodad']);
        await world.serveTcp(out, PORT);
        const pod = world.pod('pod');
        const cid = `masq-${backend}-${RUN_ID}`;
        const conf = bridgeConf(
          world,
          { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.200.3.0/24' }], [{ subnet: 'fd00:200:3::/64' }]] },
          { ipMasq: true, ipMasqBackend: backend },
        );
        const add = cniOk(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
        const chk = cni(world.node, {
          command: 'CHECK',
          conf: withPrev(conf, add.json),
          containerId: cid,
          netns: pod.path,
        });
        assert.is(chk.status, 0, `CHECK failed: ${chk.stdout}`);

        const chain = masqChainName(NET, cid);
        // read through exec (a failing tool throws); the iptables backend makes no inet tsbridge table
        const ipt =
          world.exec(world.node, 'iptables-save', ['-t', 'nat']) +
          world.exec(world.node, 'ip6tables-save', ['-t', 'nat']);
        const hasTable = world.exec(world.node, 'nft', ['list', 'tables']).split('\n').includes('table inet tsbridge');
        const nft = hasTable ? world.exec(world.node, 'nft', ['list', 'table', 'inet', 'tsbridge']) : '';
        if (backend === 'iptables') {
          assert.ok(ipt.includes(chain), `iptables nat lacks ${chain}:\n${ipt}`);
          assert.not.ok(
            nft.includes(chain),
            'nftables table holds the chain, though the iptables backend was asked for',
          );
        } else {
          assert.ok(nft.includes(chain), `nft table inet tsbridge lacks ${chain}:\n${nft}`);
          assert.not.ok(ipt.includes(chain), 'iptables holds the chain, though the nftables backend was asked for');
        }

        assert.is(world.tcpPeer(pod.name, OUT, PORT), NODE_OUT, 'outside must see the node address');
        assert.is(world.tcpPeer(pod.name, OUT6, PORT), NODE_OUT6, 'outside must see the node IPv6 address');
        if (backend === 'iptables')
          assert.ok(world.exec(world.node, 'ip6tables-save', ['-t', 'nat']).includes(chain), 'no ip6tables chain');

        const del = cni(world.node, { command: 'DEL', conf, containerId: cid, netns: pod.path });
        assert.is(del.status, 0, `DEL failed: ${del.stdout} ${del.stderr}`);
        const after = world.natDump(world.node);
        assert.not.ok(after.includes(chain) || after.includes(cid), `rules left after DEL:\n${after}`);
      });
    },
  );

  test(`${backend}: with ipMasq false the outside host sees the container's address and no rule is made`, async () => {
    await inWorld(`nomasq-${backend.slice(0, 3)}`, async (world) => {
      const out = world.outside('out', `${NODE_OUT}/24`, `${OUT}/24`);
      world.exec(out, 'ip', ['route', 'add', '10.200.3.0/24', 'via', NODE_OUT]);
      await world.serveTcp(out, PORT);
      const pod = world.pod('pod');
      const cid = `nomasq-${backend}-${RUN_ID}`;
      const conf = bridgeConf(
        world,
        { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.200.3.0/24' }]] },
        { ipMasq: false, ipMasqBackend: backend },
      );
      cniOk(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
      assert.is(world.tcpPeer(pod.name, OUT, PORT), '10.200.3.2', 'outside must see the container address');
      const dump = world.natDump(world.node);
      assert.not.ok(dump.includes(masqChainName(NET, cid)) || dump.includes(cid), `unexpected rules:\n${dump}`);
    });
  });

  // One container attached twice to the same network (eth0 and eth1, as libcni allows: the
  // attachment is container ID + network + ifname). The masquerade chain is per (network,
  // container ID), shared by both; neither attachment's ADD or DEL may take the other's away.
  test(
    `${backend}: two interfaces of one container on one ` + `network keep each other's masquerade through ADD and DEL`,
    async () => {
      await inWorld(`masq2-${backend.slice(0, 3)}`, async (world) => {
        const out = world.outside('out', `${NODE_OUT}/24`, `${OUT}/24`);
        await world.serveTcp(out, PORT);
        const pod = world.pod('pod');
        const cid = `masq2-${backend}-${RUN_ID}`;
        // no default route from the plugin (a second default route is not what this is about): set by hand via eth0
        const conf = bridgeConf(
          world,
          { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.200.3.0/24' }]] },
          { ipMasq: true, ipMasqBackend: backend, isDefaultGateway: false },
        );
        const add0 = cniOk(
          world.node,
          { command: 'ADD', conf, containerId: cid, netns: pod.path, ifname: 'eth0' },
          'ADD eth0',
        );
        const add1 = cniOk(
          world.node,
          { command: 'ADD', conf, containerId: cid, netns: pod.path, ifname: 'eth1' },
          'ADD eth1',
        );
        assert.is(add0.json.ips[0].address, '10.200.3.2/24');
        assert.is(add1.json.ips[0].address, '10.200.3.3/24');
        world.exec(pod.name, 'ip', ['route', 'add', 'default', 'via', '10.200.3.1', 'dev', 'eth0']);
        // two interfaces in one subnet: without these the pod answers ARP for eth0's address on eth1
        // too ("ARP flux") and replies land on the wrong interface, whatever the rules say
        world.exec(pod.name, 'sysctl', [
          '-q',
          '-w',
          'net.ipv4.conf.all.arp_ignore=1',
          'net.ipv4.conf.all.arp_announce=2',
        ]);
        const check = (ifname: string, res: object) =>
          cni(world.node, { command: 'CHECK', conf: withPrev(conf, res), containerId: cid, netns: pod.path, ifname });

        const c1 = check('eth1', add1.json);
        assert.is(c1.status, 0, `CHECK eth1 after both ADDs: ${c1.stdout}`);
        const c0 = check('eth0', add0.json);
        assert.is(c0.status, 0, `CHECK eth0 after the ADD of eth1: ${c0.stdout}`);
        // Traffic itself is flaky with two interfaces in one subnet (neighbour entries of the pod's
        // two MACs); the rules are what this is about: eth0's jump must be there, and CHECK says so.
        const eth0Jump = (): boolean =>
          world
            .natDump(world.node)
            .split('\n')
            .some((l) => /10\.200\.3\.2\b/.test(l) && l.includes(masqChainName(NET, cid)));
        assert.ok(eth0Jump(), 'eth0 jump gone after the ADD of eth1');

        const del1 = cni(world.node, { command: 'DEL', conf, containerId: cid, netns: pod.path, ifname: 'eth1' });
        assert.is(del1.status, 0, `DEL eth1 failed: ${del1.stdout}`);
        const c0b = check('eth0', add0.json);
        assert.is(c0b.status, 0, `CHECK eth0 after the DEL of eth1: ${c0b.stdout}`);
        assert.ok(eth0Jump(), 'eth0 jump gone after the DEL of eth1');

        assert.is(
          cni(world.node, { command: 'DEL', conf, containerId: cid, netns: pod.path, ifname: 'eth0' }).status,
          0,
        );
        const after = world.natDump(world.node);
        assert.not.ok(after.includes(masqChainName(NET, cid)), `rules left after both DELs:\n${after}`);
      });
    },
  );
}

test.run();
