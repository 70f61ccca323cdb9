// Storms: many plugin processes at once, as a node starting and stopping pods in bulk does.
//  - 50 containers x 10 ADD/DEL cycles, all 50 running their cycles at the same time (so up to
//    50 plugin processes in parallel), with masquerade on: every ADD result is recorded, no address
//    is ever handed to two live containers, each container really has the address it was given,
//    and at the end the node has exactly the veths, IPAM files, rules and chains it had before.
//  - The same, smaller, with the nftables backend.
//  - 50 ADDs at once on a bridge that does not exist yet: all race to create it and its gateway
//    address; all succeed, the bridge has the gateway once, every container reaches it.
// STORM_PODS / STORM_CYCLES scale the first storm. Subnets 10.220.2.0/24, 10.220.3.0/24, 10.220.4.0/24.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timeout } from '../helpers/test';
import { census } from '../helpers/fuzz-state';
import { CniReply, RUN_ID, World, bridgeConf, cni, cniAsync, inWorld } from '../helpers/netns';

const PODS = Number(process.env.STORM_PODS) || 50;
const CYCLES = Number(process.env.STORM_CYCLES) || 10;

interface StormStats {
  adds: number;
  dels: number;
  seconds: number;
  maxParallel: number;
  distinctIps: number;
}

async function storm(
  tag: string,
  net: string,
  subnet: string,
  backend: string,
  pods: number,
  cycles: number,
): Promise<StormStats> {
  const world = new World(tag);
  try {
    const conf = bridgeConf(
      world,
      { name: net, bridge: `tsb${tag}0`, ranges: [[{ subnet }]] },
      { ipMasq: true, ipMasqBackend: backend },
    );
    const ns = Array.from({ length: pods }, (_, i) => world.pod(`p${i}`));
    // one ADD/DEL first, so the bridge (which stays) and the nft table exist in the "before" census
    const warm = cni(world.node, { command: 'ADD', conf, containerId: `${tag}-warm-${RUN_ID}`, netns: ns[0].path });
    assert.is(warm.status, 0, `warm-up ADD: ${warm.stdout} ${warm.stderr}`);
    assert.is(
      cni(world.node, { command: 'DEL', conf, containerId: `${tag}-warm-${RUN_ID}`, netns: ns[0].path }).status,
      0,
    );
    const before = census(world, net);

    const live = new Map<string, string>(); // ip -> container ID holding it
    const duplicates: string[] = [];
    const failures: string[] = [];
    const wrongAddr: string[] = [];
    const seen = new Set<string>();
    let adds = 0;
    let dels = 0;
    let running = 0;
    let maxParallel = 0;
    const call = async (c: Parameters<typeof cniAsync>[1]): Promise<CniReply> => {
      running++;
      maxParallel = Math.max(maxParallel, running);
      try {
        return await cniAsync(world.node, c);
      } finally {
        running--;
      }
    };
    const t0 = process.hrtime.bigint();
    await Promise.all(
      ns.map(async (pod, p) => {
        for (let cycle = 0; cycle < cycles; cycle++) {
          const cid = `${tag}-${RUN_ID}-${p}-${cycle}`;
          const add = await call({ command: 'ADD', conf, containerId: cid, netns: pod.path });
          adds++;
          if (add.status !== 0) {
            failures.push(`ADD ${cid}: ${add.stdout.trim()} ${add.stderr.trim().split('\n').pop()}`);
          } else {
            const ip = (add.json.ips[0].address as string).split('/')[0];
            seen.add(ip);
            const holder = live.get(ip);
            if (holder) duplicates.push(`${ip} given to ${cid} while ${holder} holds it`);
            live.set(ip, cid);
            if (!world.addrs(pod.name, 'eth0').includes(add.json.ips[0].address))
              wrongAddr.push(`${cid}: result ${add.json.ips[0].address}, has ${world.addrs(pod.name, 'eth0')}`);
            // the container lives a little while other ADDs return; it stops counting as live when
            // its DEL starts (so a DEL releasing the address cannot cause a false alarm)
            await new Promise((r) => setTimeout(r, (p * 37 + cycle * 11) % 150));
            live.delete(ip);
          }
          const del = await call({ command: 'DEL', conf, containerId: cid, netns: pod.path });
          dels++;
          if (del.status !== 0) failures.push(`DEL ${cid}: ${del.stdout.trim()}`);
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

    assert.equal(failures.slice(0, 10), [], `${failures.length} of ${adds + dels} calls failed`);
    assert.equal(duplicates, [], 'an address was handed out twice');
    assert.equal(wrongAddr.slice(0, 10), [], 'containers without the address their result names');
    const after = census(world, net);
    assert.equal(after.veths, before.veths, 'host veths leaked');
    assert.equal(after.ipFiles, before.ipFiles, 'IPAM files leaked');
    assert.equal(after.chains, before.chains, `chains leaked:\n${world.natDump(world.node)}`);
    assert.is(after.rules, before.rules, `rules leaked:\n${world.natDump(world.node)}`);
    for (const pod of ns) assert.equal(world.links(pod.name), ['lo'], `${pod.name} kept an interface`);
    return { adds, dels, seconds, maxParallel, distinctIps: seen.size };
  } finally {
    world.cleanup();
  }
}

test(
  `storm: ${PODS} containers x ${CYCLES} ADD/DEL cycles at once (iptables): no duplicate IP, no leak`,
  timeout(600_000, async () => {
    const s = await storm('st', 'tsbt-storm', '10.220.2.0/24', 'iptables', PODS, CYCLES);
    console.log(
      `  storm iptables: ${s.adds} ADD + ${s.dels} DEL, up to ${s.maxParallel} in parallel, ` +
        `${s.distinctIps} distinct IPs, ${s.seconds.toFixed(1)} s`,
    );
    assert.is(s.adds, PODS * CYCLES);
    // the live check above can see a duplicate only when containers overlap in time
    assert.ok(s.maxParallel > PODS / 2, `only ${s.maxParallel} calls ever ran at once`);
  }),
);

test(
  'storm: 20 containers x 5 cycles at once (nftables): no duplicate IP, no leak',
  timeout(600_000, async () => {
    const s = await storm('stn', 'tsbt-stormn', '10.220.4.0/24', 'nftables', 20, 5);
    console.log(
      `  storm nftables: ${s.adds} ADD + ${s.dels} DEL, up to ${s.maxParallel} in parallel, ` +
        `${s.seconds.toFixed(1)} s`,
    );
  }),
);

test(
  `${PODS} ADDs at once on a bridge that does not exist yet: all succeed, one bridge, one gateway address`,
  timeout(600_000, async () => {
    await inWorld('stbr', async (world) => {
      const net = 'tsbt-stbr';
      const bridge = 'tsbstbr0';
      const conf = bridgeConf(
        world,
        { name: net, bridge, ranges: [[{ subnet: '10.220.3.0/24' }]] },
        { ipMasq: true, ipMasqBackend: 'iptables' },
      );
      const before = census(world, net);
      assert.not.ok(before.links.includes(bridge));
      const ns = Array.from({ length: PODS }, (_, i) => world.pod(`b${i}`));
      const cids = ns.map((_, i) => `stbr-${RUN_ID}-${i}`);
      const adds = await Promise.all(
        ns.map((pod, i) => cniAsync(world.node, { command: 'ADD', conf, containerId: cids[i], netns: pod.path })),
      );
      const failed = adds
        .map((r, i) => (r.status === 0 ? '' : `${cids[i]}: ${r.stdout} ${r.stderr.split('\n').pop()}`))
        .filter(Boolean);
      assert.equal(failed, [], 'ADDs failed in the race');
      const ips = adds.map((r) => r.json.ips[0].address as string);
      assert.is(new Set(ips).size, PODS, 'duplicate addresses');
      assert.equal(
        world.links(world.node).filter((l) => l === bridge),
        [bridge],
      );
      assert.is(world.link(world.node, bridge)?.linkinfo?.info_kind, 'bridge');
      assert.equal(
        world.addrs(world.node, bridge),
        ['10.220.3.1/24'],
        'the gateway address is on the bridge exactly once',
      );
      const masters = new Set(adds.map((r) => world.link(world.node, r.json.interfaces[1].name)?.master));
      assert.equal([...masters], [bridge], 'every host veth is a port of the one bridge');
      const unreachable = ns.filter((pod) => !world.ping(pod.name, '10.220.3.1')).map((p) => p.name);
      assert.equal(unreachable, [], 'containers that cannot reach the gateway');

      const dels = await Promise.all(
        ns.map((pod, i) => cniAsync(world.node, { command: 'DEL', conf, containerId: cids[i], netns: pod.path })),
      );
      assert.equal(
        dels.filter((r) => r.status !== 0).map((r) => r.stdout),
        [],
      );
      const after = census(world, net);
      assert.equal(after.veths, []);
      assert.equal(after.ipFiles, []);
      assert.equal(after.chains, before.chains, `chains leaked:\n${world.natDump(world.node)}`);
      assert.is(after.rules, before.rules, `rules leaked:\n${world.natDump(world.node)}`);
    });
  }),
);

test.run();
