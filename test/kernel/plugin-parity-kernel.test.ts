// Kernel-side parity with the reference bridge 1.1.1 (/usr/lib/cni/bridge + host-local), issue 12:
// bridge hardening (pinned MAC, accept_ra=0) and the container sysctls, a foreign IPv4 address on
// the bridge, hairpinMode honoured and refused with promiscMode, the node's own namespace refused,
// and pods moving between the two implementations (CHECK/DEL/GC either way round).
import * as crypto from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RUN_ID, World, bridgeConf, cni, withPrev } from '../helpers/netns';

const REF = '/usr/lib/cni/bridge';

/** The same network config for the reference (type "bridge") and for tsbridge. */
function confs(world: World, name: string, bridge: string, subnet: string, extra: object = {}) {
  const ts = bridgeConf(world, { name, bridge, cniVersion: '1.0.0', ranges: [[{ subnet }]] }, extra);
  return { ts, ref: { ...ts, type: 'bridge' } };
}

const sysfs = (w: World, dev: string, attr: string) => w.exec(w.node, 'cat', [`/sys/class/net/${dev}/${attr}`]).trim();

test(
  '12.3: bridge MAC pinned and accept_ra=0 on bridge and ' + 'host veth; container sysctls as the reference sets them',
  () => {
    const w = new World('hard');
    try {
      const t = confs(w, 'hard-ts', 'tsbhardt', '10.203.1.0/24');
      const r = confs(w, 'hard-ref', 'tsbhardr', '10.203.2.0/24');
      const seen: Record<string, string[]> = {};
      for (const [label, conf, bin] of [
        ['tsbridge', t.ts, undefined],
        ['reference', r.ref, REF],
      ] as const) {
        const pod = w.pod(`h${label.slice(0, 3)}`);
        const add = cni(w.node, { command: 'ADD', conf, containerId: `hard-${label}`, netns: pod.path, bin });
        assert.is(add.status, 0, `${label} ADD: ${add.stdout}${add.stderr}`);
        const br = (conf as { bridge: string }).bridge;
        const veth = add.json.interfaces[1].name as string;
        seen[label] = [
          sysfs(w, br, 'addr_assign_type'),
          w.sysctl(w.node, `net.ipv6.conf.${br}.accept_ra`),
          w.sysctl(w.node, `net.ipv6.conf.${veth}.accept_ra`),
          w.sysctl(pod.name, 'net.ipv6.conf.eth0.accept_dad'),
          w.sysctl(pod.name, 'net.ipv4.conf.eth0.arp_notify'),
        ];
        // a port with a lower MAC joins: the gateway's MAC stays
        const mac = w.link(w.node, br)!.address;
        const low = `low${label.slice(0, 3)}`;
        w.exec(w.node, 'ip', [
          'link',
          'add',
          low,
          'address',
          '02:00:00:00:00:01',
          'type',
          'veth',
          'peer',
          'name',
          `${low}p`,
        ]);
        w.exec(w.node, 'ip', ['link', 'set', low, 'master', br, 'up']);
        assert.is(w.link(w.node, br)!.address, mac, `${label}: bridge MAC followed the lowest port MAC`);
      }
      assert.equal(seen.tsbridge, ['3', '0', '0', '0', '1']);
      assert.equal(seen.tsbridge, seen.reference);
    } finally {
      w.cleanup();
    }
  },
);

test(
  '12.15: another IPv4 address on the bridge is refused ' + '(code 7, nothing left), or replaced with forceAddress',
  () => {
    const w = new World('foreign');
    try {
      const { ts, ref } = confs(w, 'foreign', 'tsbforgn', '10.203.3.0/24');
      w.exec(w.node, 'ip', ['link', 'add', 'tsbforgn', 'type', 'bridge']);
      w.exec(w.node, 'ip', ['addr', 'add', '192.168.203.1/24', 'dev', 'tsbforgn']);
      const pod = w.pod('p');
      const refAdd = cni(w.node, { command: 'ADD', conf: ref, containerId: 'forgn-ref', netns: pod.path, bin: REF });
      assert.is(refAdd.status, 1, 'the reference refuses it too');
      assert.match(refAdd.json.msg, /already has an IP address different from 10\.203\.3\.1\/24/);
      assert.is(
        cni(w.node, { command: 'DEL', conf: ref, containerId: 'forgn-ref', netns: pod.path, bin: REF }).status,
        0,
      );

      const add = cni(w.node, { command: 'ADD', conf: ts, containerId: 'forgn', netns: pod.path });
      assert.is(add.status, 1, add.stdout);
      assert.is(add.json.code, 7);
      assert.match(
        add.json.msg,
        /tsbforgn already has an IP address 192\.168\.203\.1\/24 different from 10\.203\.3\.1\/24.*forceAddress/,
      );
      assert.equal(w.reservations('foreign'), []);
      assert.equal(w.links(pod.name), ['lo']);
      assert.equal(w.addrs(w.node, 'tsbforgn'), ['192.168.203.1/24']);

      const forced = cni(w.node, {
        command: 'ADD',
        conf: { ...ts, forceAddress: true },
        containerId: 'forgn',
        netns: pod.path,
      });
      assert.is(forced.status, 0, forced.stdout);
      assert.equal(w.addrs(w.node, 'tsbforgn'), ['10.203.3.1/24']);
    } finally {
      w.cleanup();
    }
  },
);

test(
  '12.12: hairpinMode is honoured with port mappings (off stays off; on: own published port reachable); hairpin + ' +
    'promisc refused on ADD only',
  async () => {
    const w = new World('hairpin');
    try {
      w.outside('out', '192.168.204.1/24', '192.168.204.2/24');
      const { ts } = confs(w, 'hairpin', 'tsbhairp', '10.203.4.0/24', {
        ipMasq: true,
        ipMasqBackend: 'iptables',
        runtimeConfig: { portMappings: [{ hostPort: 18090, containerPort: 8090 }] },
      });
      const hairpinOf = (veth: string) =>
        (JSON.parse(w.exec(w.node, 'bridge', ['-d', '-j', 'link', 'show', 'dev', veth])) as { hairpin?: boolean }[])[0]
          .hairpin;
      const pod = w.pod('p');
      const add = cni(w.node, { command: 'ADD', conf: ts, containerId: 'hairp', netns: pod.path });
      assert.is(add.status, 0, add.stdout);
      assert.is(hairpinOf(add.json.interfaces[1].name), false, 'hairpin stays off when hairpinMode is not set');
      assert.is(cni(w.node, { command: 'DEL', conf: ts, containerId: 'hairp', netns: pod.path }).status, 0);

      const on = { ...ts, hairpinMode: true };
      const add2 = cni(w.node, { command: 'ADD', conf: on, containerId: 'hairp', netns: pod.path });
      assert.is(add2.status, 0, add2.stdout);
      assert.is(hairpinOf(add2.json.interfaces[1].name), true);
      await w.serveTcp(pod.name, 8090);
      assert.ok(
        w.tcpPeer(pod.name, '192.168.204.1', 18090),
        'the container reaches its own published port through the node address',
      );

      const both = { ...ts, hairpinMode: true, promiscMode: true, runtimeConfig: {} };
      const pod2 = w.pod('p2');
      const bad = cni(w.node, { command: 'ADD', conf: both, containerId: 'hairp2', netns: pod2.path });
      assert.is(bad.status, 1);
      assert.is(bad.json.code, 7, bad.stdout);
      assert.match(bad.json.msg, /cannot set hairpin mode and promiscuous mode at the same time/);
      assert.equal(w.links(pod2.name), ['lo']);
      assert.is(cni(w.node, { command: 'DEL', conf: both, containerId: 'hairp2', netns: pod2.path }).status, 0);
    } finally {
      w.cleanup();
    }
  },
);

test(
  "12.13: CNI_NETNS naming the node's own namespace is refused with code 4 (ADD and CHECK), nothing " + 'touched',
  () => {
    const w = new World('ownns');
    try {
      const { ts } = confs(w, 'ownns', 'tsbownns', '10.203.5.0/24');
      const before = w.links(w.node);
      const add = cni(w.node, {
        command: 'ADD',
        conf: ts,
        containerId: 'ownns',
        netns: `/run/netns/${w.node}`,
        ifname: 'eth9',
      });
      assert.is(add.status, 1, add.stdout);
      assert.is(add.json.code, 4);
      assert.match(add.json.msg, /own network namespace/);
      assert.equal(w.links(w.node), before, 'no bridge, no veth on the node');
      assert.equal(w.reservations('ownns'), []);
      const prev = { cniVersion: '1.0.0', interfaces: [], ips: [{ address: '10.203.5.2/24', gateway: '10.203.5.1' }] };
      const check = cni(w.node, {
        command: 'CHECK',
        conf: withPrev(ts, prev),
        containerId: 'ownns',
        netns: `/run/netns/${w.node}`,
        ifname: 'eth9',
      });
      assert.is(check.json?.code, 4, check.stdout);
    } finally {
      w.cleanup();
    }
  },
);

/** What of one pod (its ADD result) is left on the node: its host veth, its reservation, rules naming it. */
function leftovers(w: World, net: string, add: { json: any }, cid: string): string[] {
  const veth = add.json.interfaces[1].name as string;
  const ip = (add.json.ips[0].address as string).split('/')[0];
  const nat = w
    .natDump(w.node)
    .split('\n')
    .filter((l) => l.includes(cid));
  return [
    ...(w.link(w.node, veth) ? [`port ${veth}`] : []),
    ...w
      .reservations(net)
      .filter((r) => r === ip)
      .map((r) => `ip ${r}`),
    ...nat,
  ];
}

const present = (l: string[]) =>
  l.some((x) => x.startsWith('port ')) && l.some((x) => x.startsWith('ip ')) && l.some((x) => x.includes('MASQUERADE'));

test('12.4: a pod the reference made: tsbridge CHECK passes, DEL (netns and empty netns) and GC leave nothing', () => {
  const w = new World('mig1');
  try {
    const { ts, ref } = confs(w, 'mig1', 'tsbmig1', '10.203.6.0/24', { ipMasq: true, ipMasqBackend: 'iptables' });
    const pods = [w.pod('a'), w.pod('b'), w.pod('c')];
    const cids = pods.map((_, i) => `mig1-${i}-${RUN_ID}`);
    const adds = pods.map((p, i) =>
      cni(w.node, { command: 'ADD', conf: ref, containerId: cids[i], netns: p.path, bin: REF }),
    );
    for (const a of adds) assert.is(a.status, 0, a.stdout);
    for (const [i, p] of pods.entries()) {
      assert.ok(present(leftovers(w, 'mig1', adds[i], cids[i])), 'port, reservation and masquerade rules exist');
      const check = cni(w.node, {
        command: 'CHECK',
        conf: withPrev(ts, adds[i].json),
        containerId: cids[i],
        netns: p.path,
      });
      assert.is(check.status, 0, `tsbridge CHECK of a reference pod: ${check.stdout}`);
    }
    // a broken one is still caught: the host veth taken off the bridge
    w.exec(w.node, 'ip', ['link', 'set', adds[0].json.interfaces[1].name, 'nomaster']);
    const broken = cni(w.node, {
      command: 'CHECK',
      conf: withPrev(ts, adds[0].json),
      containerId: cids[0],
      netns: pods[0].path,
    });
    assert.is(broken.json?.code, 104, broken.stdout);
    assert.match(broken.json.msg, new RegExp(`host veth ${adds[0].json.interfaces[1].name} is not attached`));
    w.exec(w.node, 'ip', ['link', 'set', adds[0].json.interfaces[1].name, 'master', 'tsbmig1']);

    assert.is(
      cni(w.node, { command: 'DEL', conf: withPrev(ts, adds[0].json), containerId: cids[0], netns: pods[0].path })
        .status,
      0,
    );
    assert.equal(leftovers(w, 'mig1', adds[0], cids[0]), []);
    // ctr-style DEL: no netns at all, the pair's host end found from prevResult
    assert.is(
      cni(w.node, { command: 'DEL', conf: withPrev(ts, adds[1].json), containerId: cids[1], netns: '' }).status,
      0,
    );
    assert.equal(leftovers(w, 'mig1', adds[1], cids[1]), []);
    // GC: the reservation and the rules go (the veth goes with the container's namespace)
    const gc = cni(w.node, { command: 'GC', conf: { ...ts, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] } });
    assert.is(gc.status, 0, gc.stdout);
    assert.equal(
      leftovers(w, 'mig1', adds[2], cids[2]).filter((l) => !l.startsWith('port ')),
      [],
    );
  } finally {
    w.cleanup();
  }
});

test('12.4: a pod tsbridge made: the reference CHECK passes and its DEL leaves nothing (iptables backend)', () => {
  const w = new World('mig2');
  try {
    const { ts, ref } = confs(w, 'mig2', 'tsbmig2', '10.203.7.0/24', { ipMasq: true, ipMasqBackend: 'iptables' });
    const pod = w.pod('a');
    const cid = `mig2-${RUN_ID}`;
    const add = cni(w.node, { command: 'ADD', conf: ts, containerId: cid, netns: pod.path });
    assert.is(add.status, 0, add.stdout);
    assert.ok(present(leftovers(w, 'mig2', add, cid)), 'port, reservation and masquerade rules exist');
    const check = cni(w.node, {
      command: 'CHECK',
      conf: withPrev(ref, add.json),
      containerId: cid,
      netns: pod.path,
      bin: REF,
    });
    assert.is(check.status, 0, `reference CHECK of a tsbridge pod: ${check.stdout}${check.stderr}`);
    assert.is(
      cni(w.node, { command: 'DEL', conf: withPrev(ref, add.json), containerId: cid, netns: pod.path, bin: REF })
        .status,
      0,
    );
    assert.equal(leftovers(w, 'mig2', add, cid), []);
  } finally {
    w.cleanup();
  }
});

for (const backend of ['iptables', 'nftables'] as const) {
  test(
    `18.2 (${backend}): the localnet guard comes first and stays; a failed ADD resets the route_localnet it set; ` +
      `CHECK names a missing guard`,
    () => {
      const w = new World(`lnet${backend.slice(0, 3)}`);
      try {
        const mk = (name: string, bridge: string, subnet: string, pm: object[]) => ({
          ...confs(w, name, bridge, subnet, {
            ipMasq: true,
            ipMasqBackend: backend,
            capabilities: { portMappings: true },
          }).ts,
          runtimeConfig: { portMappings: pm },
        });
        const brA = `tsbla${backend.slice(0, 3)}`;
        const brB = `tsblb${backend.slice(0, 3)}`;
        const a = mk('lnet-a', brA, '10.203.8.0/24', [{ hostPort: 18100, containerPort: 80 }]);
        const b = mk('lnet-b', brB, '10.203.9.0/24', [{ hostPort: 18100, containerPort: 80 }]);
        const guardOf = (br: string) =>
          backend === 'iptables'
            ? w
                .exec(w.node, 'iptables-save', ['-t', 'raw'])
                .split('\n')
                .filter((l) => l.includes(`-i ${br} `) && l.includes('127.0.0.0/8'))
            : w
                .exec(w.node, 'nft', ['list', 'ruleset'])
                .split('\n')
                .filter((l) => l.includes(`iifname "${br}"`) && l.includes('127.0.0.0/8'));
        const p1 = w.pod('p1');
        const add1 = cni(w.node, { command: 'ADD', conf: a, containerId: 'lnet1', netns: p1.path });
        assert.is(add1.status, 0, add1.stdout);
        assert.is(guardOf(brA).length, 1);

        // the same host port from another network: 103, after its bridge was made
        const p2 = w.pod('p2');
        const clash = cni(w.node, { command: 'ADD', conf: b, containerId: 'lnet2', netns: p2.path });
        assert.is(clash.json?.code, 103, clash.stdout);
        assert.is(
          w.sysctl(w.node, `net.ipv4.conf.${brB}.route_localnet`),
          '0',
          'the failed ADD turned route_localnet off again',
        );
        assert.is(guardOf(brB).length, 1, 'the guard installed first stays');

        // a pod without host ports on a bridge where route_localnet is on: its CHECK wants the guard
        const plain = { ...a, runtimeConfig: {} };
        const p3 = w.pod('p3');
        const add3 = cni(w.node, { command: 'ADD', conf: plain, containerId: 'lnet3', netns: p3.path });
        assert.is(add3.status, 0, add3.stdout);
        const check = () =>
          cni(w.node, { command: 'CHECK', conf: withPrev(plain, add3.json), containerId: 'lnet3', netns: p3.path });
        assert.is(check().status, 0, check().stdout);
        if (backend === 'iptables') w.exec(w.node, 'iptables', ['-t', 'raw', '-F', 'PREROUTING']);
        else w.exec(w.node, 'nft', ['flush', 'chain', 'inet', 'tsbridge', 'localnet-guard']);
        assert.equal(guardOf(brA), []);
        const broken = check();
        assert.is(broken.json?.code, 104, broken.stdout);
        assert.match(
          broken.json.msg,
          new RegExp(`route_localnet is 1 but no localnet guard drops 127\\.0\\.0\\.0/8 arriving on ${brA}`),
        );
      } finally {
        w.cleanup();
      }
    },
  );
}
for (const backend of ['iptables', 'nftables'] as const) {
  test(
    `12.5 (${backend}): a Service-like DNAT to a pod on the hostPort's number keeps the client address; our own ` +
      `host-port DNAT is still masqueraded`,
    async () => {
      const w = new World(`svc${backend.slice(0, 3)}`);
      try {
        w.outside('out', '192.168.205.1/24', '192.168.205.2/24');
        const { ts } = confs(w, `svc-${backend}`, `tsbsvc${backend.slice(0, 3)}`, '10.203.10.0/24', {
          ipMasq: true,
          ipMasqBackend: backend,
          hairpinMode: true,
        });
        const backendPod = w.pod('backend');
        const client = w.pod('client');
        const add = cni(w.node, {
          command: 'ADD',
          conf: { ...ts, runtimeConfig: { portMappings: [{ hostPort: 18110, containerPort: 8110 }] } },
          containerId: 'svcbe',
          netns: backendPod.path,
        });
        assert.is(add.status, 0, add.stdout);
        const addC = cni(w.node, { command: 'ADD', conf: ts, containerId: 'svccl', netns: client.path });
        assert.is(addC.status, 0, addC.stdout);
        const backendIp = add.json.ips[0].address.split('/')[0];
        const clientIp = addC.json.ips[0].address.split('/')[0];
        // kube-proxy's part, as a test rule: ClusterIP 10.96.0.10:18110 -> backend:8110
        w.exec(w.node, 'iptables', [
          '-t',
          'nat',
          '-I',
          'PREROUTING',
          '-d',
          '10.96.0.10/32',
          '-p',
          'tcp',
          '--dport',
          '18110',
          '-j',
          'DNAT',
          '--to-destination',
          `${backendIp}:8110`,
        ]);
        await w.serveTcp(backendPod.name, 8110);
        assert.is(
          w.tcpPeer(client.name, '10.96.0.10', 18110),
          clientIp,
          'the Service connection keeps the client address',
        );
        assert.is(
          w.tcpPeer(client.name, '192.168.205.1', 18110),
          '10.203.10.1',
          'the host port from a neighbour is masqueraded (hairpin)',
        );
        assert.is(w.tcpPeer(backendPod.name, '192.168.205.1', 18110), '10.203.10.1', 'and from the container itself');
        assert.is(w.tcpPeer(w.node, '127.0.0.1', 18110), '10.203.10.1', "and from the node's 127.0.0.1");
        const check = cni(w.node, {
          command: 'CHECK',
          conf: withPrev(
            { ...ts, runtimeConfig: { portMappings: [{ hostPort: 18110, containerPort: 8110 }] } },
            add.json,
          ),
          containerId: 'svcbe',
          netns: backendPod.path,
        });
        assert.is(check.status, 0, check.stdout);
      } finally {
        w.cleanup();
      }
    },
  );
}

test("12.11: DEL removes the attachment's rules from both backends, whatever ipMasqBackend says now", () => {
  const w = new World('switch');
  try {
    for (const [from, to] of [
      ['nftables', 'iptables'],
      ['iptables', 'nftables'],
    ] as const) {
      const cid = `sw-${from.slice(0, 3)}-${RUN_ID}`;
      const conf = (backend: string) => ({
        ...confs(w, 'switch', 'tsbswitch', '10.203.11.0/24', { ipMasq: true, ipMasqBackend: backend }).ts,
        runtimeConfig: { portMappings: [{ hostPort: from === 'iptables' ? 18120 : 18121, containerPort: 80 }] },
      });
      const pod = w.pod(`s${from.slice(0, 3)}`);
      const add = cni(w.node, { command: 'ADD', conf: conf(from), containerId: cid, netns: pod.path });
      assert.is(add.status, 0, add.stdout);
      assert.ok(w.natDump(w.node).includes(cid), `${from} rules exist`);
      assert.is(cni(w.node, { command: 'DEL', conf: conf(to), containerId: cid, netns: pod.path }).status, 0);
      assert.not.ok(w.natDump(w.node).includes(cid), `${from} rules left after a DEL configured for ${to}`);
    }
  } finally {
    w.cleanup();
  }
});

test(
  "12.11: DEL with the nftables backend removes the reference's iptables rules (bridge ipMasq, portmap) of the " +
    'container',
  () => {
    const w = new World('refipt');
    try {
      const { ts, ref } = confs(w, 'refipt', 'tsbrefipt', '10.203.12.0/24', { ipMasq: true });
      const pod = w.pod('p');
      const cid = `refipt-${RUN_ID}`;
      const add = cni(w.node, { command: 'ADD', conf: ref, containerId: cid, netns: pod.path, bin: REF });
      assert.is(add.status, 0, add.stdout);
      const pm = {
        cniVersion: '1.0.0',
        name: 'refipt',
        type: 'portmap',
        capabilities: { portMappings: true },
        runtimeConfig: { portMappings: [{ hostPort: 18130, containerPort: 80, protocol: 'tcp' }] },
        prevResult: add.json,
      };
      const pmAdd = cni(w.node, {
        command: 'ADD',
        conf: pm,
        containerId: cid,
        netns: pod.path,
        bin: '/usr/lib/cni/portmap',
      });
      assert.is(pmAdd.status, 0, pmAdd.stdout + pmAdd.stderr);
      const save = () => w.exec(w.node, 'iptables-save', ['-t', 'nat']);
      assert.match(save(), /-j CNI-DN-/);
      assert.ok(save().includes(cid));
      const del = cni(w.node, {
        command: 'DEL',
        conf: withPrev({ ...ts, ipMasqBackend: 'nftables', capabilities: { portMappings: true } }, add.json),
        containerId: cid,
        netns: pod.path,
      });
      assert.is(del.status, 0, del.stdout);
      assert.not.ok(save().includes(cid), save());
      assert.not.match(save(), /CNI-DN-/);
    } finally {
      w.cleanup();
    }
  },
);

/** upstream's 16-hex-digit hash (utils.MustFormatHashWithPrefix(16, "", s)), to lay out its tables as it would. */
const h16 = (s: string) => crypto.createHash('sha512').update(s).digest('hex').slice(0, 16);

test(
  "12.11: the upstream reference's nftables rules: DEL and GC remove the container's, its host ports count in " +
    'the 103 check',
  () => {
    const w = new World('upnft');
    try {
      const net = 'upnft';
      const mine = `upmine-${RUN_ID}`;
      const other = `upother-${RUN_ID}`;
      const masqComment = (cid: string) => `${h16(net)}-${h16(`eth0:${cid}`)}, net: ${net}, if: eth0, id: ${cid}`;
      w.exec(
        w.node,
        'nft',
        ['-f', '-'],
        [
          'add table inet cni_plugins_masquerade',
          'add chain inet cni_plugins_masquerade masq_checks',
          'add chain inet cni_plugins_masquerade postrouting { type nat hook postrouting priority srcnat; }',
          'add rule inet cni_plugins_masquerade postrouting goto masq_checks',
          `add rule inet cni_plugins_masquerade masq_checks ip saddr == 10.203.13.50 ip daddr != 10.203.13.0/24 ` +
            `masquerade comment "${masqComment(mine)}"`,
          `add rule inet cni_plugins_masquerade masq_checks ip saddr == 10.203.13.51 ip daddr != 10.203.13.0/24 ` +
            `masquerade comment "${masqComment(other)}"`,
          'add table ip cni_hostport { comment "CNI portmap plugin"; }',
          'add chain ip cni_hostport hostports',
          'add chain ip cni_hostport hostip_hostports',
          'add chain ip cni_hostport masquerading { type nat hook postrouting priority srcnat; }',
          `add rule ip cni_hostport hostports tcp dport 18140 dnat to 10.203.13.50:80 comment "${mine}"`,
          `add rule ip cni_hostport masquerading ip saddr 10.203.13.50 ip daddr 10.203.13.50 masquerade comment ` +
            `"${mine}"`,
          `add rule ip cni_hostport hostports tcp dport 18141 dnat to 10.203.13.51:80 comment "${other}"`,
          `add rule ip cni_hostport masquerading ip saddr 10.203.13.51 ip daddr 10.203.13.51 masquerade comment ` +
            `"${other}"`,
          '',
        ].join('\n'),
      );
      const ruleset = () => w.exec(w.node, 'nft', ['list', 'ruleset']);
      assert.ok(ruleset().includes(mine) && ruleset().includes(other));
      const { ts } = confs(w, net, 'tsbupnft', '10.203.13.0/24', {
        ipMasq: true,
        ipMasqBackend: 'iptables',
        capabilities: { portMappings: true },
      });

      // the host port the upstream portmap maps for the other container is taken
      const pod = w.pod('p');
      const clash = cni(w.node, {
        command: 'ADD',
        conf: { ...ts, runtimeConfig: { portMappings: [{ hostPort: 18141, containerPort: 80 }] } },
        containerId: 'upnew',
        netns: pod.path,
      });
      assert.is(clash.json?.code, 103, clash.stdout);
      assert.match(clash.json.msg, new RegExp(`18141/tcp is already mapped by container ${other}`));

      assert.is(cni(w.node, { command: 'DEL', conf: ts, containerId: mine, netns: '' }).status, 0);
      assert.not.ok(ruleset().includes(mine), ruleset());
      assert.ok(ruleset().includes(other), "another container's rules stay");

      const gc = cni(w.node, { command: 'GC', conf: { ...ts, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] } });
      assert.is(gc.status, 0, gc.stdout);
      assert.not.ok(ruleset().includes(other), ruleset());
    } finally {
      w.cleanup();
    }
  },
);

test.run();
