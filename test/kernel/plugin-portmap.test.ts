// Port mappings through the binary (runtimeConfig.portMappings, the `portMappings` capability):
// an outside host, the node itself (its own address and 127.0.0.1) and the container itself reach
// containerPort through hostPort; a second claim on the port fails; DEL leaves nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeConf, cni, withPrev, inWorld } from '../helpers/netns';

const NODE_OUT = '192.168.211.1';
const OUT = '192.168.211.2';
const GW = '10.200.11.1';

for (const backend of ['iptables', 'nftables'] as const) {
  test(
    `${backend}: published port reachable from outside, node ` + `address, 127.0.0.1 and hairpin; CHECK; conflict; DEL`,
    async () => {
      await inWorld(`pm${backend.slice(0, 3)}`, async (world) => {
        const out = world.outside('out', `${NODE_OUT}/24`, `${OUT}/24`);
        const net = `pm-${backend}`;
        const base = bridgeConf(
          world,
          {
            name: net,
            bridge: `tsbpm${backend.slice(0, 3)}`,
            cniVersion: '1.0.0',
            ranges: [[{ subnet: '10.200.11.0/24' }]],
          },
          { ipMasq: true, ipMasqBackend: backend, hairpinMode: true, capabilities: { portMappings: true } },
        );
        // containerd's CRI sends capitalised keys
        const conf = {
          ...base,
          runtimeConfig: { portMappings: [{ HostPort: 18080, ContainerPort: 8080, Protocol: 'TCP' }] },
        };
        const pod = world.pod('web');
        const add = cni(world.node, { command: 'ADD', conf, containerId: 'pmweb', netns: pod.path });
        assert.is(add.status, 0, add.stdout + add.stderr);
        const ip = add.json.ips[0].address.split('/')[0];
        await world.serveTcp(pod.name, 8080);

        assert.is(world.tcpPeer(out, NODE_OUT, 18080), OUT, 'outside host through the node address');
        // which source address the server saw, not merely that a connection was made
        assert.is(
          world.tcpPeer(world.node, NODE_OUT, 18080),
          NODE_OUT,
          'node through its own address (kept as the source)',
        );
        assert.is(
          world.tcpPeer(world.node, '127.0.0.1', 18080),
          GW,
          'node through 127.0.0.1 (seen as the bridge address)',
        );
        assert.is(
          world.tcpPeer(pod.name, NODE_OUT, 18080),
          GW,
          'container through its own published port (hairpin: masqueraded to the bridge address)',
        );
        assert.is(world.sysctl(world.node, `net.ipv4.conf.${base.bridge}.route_localnet`), '1');

        const check = cni(world.node, {
          command: 'CHECK',
          conf: withPrev(conf, add.json),
          containerId: 'pmweb',
          netns: pod.path,
        });
        assert.is(check.status, 0, check.stdout);

        const other = world.pod('other');
        const clash = cni(world.node, { command: 'ADD', conf, containerId: 'pmother', netns: other.path });
        assert.is(clash.status, 1);
        assert.is(clash.json.code, 103, clash.stdout);
        assert.match(clash.json.msg, /pmweb/);
        assert.equal(world.reservations(net), [ip], 'the refused ADD released its IP');

        const before = world.natDump(world.node);
        for (const re of [/CNI-DN-/, /CNI-HM-/, /pmweb/])
          assert.match(before, re, `no ${re} before DEL (the absence check below would mean nothing):\n${before}`);
        assert.is(cni(world.node, { command: 'DEL', conf, containerId: 'pmweb', netns: pod.path }).status, 0);
        assert.not.match(world.natDump(world.node), /CNI-DN-|CNI-HM-|pmweb/);
        assert.throws(() => world.tcpPeer(out, NODE_OUT, 18080));
        // the port is free again
        const again = cni(world.node, { command: 'ADD', conf, containerId: 'pmother', netns: other.path });
        assert.is(again.status, 0, again.stdout);
        assert.is(cni(world.node, { command: 'DEL', conf, containerId: 'pmother', netns: other.path }).status, 0);
      });
    },
  );
}

test('malformed portMappings fail ADD with code 7 and leave nothing; DEL does not validate them', () => {
  inWorld('pmbad', (world) => {
    const conf = {
      ...bridgeConf(world, { name: 'pmbad', bridge: 'tsbpmbad', ranges: [[{ subnet: '10.200.12.0/24' }]] }),
      runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80 }] },
    };
    const pod = world.pod('p');
    const add = cni(world.node, { command: 'ADD', conf, containerId: 'pmbad1', netns: pod.path });
    assert.is(add.status, 1);
    assert.is(add.json.code, 7, add.stdout);
    assert.equal(world.reservations('pmbad'), []);
    assert.equal(
      world.links(pod.name).filter((l) => l !== 'lo'),
      [],
    );
    assert.is(cni(world.node, { command: 'DEL', conf, containerId: 'pmbad1', netns: pod.path }).status, 0);
  });
});

test.run();
