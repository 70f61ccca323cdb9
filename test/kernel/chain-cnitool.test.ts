// Chaining through a real libcni client (build/cnitool, test/cnitool/main.go): the conflist
// [tsbridge, portmap, firewall, tuning, bandwidth] with the reference plugins from /usr/lib/cni
// ADDs, CHECKs and DELs cleanly at cniVersion 1.0.0 and 0.4.0, run inside a "node" namespace.
// libcni injects name/cniVersion/prevResult/runtimeConfig, caches the result for CHECK and DEL and
// DELs in reverse order; the trace of every plugin exec shows exactly what each plugin got.
// Also: a published port (portmap) reaches a server in the pod, and cnitool gc/status.
// Subnets 10.201.1-4.0/24, bridges tsbch*.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniTool, ensureCnitool } from '../cnitool/harness';
import { World, sh } from '../helpers/netns';

const CHAIN = ['tsbridge', 'portmap', 'firewall', 'tuning', 'bandwidth'];
const BANDWIDTH = { ingressRate: 8_000_000, ingressBurst: 200_000, egressRate: 8_000_000, egressBurst: 200_000 };

/** The container ID cnitool derives from the netns path. */
function cnitoolId(netns: string): string {
  return 'cnitool-' + crypto.createHash('sha512').update(netns).digest().subarray(0, 10).toString('hex');
}

function chainList(world: World, cniVersion: string, name: string, bridge: string, subnet: string): object {
  return {
    cniVersion,
    name,
    plugins: [
      {
        type: 'tsbridge',
        bridge,
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: true,
        ipam: { type: 'host-local', dataDir: world.dataDir, ranges: [[{ subnet }]] },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      { type: 'firewall' },
      { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.rp_filter': '2' } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  };
}

/** Everything netfilter holds in `ns`, all tables, both families, and nft. */
function allRules(world: World, ns: string): string {
  return ['iptables-save', 'ip6tables-save', 'nft list ruleset']
    .map((c) => {
      const [cmd, ...args] = c.split(' ');
      return world.exec(ns, cmd, args);
    }) // a failing tool throws
    .join('\n');
}

/** After DEL: no interface, veth, ifb, reservation, rule or cache entry of this attachment is left. */
function assertClean(
  world: World,
  tool: CniTool,
  net: string,
  pod: { name: string },
  cid: string,
  ip: string,
  hostIfs: string[],
): void {
  assert.not.ok(world.links(pod.name).includes('eth0'), 'eth0 still in the pod');
  const links = world.links(world.node);
  for (const l of hostIfs) assert.not.ok(links.includes(l), `${l} left on the node`);
  assert.equal(world.reservations(net), [], 'IP reservations left');
  const rules = allRules(world, world.node);
  assert.not.ok(rules.includes(cid), `rules naming ${cid} left:\n${rules}`);
  assert.not.ok(new RegExp(`\\b${ip.replace(/\./g, '\\.')}\\b`).test(rules), `rules naming ${ip} left:\n${rules}`);
  assert.equal(tool.cachedResults(), [], 'libcni cache entries left');
}

test.before(() => ensureCnitool());

for (const [i, version] of ['1.0.0', '0.4.0'].entries()) {
  test(`cniVersion ${version}: [${CHAIN.join(', ')}] ADD, CHECK, DEL, DEL through libcni`, async () => {
    const world = new World(`chain${i}`);
    const tool = new CniTool();
    try {
      const net = `tsbt-chain${i}`;
      const bridge = `tsbch${i}`;
      const subnet = `10.201.${i + 1}.0/24`;
      const gw = `10.201.${i + 1}.1`;
      tool.writeConflist(chainList(world, version, net, bridge, subnet));
      const pod = world.pod('p');
      const cid = cnitoolId(pod.path);
      const env = { CAP_ARGS: JSON.stringify({ bandwidth: BANDWIDTH }) };

      // ADD
      const add = tool.run(world.node, 'add', net, pod.path, env);
      assert.is(add.status, 0, `ADD failed: ${add.stderr}\n${add.stdout}`);
      assert.equal(
        tool.order(),
        CHAIN.map((p) => `ADD ${p}`),
      );
      const res = add.json;
      assert.is(res.cniVersion, version);
      assert.is(res.ips.length, 1);
      if (version === '0.4.0') assert.is(res.ips[0].version, '4');
      else assert.is(res.ips[0].version, undefined);
      const ip = (res.ips[0].address as string).split('/')[0];
      assert.is(res.ips[0].gateway, gw);
      const names = (res.interfaces as { name: string; sandbox?: string }[]).map((x) => x.name);
      assert.ok(names.includes(bridge) && names.includes('eth0'), `interfaces: ${names}`);
      const veth = names.find((n) => n.startsWith('veth'))!;
      const ifb = names.find((n) => n.startsWith('bwp'));
      assert.ok(veth, `no host veth in ${names}`);
      assert.ok(ifb, `bandwidth added no ifb: ${names}`);

      // what libcni handed each plugin
      const adds = tool.trace();
      for (const [k, t] of adds.entries()) {
        assert.is(t.env.CNI_CONTAINERID, cid);
        assert.is(t.env.CNI_NETNS, pod.path);
        assert.is(t.env.CNI_IFNAME, 'eth0');
        assert.is(t.stdin.name, net);
        assert.is(t.stdin.cniVersion, version);
        assert.is(t.stdin.prevResult === undefined, k === 0, `prevResult given to ${t.plugin}: ${k > 0}`);
        assert.is(t.error, undefined, `${t.plugin} ADD: ${t.error}`);
      }
      assert.equal(adds[4].stdin.runtimeConfig, { bandwidth: BANDWIDTH });
      assert.is(
        adds[1].stdin.prevResult.ips[0].address,
        res.ips[0].address,
        'portmap got tsbridge result as prevResult',
      );

      // the pod works, and every chained plugin did its part
      assert.equal(world.addrs(pod.name, 'eth0'), [res.ips[0].address]);
      assert.ok(world.ping(pod.name, gw), 'pod cannot ping its gateway');
      await world.serveTcp(pod.name, 8080);
      assert.is(world.tcpPeer(world.node, ip, 8080), gw, 'node -> pod TCP');
      assert.is(world.sysctl(pod.name, 'net.ipv4.conf.eth0.rp_filter'), '2', 'tuning sysctl');
      assert.ok(
        sh('ip', ['netns', 'exec', world.node, 'iptables-save', '-t', 'filter']).includes(`${ip}/32`),
        'firewall rule for the pod',
      );
      assert.match(
        sh('tc', ['-n', world.node, 'qdisc', 'show', 'dev', veth]),
        /tbf/,
        'bandwidth: tbf on the host veth',
      );
      assert.equal(tool.cachedResults(), [`${net}-${cid}-eth0`]);

      // CHECK: every plugin, in order, with the cached result as prevResult
      tool.clearTrace();
      const chk = tool.run(world.node, 'check', net, pod.path, env);
      assert.is(chk.status, 0, `CHECK failed: ${chk.stderr}`);
      assert.equal(
        tool.order(),
        CHAIN.map((p) => `CHECK ${p}`),
      );
      assert.equal(tool.trace()[0].stdin.prevResult, res, 'tsbridge CHECK prevResult = the final ADD result');

      // DEL: reverse order, prevResult from the cache; then everything is gone
      tool.clearTrace();
      const del = tool.run(world.node, 'del', net, pod.path, env);
      assert.is(del.status, 0, `DEL failed: ${del.stderr}`);
      assert.equal(
        tool.order(),
        [...CHAIN].reverse().map((p) => `DEL ${p}`),
      );
      assert.equal(tool.trace()[4].stdin.prevResult, res);
      assertClean(world, tool, net, pod, cid, ip, [veth, ifb!]);

      // DEL again: no cache, no prevResult; still success and still clean
      tool.clearTrace();
      const del2 = tool.run(world.node, 'del', net, pod.path, env);
      assert.is(del2.status, 0, `second DEL failed: ${del2.stderr}`);
      assert.is(tool.trace()[4].stdin.prevResult, undefined);
      assertClean(world, tool, net, pod, cid, ip, [veth, ifb!]);
    } finally {
      world.cleanup();
      tool.cleanup();
    }
  });
}

for (const [i, version] of ['1.0.0', '0.4.0'].entries()) {
  test(`cniVersion ${version}: portMappings through portmap reach the pod; DEL removes them`, async () => {
    const world = new World(`chainpm${i}`);
    const tool = new CniTool();
    try {
      const net = `tsbt-chainpm${i}`;
      const subnet = `10.201.${i + 3}.0/24`;
      tool.writeConflist(chainList(world, version, net, `tsbchp${i}`, subnet));
      const out = world.outside('out', '192.168.201.1/24', '192.168.201.2/24');
      const pod = world.pod('p');
      const cid = cnitoolId(pod.path);
      const env = {
        CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }] }),
      };

      const add = tool.run(world.node, 'add', net, pod.path, env);
      assert.is(add.status, 0, `ADD failed: ${add.stderr}\n${add.stdout}`);
      const ip = (add.json.ips[0].address as string).split('/')[0];
      assert.equal(tool.trace()[1].stdin.runtimeConfig, {
        portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }],
      });
      await world.serveTcp(pod.name, 8080);
      assert.is(world.tcpPeer(out, '192.168.201.1', 18080), '192.168.201.2', 'outside -> node:18080 -> pod');
      assert.ok(world.tcpPeer(world.node, '127.0.0.1', 18080), 'node 127.0.0.1:18080 -> pod');

      // CHECK: tsbridge's own CHECK must pass. The reference portmap 1.1.1 fails CHECK of an
      // IPv4-only pod ("could not check ipv6 dnat", containernetworking/plugins#819): accept only that.
      tool.clearTrace();
      const chk = tool.run(world.node, 'check', net, pod.path, env);
      const tr = tool.trace();
      assert.is(tr[0].env.CNI_COMMAND, 'CHECK');
      assert.is(tr[0].error, undefined, `tsbridge CHECK failed: ${tr[0].error}`);
      if (chk.status !== 0) {
        assert.match(chk.stderr, /could not check ipv6 dnat/, `CHECK failed elsewhere: ${chk.stderr}`);
        assert.is(tr[tr.length - 1].plugin.split('/').pop(), 'portmap', 'CHECK stopped at portmap');
      }

      tool.clearTrace();
      const del = tool.run(world.node, 'del', net, pod.path, env);
      assert.is(del.status, 0, `DEL failed: ${del.stderr}`);
      assert.not.ok(allRules(world, world.node).includes('CNI-DN-'), 'portmap chain left');
      assertClean(world, tool, net, pod, cid, ip, []);
    } finally {
      world.cleanup();
      tool.cleanup();
    }
  });
}

test('cnitool gc (libcni cache DEL, then plugin GC at 1.1.0) and status', () => {
  const world = new World('chaingc');
  const tool = new CniTool([]);
  try {
    const net = 'tsbt-chaingc';
    const base = {
      name: net,
      plugins: [
        {
          type: 'tsbridge',
          bridge: 'tsbchgc',
          isGateway: true,
          ipMasq: true,
          ipam: { type: 'host-local', dataDir: world.dataDir, ranges: [[{ subnet: '10.201.9.0/24' }]] },
        },
      ],
    };
    tool.writeConflist({ cniVersion: '1.0.0', ...base });
    const v11 = `${tool.dir}/net.d-1.1`;
    sh('mkdir', ['-p', v11, `${tool.dir}/cache-empty`]);
    fs.writeFileSync(`${v11}/10.conflist`, JSON.stringify({ cniVersion: '1.1.0', ...base }));

    const pods = ['a', 'b', 'c'].map((t) => {
      const pod = world.pod(t);
      const r = tool.run(world.node, 'add', net, pod.path);
      assert.is(r.status, 0, `ADD ${t}: ${r.stderr}`);
      const veth = (r.json.interfaces as { name: string }[]).find((x) => x.name.startsWith('veth'))!.name;
      return { ...pod, cid: cnitoolId(pod.path), ip: (r.json.ips[0].address as string).split('/')[0], veth };
    });
    const [a, b, c] = pods;
    const valid = (...ps: typeof pods) => JSON.stringify(ps.map((p) => ({ containerID: p.cid, ifname: 'eth0' })));

    // 1.0.0: gc DELs the cached attachments not listed (b), sends no GC to plugins
    tool.clearTrace();
    const gc1 = tool.run(world.node, 'gc', net, '', { GC_VALID_ATTACHMENTS: valid(a, c) });
    assert.is(gc1.status, 0, `gc 1.0.0: ${gc1.stderr}`);
    assert.equal(tool.order(), ['DEL tsbridge']);
    assert.is(tool.trace()[0].env.CNI_CONTAINERID, b.cid);
    assert.equal(world.reservations(net), [a.ip, c.ip].sort());

    // 1.1.0 (empty cache): GC to tsbridge with cni.dev/valid-attachments = [a]: c is collected
    tool.clearTrace();
    const gc2 = tool.run(world.node, 'gc', net, '', {
      NETCONFPATH: v11,
      CNI_CACHE_DIR: `${tool.dir}/cache-empty`,
      GC_VALID_ATTACHMENTS: valid(a),
    });
    assert.is(gc2.status, 0, `gc 1.1.0: ${gc2.stderr}`);
    assert.equal(tool.order(), ['GC tsbridge']);
    assert.equal(tool.trace()[0].stdin['cni.dev/valid-attachments'], [{ containerID: a.cid, ifname: 'eth0' }]);
    assert.equal(world.reservations(net), [a.ip]);
    assert.not.ok(world.links(world.node).includes(c.veth), 'host veth of c not collected');
    assert.ok(world.links(world.node).includes(a.veth), 'host veth of a collected');
    assert.ok(world.ping(a.name, '10.201.9.1'), 'a lost connectivity through GC');

    // status at 1.1.0: STATUS reaches tsbridge and succeeds; at 1.0.0 no plugin is called
    tool.clearTrace();
    const st = tool.run(world.node, 'status', net, '', { NETCONFPATH: v11 });
    assert.is(st.status, 0, `status: ${st.stderr}`);
    assert.equal(tool.order(), ['STATUS tsbridge']);
    tool.clearTrace();
    assert.is(tool.run(world.node, 'status', net, '').status, 0);
    assert.equal(tool.order(), []);

    assert.is(tool.run(world.node, 'del', net, a.path).status, 0);
    assert.equal(world.reservations(net), []);
  } finally {
    world.cleanup();
    tool.cleanup();
  }
});

test.run();
