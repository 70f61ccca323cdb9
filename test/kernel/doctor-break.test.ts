// `tsbridge doctor` through the binary, inside the node namespace: a healthy topology (two pods on
// the bridge, ipMasq, an "outside host" behind the node) reports healthy with exit 0; each piece
// broken on purpose is named as the first broken piece; `--fix` repairs what is tsbridge's (doctor
// healthy afterwards and the pod reaches the outside again) and leaves alone what is not (FORWARD
// policy, a foreign route, someone's nat rule). Subnet 10.233.0.0/24 (dual stack: fd00:233::/64),
// bridge tsbdoc0, outside 192.168.233.0/24.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, RUN_ID, World, bridgeConf, cni, inWorld } from '../helpers/netns';

const BRIDGE = 'tsbdoc0';
const NET = 'tsbt-doc';
const SUBNET = '10.233.0.0/24';
const GW = '10.233.0.1';
const POD_IP = '10.233.0.2';
const PEER_IP = '10.233.0.3';
const NODE_OUT = '192.168.233.1';
const OUT = '192.168.233.2';

type Backend = 'iptables' | 'nftables';
interface Topo {
  world: World;
  pod: { name: string; path: string };
  peer: { name: string; path: string };
  out: string;
  cid: string;
  confFile: string;
  veth: string;
}

function setup(
  tag: string,
  backend: Backend = 'iptables',
  extra: object = {},
  ranges: object[][] = [[{ subnet: SUBNET }]],
): Topo {
  const world = new World(tag);
  try {
    const out = world.outside('out', `${NODE_OUT}/24`, `${OUT}/24`);
    const pod = world.pod('pod');
    const peer = world.pod('peer');
    const cid = `${tag}-${RUN_ID}`;
    const conf = bridgeConf(
      world,
      { name: NET, bridge: BRIDGE, ranges, cniVersion: '1.0.0' },
      { ipMasq: true, ipMasqBackend: backend, ...extra },
    );
    const add = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
    if (add.status !== 0) throw new Error(`ADD failed: ${add.stdout} ${add.stderr}`);
    const add2 = cni(world.node, { command: 'ADD', conf, containerId: `${cid}-peer`, netns: peer.path });
    if (add2.status !== 0) throw new Error(`ADD of the peer failed: ${add2.stdout} ${add2.stderr}`);
    // a conflist as a runtime has it, holding the same plugin config
    const { cniVersion, name, ...plugin } = conf as { cniVersion: string; name: string };
    const confFile = path.join(world.dataDir, 'doc.conflist');
    fs.writeFileSync(confFile, JSON.stringify({ cniVersion, name, plugins: [plugin] }));
    return { world, pod, peer, out, cid, confFile, veth: add.json.interfaces[1].name as string };
  } catch (e) {
    world.cleanup();
    throw e;
  }
}

interface Finding {
  hop: string;
  piece: string;
  severity: string;
  message: string;
  fix?: string;
  fixable: boolean;
}
interface Report {
  healthy: boolean;
  firstBroken?: Finding & { containerId: string; ifname: string };
  attachments: {
    containerId: string;
    ifname: string;
    healthy: boolean;
    findings: Finding[];
    firstBroken?: Finding;
    hops: { hop: string; status: string }[];
    probes?: {
      kind: string;
      target: string;
      ok: boolean;
      lastSeen?: string;
      note?: string;
      hops: { name: string; delta: number }[];
    }[];
  }[];
  findings: Finding[];
  changes?: { what: string; ok: boolean }[];
}
interface Run {
  status: number;
  stdout: string;
  stderr: string;
  json?: Report;
}

function doctor(t: Topo, ...args: string[]): Run {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', t.world.node, BIN, 'doctor', '--config', t.confFile, '--cache-dir', t.world.dataDir, ...args],
    { encoding: 'utf8', timeout: 120_000 },
  );
  let json: Report | undefined;
  if (args.includes('--json')) {
    try {
      json = JSON.parse(r.stdout) as Report;
    } catch {
      json = undefined;
    }
  }
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', json };
}

const show = (r: Run): string => `exit ${r.status}\n${r.stdout}\n${r.stderr}`;
const errors = (r: Report): Finding[] => r.findings.filter((f) => f.severity === 'error');

test('healthy topology: exit 0, every hop ok, the table says healthy; --probe reaches gateway, peer and --to', () => {
  const t = setup('dok');
  try {
    const j = doctor(t, '--json');
    assert.is(j.status, 0, show(j));
    assert.ok(j.json?.healthy, show(j));
    assert.is(j.json!.attachments.length, 2);
    for (const a of j.json!.attachments) {
      assert.equal(a.findings, [], `${a.containerId}: ${JSON.stringify(a.findings)}`);
      for (const h of a.hops) assert.is(h.status, 'ok', `${a.containerId} hop ${h.hop}: ${h.status}`);
    }
    const text = doctor(t);
    assert.is(text.status, 0, show(text));
    assert.match(text.stdout, /HOP\s+STATUS\s+DETAIL/);
    assert.match(text.stdout, /healthy: 2 attachment\(s\) checked/);

    const p = doctor(t, '--json', '--container', t.cid, '--probe', '--to', OUT, '--count', '2');
    assert.is(p.status, 0, show(p));
    const probes = p.json!.attachments[0].probes!;
    assert.equal(
      probes.map((x) => `${x.kind} ${x.target} ${x.ok}`),
      [`gateway ${GW} true`, `peer ${PEER_IP} true`, `destination ${OUT} true`],
    );
    assert.ok(
      probes.every((x) => x.lastSeen === 'eth0 (container) rx'),
      JSON.stringify(probes),
    );
  } finally {
    t.world.cleanup();
  }
});

interface Breakage {
  name: string;
  backend?: Backend;
  breakIt: (t: Topo) => void;
  /** the first broken piece doctor must name, and the container it is named for (default: the pod) */
  piece: string;
  containerId?: (t: Topo) => string;
  /** `--fix` repairs it (else: it must be left as it is and still reported) */
  fixable: boolean;
  /** the pod's traffic to the outside is broken by it */
  breaksEgress: boolean;
  /** other pieces that are errors as a consequence of this one */
  also?: string[];
}

const node = (t: Topo, cmd: string, ...args: string[]) => t.world.exec(t.world.node, cmd, args);

const breakages: Breakage[] = [
  {
    name: 'IPv4 forwarding off',
    breakIt: (t) => node(t, 'sysctl', '-qw', 'net.ipv4.ip_forward=0'),
    piece: 'forwarding.ipv4',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'iptables nat table flushed',
    breakIt: (t) => node(t, 'iptables', '-t', 'nat', '-F'),
    piece: 'nat.rules',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'nft ruleset flushed',
    backend: 'nftables',
    breakIt: (t) => node(t, 'nft', 'flush', 'ruleset'),
    piece: 'nat.rules',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'host veth detached from the bridge',
    breakIt: (t) => node(t, 'ip', 'link', 'set', t.veth, 'nomaster'),
    piece: 'host-veth.master',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'host veth down',
    breakIt: (t) => node(t, 'ip', 'link', 'set', t.veth, 'down'),
    piece: 'host-veth.up',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'bridge down',
    breakIt: (t) => node(t, 'ip', 'link', 'set', BRIDGE, 'down'),
    piece: 'bridge.up',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'bridge deleted',
    breakIt: (t) => node(t, 'ip', 'link', 'del', BRIDGE),
    piece: 'bridge.missing',
    fixable: true,
    breaksEgress: true,
    also: ['host-veth.master'],
  },
  {
    name: 'bridge gateway address removed',
    breakIt: (t) => node(t, 'ip', 'addr', 'del', `${GW}/24`, 'dev', BRIDGE),
    piece: 'bridge.gateway',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'container address removed',
    breakIt: (t) => t.world.exec(t.pod.name, 'ip', ['addr', 'del', `${POD_IP}/24`, 'dev', 'eth0']),
    piece: 'container.address',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'container interface down',
    breakIt: (t) => t.world.exec(t.pod.name, 'ip', ['link', 'set', 'eth0', 'down']),
    piece: 'container.iface-up',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'container default route removed',
    breakIt: (t) => t.world.exec(t.pod.name, 'ip', ['route', 'del', 'default']),
    piece: 'container.route',
    fixable: true,
    breaksEgress: true,
  },
  {
    name: 'FORWARD policy DROP',
    breakIt: (t) => node(t, 'iptables', '-P', 'FORWARD', 'DROP'),
    piece: 'filter.forward-drop',
    fixable: false,
    breaksEgress: true,
  },
  {
    name: 'duplicate subnet route (another interface with an address in the pod subnet)',
    breakIt: (t) => {
      node(t, 'ip', 'link', 'add', 'dup0', 'type', 'veth', 'peer', 'name', 'dup1');
      node(t, 'ip', 'addr', 'add', '10.233.0.200/24', 'dev', 'dup0');
      node(t, 'ip', 'link', 'set', 'dup1', 'up');
      node(t, 'ip', 'link', 'set', 'dup0', 'up');
    },
    piece: 'node-routes.conflict',
    fixable: false,
    breaksEgress: false,
  },
  {
    name: 'masquerade shadowed by an earlier ACCEPT in nat POSTROUTING',
    breakIt: (t) => node(t, 'iptables', '-t', 'nat', '-I', 'POSTROUTING', '-s', SUBNET, '-j', 'ACCEPT'),
    piece: 'nat.shadowed',
    fixable: false,
    breaksEgress: true,
  },
  {
    name: 'IPAM file without a container',
    breakIt: (t) => fs.writeFileSync(path.join(t.world.dataDir, NET, '10.233.0.77'), `gone-${RUN_ID}\r\neth0`),
    piece: 'netns.gone',
    containerId: () => `gone-${RUN_ID}`,
    fixable: false,
    breaksEgress: false,
  },
  {
    name: 'container without its IPAM file',
    breakIt: (t) => fs.rmSync(path.join(t.world.dataDir, NET, POD_IP)),
    piece: 'ipam.missing',
    containerId: () => '',
    fixable: false,
    breaksEgress: false,
  },
];

breakages.forEach((b, i) => {
  test(
    `doctor names the first broken piece and --fix ` + `${b.fixable ? 'repairs it' : 'leaves it alone'}: ${b.name}`,
    () => {
      const t = setup(`dbrk${i}`, b.backend ?? 'iptables');
      try {
        assert.ok(t.world.ping(t.pod.name, OUT), 'the pod cannot reach the outside before breaking anything');
        b.breakIt(t);
        if (b.breaksEgress) assert.not.ok(t.world.ping(t.pod.name, OUT), 'the breakage did not break the path');

        const r = doctor(t, '--json');
        assert.is(r.status, 1, show(r));
        const rep = r.json!;
        assert.not.ok(rep.healthy);
        const cid = b.containerId ? b.containerId(t) : t.cid;
        const att = rep.attachments.find((a) => a.containerId === cid);
        assert.ok(att, `no attachment ${cid}: ${show(r)}`);
        assert.is(
          att!.firstBroken?.piece,
          b.piece,
          `first broken of ${cid}: ${JSON.stringify(att!.findings, null, 1)}`,
        );
        // nothing else is an error, apart from findings of the same kind (e.g. its replies, the peer's same piece)
        const family = b.piece.split('.')[0];
        const unrelated = errors(rep).filter((f) => !f.piece.startsWith(family) && !(b.also ?? []).includes(f.piece));
        assert.equal(unrelated, [], `errors beyond ${b.piece}: ${JSON.stringify(unrelated, null, 1)}`);
        assert.is(att!.firstBroken!.fixable, b.fixable);
        assert.ok(att!.firstBroken!.fix, 'no fix command named');

        const text = doctor(t);
        assert.is(text.status, 1);
        assert.match(text.stdout, `first broken: ${cid || '(no IPAM record)'}/eth0 ${b.piece.split('.')[0]}`);

        const fix = doctor(t, '--json', '--fix');
        if (b.fixable) {
          assert.is(fix.status, 0, `after --fix: ${show(fix)}`);
          assert.ok(fix.json!.healthy);
          assert.ok(
            fix.json!.changes!.length > 0 && fix.json!.changes!.every((c) => c.ok),
            JSON.stringify(fix.json!.changes),
          );
          assert.ok(t.world.ping(t.pod.name, OUT), 'the pod still cannot reach the outside after --fix');
          const again = doctor(t, '--json');
          assert.is(again.status, 0, show(again));
        } else {
          assert.is(fix.status, 1, show(fix));
          assert.equal(fix.json!.changes, [], "doctor changed something that is not tsbridge's");
          const still = fix.json!.attachments.find((a) => a.containerId === cid);
          assert.is(still?.firstBroken?.piece, b.piece);
        }
      } finally {
        t.world.cleanup();
      }
    },
  );
});

test('a full range set is named in the notes and is no problem of the attachments (exit 0)', () => {
  // .1-.3: .1 is the gateway, the pod and its peer take .2 and .3
  const t = setup('dfull', 'iptables', {}, [[{ subnet: SUBNET, rangeEnd: '10.233.0.3' }]]);
  try {
    const j = doctor(t, '--json');
    assert.is(j.status, 0, show(j));
    assert.ok(
      (j.json as unknown as { notes: string[] }).notes.some((n) => /range set 0 is exhausted/.test(n)),
      show(j),
    );
    const text = doctor(t);
    assert.match(text.stdout, /note: range set 0 is exhausted \(0 of 3 addresses free\)/);
  } finally {
    t.world.cleanup();
  }
});

test('dual stack: IPv6 forwarding off is named; --fix turns it on', () => {
  const t = setup('dv6', 'iptables', {}, [[{ subnet: SUBNET }], [{ subnet: 'fd00:233::/64' }]]);
  try {
    const ok = doctor(t, '--json');
    assert.is(ok.status, 0, show(ok));
    node(t, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=0');
    const r = doctor(t, '--json', '--container', t.cid);
    assert.is(r.status, 1, show(r));
    assert.is(r.json!.firstBroken?.piece, 'forwarding.ipv6', show(r));
    const fix = doctor(t, '--json', '--fix', '--container', t.cid);
    assert.is(fix.status, 0, show(fix));
    assert.is(t.world.sysctl(t.world.node, 'net.ipv6.conf.all.forwarding'), '1');
  } finally {
    t.world.cleanup();
  }
});

test(
  'port mappings from the libcni cache: flushed DNAT rules are named and --fix puts them back (masquerade and ' +
    'DNAT)',
  () => {
    inWorld('dpm', (world) => {
      const pod = world.pod('pod');
      const cid = `dpm-${RUN_ID}`;
      const base = bridgeConf(
        world,
        { name: NET, bridge: BRIDGE, ranges: [[{ subnet: SUBNET }]], cniVersion: '1.0.0' },
        { ipMasq: true, ipMasqBackend: 'iptables', capabilities: { portMappings: true } },
      );
      const portMappings = [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }];
      const add = cni(world.node, {
        command: 'ADD',
        conf: { ...base, runtimeConfig: { portMappings } },
        containerId: cid,
        netns: pod.path,
      });
      assert.is(add.status, 0, `ADD failed: ${add.stdout}`);
      const { cniVersion, name, ...plugin } = base as { cniVersion: string; name: string };
      const confFile = path.join(world.dataDir, 'doc.conflist');
      fs.writeFileSync(confFile, JSON.stringify({ cniVersion, name, plugins: [plugin] }));
      // what libcni caches for the runtime: the netns and the capability args of the ADD
      fs.mkdirSync(path.join(world.dataDir, 'results'));
      fs.writeFileSync(
        path.join(world.dataDir, 'results', `${NET}-${cid}-eth0`),
        JSON.stringify({
          kind: 'cniCacheV1',
          containerId: cid,
          ifName: 'eth0',
          networkName: NET,
          netns: pod.path,
          capabilityArgs: { portMappings },
        }),
      );
      const t = { world, pod, peer: pod, out: '', cid, confFile, veth: add.json.interfaces[1].name as string };
      const ok = doctor(t, '--json');
      assert.is(ok.status, 0, show(ok));
      assert.is(ok.json!.attachments[0].hops.find((h) => h.hop === 'netns')?.status, 'ok');
      world.exec(world.node, 'iptables', ['-t', 'nat', '-F']);
      const r = doctor(t, '--json');
      assert.is(r.status, 1, show(r));
      assert.is(r.json!.firstBroken?.piece, 'nat.rules');
      assert.ok(
        r.json!.findings.some((f) => /18080|DNAT|CNI-DN/.test(f.message)),
        `no DNAT problem named: ${JSON.stringify(r.json!.findings)}`,
      );
      const fix = doctor(t, '--json', '--fix');
      assert.is(fix.status, 0, show(fix));
      const nat = world.exec(world.node, 'iptables-save', ['-t', 'nat']);
      assert.match(nat, '--dport 18080');
      assert.match(nat, 'MASQUERADE');
    });
  },
);

test(
  '--probe shows where packets stop: FORWARD DROP (destination dropped after the bridge), veth detached (gateway ' +
    'lost after the veth)',
  () => {
    const t = setup('dprobe');
    try {
      node(t, 'iptables', '-P', 'FORWARD', 'DROP');
      const r = doctor(t, '--json', '--container', t.cid, '--probe', '--to', OUT, '--count', '2');
      assert.is(r.status, 1, show(r));
      const probes = r.json!.attachments[0].probes!;
      const gw = probes.find((p) => p.kind === 'gateway')!;
      assert.ok(gw.ok, 'the gateway is not forwarded: FORWARD must not matter');
      const dst = probes.find((p) => p.kind === 'destination')!;
      assert.not.ok(dst.ok);
      assert.is(dst.lastSeen, `${BRIDGE} rx`, JSON.stringify(dst));
      assert.match(dst.note ?? '', 'FORWARD policy drops');
      // br_netfilter (when the kernel has it) sends the bridged peer traffic through FORWARD too
      const brnf = t.world.tryExec(t.world.node, 'sysctl', ['-n', 'net.bridge.bridge-nf-call-iptables']).stdout.trim();
      const peer = probes.find((p) => p.kind === 'peer')!;
      assert.is(peer.ok, brnf !== '1', JSON.stringify(peer));
      node(t, 'iptables', '-P', 'FORWARD', 'ACCEPT');

      node(t, 'ip', 'link', 'set', t.veth, 'nomaster');
      const d = doctor(t, '--json', '--container', t.cid, '--probe', '--count', '2');
      assert.is(d.status, 1, show(d));
      const g = d.json!.attachments[0].probes!.find((p) => p.kind === 'gateway')!;
      assert.not.ok(g.ok);
      assert.is(g.lastSeen, `${t.veth} rx`, JSON.stringify(g));
    } finally {
      t.world.cleanup();
    }
  },
);

test('targets: --container, --ip and --netns pick one attachment; unknown ones exit 1; usage errors exit 2', () => {
  const t = setup('dtgt');
  try {
    for (const args of [
      ['--container', t.cid],
      ['--ip', POD_IP],
      ['--netns', t.pod.path],
    ]) {
      const r = doctor(t, '--json', ...args);
      assert.is(r.status, 0, `${args.join(' ')}: ${show(r)}`);
      assert.equal(
        r.json!.attachments.map((a) => a.containerId),
        [t.cid],
        args.join(' '),
      );
    }
    const none = doctor(t, '--json', '--container', 'no-such-container');
    assert.is(none.status, 1, show(none));
    for (const args of [['--bogus'], ['--ip', 'not-an-ip'], ['--count', '0'], ['--container', 'x', '--ip', POD_IP]]) {
      const r = doctor(t, ...args);
      assert.is(r.status, 2, `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, 'tsbridge doctor:');
    }
    const missing = spawnSync(
      'ip',
      ['netns', 'exec', t.world.node, BIN, 'doctor', '--config', '/nonexistent.conflist'],
      { encoding: 'utf8' },
    );
    assert.is(missing.status, 2, missing.stderr);
    const byName = spawnSync(
      'ip',
      ['netns', 'exec', t.world.node, BIN, 'doctor', '--conf-dir', t.world.dataDir, '--network', NET, '--json'],
      { encoding: 'utf8' },
    );
    assert.is(byName.status, 0, byName.stdout + byName.stderr);
  } finally {
    t.world.cleanup();
  }
});

test.run();
