// Config/IPAM semantics of the reference bridge + host-local (issue 12, points 1, 2, 6, 8, 9, 10, 14),
// through the binary on a real kernel. Where the reference 1.1.1 (/usr/lib/cni) behaves the same,
// it runs side by side in a twin world and the results are compared.
// Subnets 10.207.x.0/24 and fd07::/64, bridges tsbpar*.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, cni, cniEnv, CniCall, CniReply, RUN_ID, withPrev, World } from '../helpers/netns';

const REF_BRIDGE = '/usr/lib/cni/bridge';

/** A config for tsbridge (type tsbridge) or the reference (type bridge): same keys. */
function conf(
  world: World,
  extra: Record<string, unknown>,
  ipam: Record<string, unknown> | undefined = {},
): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'par',
    type: 'tsbridge',
    bridge: 'tsbpar0',
    ...(ipam === undefined
      ? {}
      : {
          ipam:
            'type' in ipam || Object.keys(ipam).length === 0
              ? ipam
              : { type: 'host-local', dataDir: world.dataDir, ...ipam },
        }),
    ...extra,
  };
}

/** Run the same ADD through tsbridge and through the reference, each in its own world. */
function twin(tag: string, fn: (w: World, bin: string | undefined, which: 'tsbridge' | 'reference') => void): void {
  for (const [which, bin] of [
    ['tsbridge', undefined],
    ['reference', REF_BRIDGE],
  ] as const) {
    const w = new World(`${tag}-${which.slice(0, 3)}`);
    try {
      fn(w, bin, which);
    } finally {
      w.cleanup();
    }
  }
}

const ok = (r: CniReply, what: string): CniReply => {
  assert.is(r.status, 0, `${what}: ${r.stdout} ${r.stderr}`);
  return r;
};

// ---- point 1 ----------------------------------------------------------------------------------

test('point 1: runtimeConfig.ipRanges go in front of the configured ranges (as the reference)', () => {
  const got: string[] = [];
  twin('iprng', (w, bin) => {
    const pod = w.pod('p');
    const c = conf(
      w,
      { runtimeConfig: { ipRanges: [[{ subnet: '10.207.7.0/24' }]] } },
      { ranges: [[{ subnet: '10.207.1.0/24' }]] },
    );
    const r = ok(cni(w.node, { command: 'ADD', conf: c, containerId: `iprng-${RUN_ID}`, netns: pod.path, bin }), 'ADD');
    got.push(r.json.ips.map((i: { address: string }) => i.address).join(','));
    // a range *set* of its own: one address from it, then one from each configured set
    assert.equal(w.addrs(pod.name, 'eth0'), ['10.207.7.2/24', '10.207.1.2/24']);
  });
  assert.equal(got, ['10.207.7.2/24,10.207.1.2/24', '10.207.7.2/24,10.207.1.2/24']);
});

test(
  'point 1: requested IPs from CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips together; args.cni.mac sets the ' +
    'MAC',
  () => {
    const got: unknown[] = [];
    twin('reqip', (w, bin) => {
      const pod = w.pod('p');
      const c = conf(
        w,
        {
          args: { cni: { ips: ['fd07::99'], mac: '0a:58:0a:cf:00:01' } },
          runtimeConfig: { ips: ['10.207.2.99/24'] },
        },
        { ranges: [[{ subnet: '10.207.1.0/24' }], [{ subnet: 'fd07::/64' }], [{ subnet: '10.207.2.0/24' }]] },
      );
      const r = ok(
        cni(w.node, {
          command: 'ADD',
          conf: c,
          containerId: `reqip-${RUN_ID}`,
          netns: pod.path,
          bin,
          args: 'IgnoreUnknown=1;IP=10.207.1.99',
        }),
        'ADD',
      );
      got.push({ ips: r.json.ips.map((i: { address: string }) => i.address), mac: w.link(pod.name, 'eth0')?.address });
      // runtimeConfig.mac wins over args.cni.mac, which wins over CNI_ARGS MAC=
      const pod2 = w.pod('q');
      const c2 = { ...c, args: { cni: { mac: '0a:58:0a:cf:00:03' } }, runtimeConfig: { mac: '0a:58:0a:cf:00:02' } };
      ok(
        cni(w.node, {
          command: 'ADD',
          conf: c2,
          containerId: `reqip2-${RUN_ID}`,
          netns: pod2.path,
          bin,
          args: 'IgnoreUnknown=1;MAC=0a:58:0a:cf:00:04',
        }),
        'ADD 2',
      );
      assert.is(w.link(pod2.name, 'eth0')?.address, '0a:58:0a:cf:00:02');
      const pod3 = w.pod('r');
      const c3 = { ...c, args: { cni: { mac: '0a:58:0a:cf:00:03' } }, runtimeConfig: {} };
      ok(
        cni(w.node, {
          command: 'ADD',
          conf: c3,
          containerId: `reqip3-${RUN_ID}`,
          netns: pod3.path,
          bin,
          args: 'IgnoreUnknown=1;MAC=0a:58:0a:cf:00:04',
        }),
        'ADD 3',
      );
      assert.is(w.link(pod3.name, 'eth0')?.address, '0a:58:0a:cf:00:03');
    });
    assert.equal(got[0], { ips: ['10.207.1.99/24', 'fd07::99/64', '10.207.2.99/24'], mac: '0a:58:0a:cf:00:01' });
    assert.equal(got[0], got[1], 'tsbridge and the reference differ');
  },
);

// ---- point 2 ----------------------------------------------------------------------------------

test(
  'point 2: "ipam": {} is an L2-only network: bridge, veth pair, container interface up, no address; CHECK and ' +
    'DEL work',
  () => {
    const shapes: unknown[] = [];
    twin('l2', (w, bin, which) => {
      const pod = w.pod('p');
      const cid = `l2-${RUN_ID}`;
      const c = conf(w, { isGateway: true, ipMasq: true }, {});
      const r = ok(cni(w.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path, bin }), 'ADD');
      shapes.push({
        keys: Object.keys(r.json).sort(),
        ifaces: r.json.interfaces.length,
        sandbox: r.json.interfaces[2].sandbox === pod.path,
      });
      const eth0 = w.link(pod.name, 'eth0');
      assert.ok(eth0, 'no container interface');
      assert.ok(eth0!.flags?.includes('UP'), 'container interface is down');
      assert.equal(w.addrs(pod.name, 'eth0'), []);
      const veth = r.json.interfaces[1].name as string;
      assert.is(w.link(w.node, veth)?.master, 'tsbpar0');
      assert.equal(w.addrs(w.node, 'tsbpar0'), [], 'an L2 bridge got an address');
      if (which === 'tsbridge') {
        // the reference fails CHECK here ("no plugin name provided": it execs an empty IPAM type)
        ok(cni(w.node, { command: 'CHECK', conf: withPrev(c, r.json), containerId: cid, netns: pod.path }), 'CHECK');
        assert.not.ok(w.natDump(w.node).includes(cid), 'ipMasq on an L2 network made rules');
      }
      ok(cni(w.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path, bin }), 'DEL');
      assert.not.ok(w.links(w.node).includes(veth), 'host veth left after DEL');
      assert.not.ok(w.links(pod.name).includes('eth0'), 'container interface left after DEL');
    });
    assert.equal(shapes[0], shapes[1]);
    assert.equal(shapes[0], { keys: ['cniVersion', 'dns', 'interfaces'], ifaces: 3, sandbox: true });
  },
);

test('point 2: no "ipam" key at all is L2-only too; with disableContainerInterface the interface stays down', () => {
  const w = new World('l2x');
  try {
    const pod = w.pod('p');
    const c = conf(w, { disableContainerInterface: true }, undefined);
    ok(cni(w.node, { command: 'ADD', conf: c, containerId: `l2x-${RUN_ID}`, netns: pod.path }), 'ADD');
    const eth0 = w.link(pod.name, 'eth0');
    assert.ok(eth0, 'no container interface');
    assert.not.ok(eth0!.flags?.includes('UP'), 'interface is up despite disableContainerInterface');
    ok(cni(w.node, { command: 'DEL', conf: c, containerId: `l2x-${RUN_ID}`, netns: pod.path }), 'DEL');
    assert.not.ok(w.links(pod.name).includes('eth0'));
  } finally {
    w.cleanup();
  }
});

test('point 2: ipam together with disableContainerInterface is refused (code 7) before anything is made', () => {
  const w = new World('l2dis');
  try {
    const pod = w.pod('p');
    const c = conf(w, { disableContainerInterface: true }, { ranges: [[{ subnet: '10.207.3.0/24' }]] });
    const r = cni(w.node, { command: 'ADD', conf: c, containerId: `l2dis-${RUN_ID}`, netns: pod.path });
    assert.is(r.status, 1, r.stdout);
    assert.is(r.json.code, 7);
    assert.match(r.json.msg, /cannot use IPAM when disableContainerInterface is set/);
    assert.equal(w.links(pod.name), ['lo']);
    assert.not.ok(w.links(w.node).includes('tsbpar0'), 'bridge made');
    assert.equal(w.reservations('par'), []);
    // only ADD refuses it: an attachment made before (here: without the flag) is still deleted
    const made = conf(w, {}, { ranges: [[{ subnet: '10.207.3.0/24' }]] });
    ok(cni(w.node, { command: 'ADD', conf: made, containerId: `l2dis-${RUN_ID}`, netns: pod.path }), 'ADD');
    assert.equal(w.reservations('par'), ['10.207.3.2']);
    ok(cni(w.node, { command: 'DEL', conf: c, containerId: `l2dis-${RUN_ID}`, netns: pod.path }), 'DEL with the flag');
    assert.equal(w.reservations('par'), []);
  } finally {
    w.cleanup();
  }
});

// ---- point 6 ----------------------------------------------------------------------------------

test("point 6: the config's dns wins over host-local's resolvConf; without it, resolvConf's is returned", () => {
  const w = new World('dns');
  try {
    const resolv = path.join(w.dataDir, 'resolv.conf');
    fs.writeFileSync(resolv, 'nameserver 10.207.4.53\nsearch ipam.example\n');
    const ipam = { ranges: [[{ subnet: '10.207.4.0/24' }]], resolvConf: resolv };
    const pod = w.pod('p');
    const r = ok(
      cni(w.node, {
        command: 'ADD',
        conf: conf(w, { dns: { nameservers: ['10.207.4.99'] } }, ipam),
        containerId: `dns-${RUN_ID}`,
        netns: pod.path,
      }),
      'ADD',
    );
    assert.equal(r.json.dns, { nameservers: ['10.207.4.99'] });
    const pod2 = w.pod('q');
    const r2 = ok(
      cni(w.node, { command: 'ADD', conf: conf(w, {}, ipam), containerId: `dns2-${RUN_ID}`, netns: pod2.path }),
      'ADD 2',
    );
    assert.equal(r2.json.dns, { nameservers: ['10.207.4.53'], search: ['ipam.example'] });
  } finally {
    w.cleanup();
  }
});

// ---- point 8 ----------------------------------------------------------------------------------

/** `ip -j route show table all` in `ns`, the routes through `dev`. */
function allRoutes(
  w: World,
  ns: string,
  family: 4 | 6,
): { dst: string; gateway?: string; table?: string; metric?: number; scope?: string; dev?: string }[] {
  return JSON.parse(w.exec(ns, 'ip', ['-j', `-${family}`, 'route', 'show', 'table', 'all'])) as never;
}

test('point 8: ipam.routes priority, table and scope are applied in the container and kept in a 1.1.0 result', () => {
  const w = new World('rt');
  try {
    const pod = w.pod('p');
    const ipam = {
      ranges: [[{ subnet: '10.207.5.0/24' }], [{ subnet: 'fd07::/64' }]],
      routes: [
        { dst: '10.99.0.0/16', priority: 77, table: 100 },
        { dst: '10.98.0.0/16', priority: 55 },
        { dst: '10.97.0.0/16', gw: '10.207.5.1', scope: 0, table: 1000 },
        { dst: 'fd99::/64', priority: 66, table: 100 },
      ],
    };
    const c = conf(w, { cniVersion: '1.1.0', isGateway: true }, ipam);
    const r = ok(cni(w.node, { command: 'ADD', conf: c, containerId: `rt-${RUN_ID}`, netns: pod.path }), 'ADD');
    assert.equal(r.json.routes, ipam.routes);
    const v4 = allRoutes(w, pod.name, 4);
    const find = (dst: string) => v4.find((x) => x.dst === dst);
    assert.equal(
      [find('10.99.0.0/16')?.table, find('10.99.0.0/16')?.metric, find('10.99.0.0/16')?.gateway],
      ['100', 77, '10.207.5.1'],
    );
    // main table is not printed
    assert.equal([find('10.98.0.0/16')?.table, find('10.98.0.0/16')?.metric], [undefined, 55]);
    assert.is(find('10.97.0.0/16')?.table, '1000');
    const v6 = allRoutes(w, pod.name, 6).find((x) => x.dst === 'fd99::/64');
    assert.equal([v6?.table, v6?.metric, v6?.gateway], ['100', 66, 'fd07::1']);
    ok(
      cni(w.node, { command: 'CHECK', conf: withPrev(c, r.json), containerId: `rt-${RUN_ID}`, netns: pod.path }),
      'CHECK',
    );
    // a 1.0.0 result has no such fields (they are 1.1 route fields)
    const pod2 = w.pod('q');
    const r2 = ok(
      cni(w.node, {
        command: 'ADD',
        conf: { ...c, cniVersion: '1.0.0' },
        containerId: `rt2-${RUN_ID}`,
        netns: pod2.path,
      }),
      'ADD 1.0.0',
    );
    assert.equal(r2.json.routes[0], { dst: '10.99.0.0/16' });
  } finally {
    w.cleanup();
  }
});

// ---- point 9 ----------------------------------------------------------------------------------

test(
  'point 9: static IPAM without gateway + isDefaultGateway: the bridge gets network+1 and the container a default ' +
    'route (as the reference)',
  () => {
    const seen: unknown[] = [];
    twin('stgw', (w, bin) => {
      const pod = w.pod('p');
      const c = conf(w, { isDefaultGateway: true }, { type: 'static', addresses: [{ address: '10.207.6.7/24' }] });
      const r = ok(
        cni(w.node, { command: 'ADD', conf: c, containerId: `stgw-${RUN_ID}`, netns: pod.path, bin }),
        'ADD',
      );
      const def = w.routes(pod.name, 4).find((x) => x.dst === 'default');
      seen.push({ ips: r.json.ips, routes: r.json.routes, bridge: w.addrs(w.node, 'tsbpar0'), def: def?.gateway });
      assert.ok(w.ping(pod.name, '10.207.6.1'), 'gateway unreachable');
    });
    assert.equal(seen[0], {
      ips: [{ interface: 2, address: '10.207.6.7/24', gateway: '10.207.6.1' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.207.6.1' }],
      bridge: ['10.207.6.1/24'],
      def: '10.207.6.1',
    });
    assert.equal(seen[0], seen[1]);
  },
);

/** A CNI_PATH directory with the reference host-local under another name, so it is exec'd as a delegate. */
function delegateDir(w: World): string {
  const dir = path.join(w.dataDir, 'cnipath'); // removed with the world
  fs.mkdirSync(dir);
  fs.symlinkSync('/usr/lib/cni/host-local', path.join(dir, 'hl-delegate'));
  return dir;
}

test(
  "point 9: CHECK is passed to a delegated IPAM plugin (the reference host-local exec'd): a lost reservation " +
    'fails CHECK',
  () => {
    const w = new World('dchk');
    try {
      const dir = delegateDir(w);
      const pod = w.pod('p');
      const cid = `dchk-${RUN_ID}`;
      const c = conf(
        w,
        { isGateway: true },
        { type: 'hl-delegate', dataDir: w.dataDir, ranges: [[{ subnet: '10.207.8.0/24' }]] },
      );
      const env = { CNI_PATH: dir };
      const r = ok(cni(w.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path, env }), 'ADD');
      assert.equal(w.reservations('par'), ['10.207.8.2']);
      ok(cni(w.node, { command: 'CHECK', conf: withPrev(c, r.json), containerId: cid, netns: pod.path, env }), 'CHECK');
      fs.rmSync(path.join(w.dataDir, 'par', '10.207.8.2'));
      const bad = cni(w.node, { command: 'CHECK', conf: withPrev(c, r.json), containerId: cid, netns: pod.path, env });
      assert.is(bad.status, 1, "CHECK passed with the delegate's reservation gone");
      assert.match(bad.json.msg, /hl-delegate CHECK failed: host-local: Failed to find address added by container/);
      ok(cni(w.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path, env }), 'DEL');
    } finally {
      w.cleanup();
    }
  },
);

test(
  'point 9: STATUS and GC with a delegated IPAM plugin that does not speak 1.1.0 (reference 1.1.1 static) succeed ' +
    'without calling it; STATUS fails (50) when the plugin is missing',
  () => {
    const w = new World('dst');
    try {
      const c = conf(w, { cniVersion: '1.1.0' }, { type: 'static', addresses: [{ address: '10.207.9.7/24' }] });
      // static 1.1.1 supports up to 1.0.0: it has no STATUS or GC, which is no reason to fail
      ok(cni(w.node, { command: 'STATUS', conf: c }), 'STATUS with static');
      ok(cni(w.node, { command: 'GC', conf: { ...c, 'cni.dev/valid-attachments': [] } }), 'GC with static');
      const missing = cni(w.node, {
        command: 'STATUS',
        conf: conf(w, { cniVersion: '1.1.0' }, { type: 'no-such-ipam' }),
      });
      assert.is(missing.status, 1);
      assert.is(missing.json.code, 50, missing.stdout);
      assert.match(missing.json.msg, /no-such-ipam/);
    } finally {
      w.cleanup();
    }
  },
);

// ---- point 10 ---------------------------------------------------------------------------------

/**
 * STATUS run with no firewall tool installed: /usr/sbin (and so /sbin) hidden by an empty tmpfs in a private mount
 * namespace.
 */
function statusWithoutFirewallTools(w: World, c: object): CniReply {
  const call: CniCall = { command: 'STATUS', conf: c };
  const r = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      w.node,
      'unshare',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs tsbt-empty /usr/sbin && for t in iptables-restore nft; do command -v $t >/dev/null && exit 99; ' +
        'done; exec "$0"',
      BIN,
    ],
    {
      env: { ...cniEnv(call), PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      input: JSON.stringify(c),
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  assert.is.not(r.status, 99, 'the firewall tools are still visible: the test cannot hide them');
  let json: any;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

test(
  'point 10: STATUS fails (50) when ipMasq or port mappings need a firewall tool and none is installed; succeeds ' +
    'when none is needed',
  () => {
    const w = new World('stfw');
    try {
      const ipam = { ranges: [[{ subnet: '10.207.10.0/24' }]] };
      const masq = conf(w, { cniVersion: '1.1.0', ipMasq: true }, ipam);
      ok(cni(w.node, { command: 'STATUS', conf: masq }), 'STATUS with the tools installed');
      const r = statusWithoutFirewallTools(w, masq);
      assert.is(r.status, 1, `STATUS passed without any firewall tool: ${r.stdout} ${r.stderr}`);
      assert.is(r.json.code, 50);
      assert.match(r.json.msg, /firewall tool/);
      const pinned = statusWithoutFirewallTools(
        w,
        conf(w, { cniVersion: '1.1.0', ipMasq: true, ipMasqBackend: 'nftables' }, ipam),
      );
      assert.is(pinned.json?.code, 50);
      assert.match(pinned.json.msg, /needs nft/);
      const ports = statusWithoutFirewallTools(
        w,
        conf(w, { cniVersion: '1.1.0', capabilities: { portMappings: true } }, ipam),
      );
      assert.is(ports.json?.code, 50, 'port mappings without a firewall tool');
      const none = statusWithoutFirewallTools(w, conf(w, { cniVersion: '1.1.0' }, ipam));
      assert.is(none.status, 0, `STATUS failed though no firewall is needed: ${none.stdout}`);
    } finally {
      w.cleanup();
    }
  },
);

test('point 10: a full range is logged, and STATUS still succeeds; an unwritable store fails it (50)', () => {
  const w = new World('stfull');
  try {
    const c = conf(w, { cniVersion: '1.1.0' }, { ranges: [[{ subnet: '10.207.11.0/30' }]] });
    const pod = w.pod('p');
    ok(cni(w.node, { command: 'ADD', conf: c, containerId: `stfull-${RUN_ID}`, netns: pod.path }), 'ADD');
    assert.equal(w.reservations('par'), ['10.207.11.2']);
    const full = cni(w.node, { command: 'STATUS', conf: c, env: { TSBRIDGE_LOG_LEVEL: 'warn' } });
    assert.is(full.status, 0, `STATUS failed on a full range: ${full.stdout}`);
    assert.match(full.stderr, /range set 0 is exhausted/);
    // a store where a file blocks the network directory cannot take a reservation
    const blocked = path.join(w.dataDir, 'blocked');
    fs.writeFileSync(blocked, '');
    const bad = cni(w.node, {
      command: 'STATUS',
      conf: conf(w, { cniVersion: '1.1.0' }, { dataDir: blocked, ranges: [[{ subnet: '10.207.11.0/24' }]] }),
    });
    assert.is(bad.json?.code, 50, bad.stdout);
    assert.match(bad.json.msg, /IPAM store/);
  } finally {
    w.cleanup();
  }
});

// ---- point 14 ---------------------------------------------------------------------------------

test(
  'point 14: cniVersion 0.2.0 and a config without cniVersion ' + '(0.1.0) answer the ip4/ip6 result as the reference',
  () => {
    for (const v of ['0.2.0', undefined]) {
      const out: unknown[] = [];
      twin(`v${v ?? 'none'}`.replace(/\./g, ''), (w, bin) => {
        const pod = w.pod('p');
        const cid = `old-${RUN_ID}`;
        const c = conf(
          w,
          { cniVersion: v, isDefaultGateway: true, dns: { nameservers: ['10.207.12.53'] } },
          { ranges: [[{ subnet: '10.207.12.0/24' }], [{ subnet: 'fd07::/64' }]], routes: [{ dst: '10.99.0.0/16' }] },
        );
        const r = ok(cni(w.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path, bin }), `ADD ${v}`);
        out.push(r.json);
        assert.equal(w.addrs(pod.name, 'eth0').sort(), ['10.207.12.2/24', 'fd07::2/64']);
        const chk = cni(w.node, {
          command: 'CHECK',
          conf: withPrev(c, r.json),
          containerId: cid,
          netns: pod.path,
          bin,
        });
        assert.is(chk.status, 1);
        assert.is(chk.json.code, 1, 'CHECK below 0.4.0 must be refused');
        ok(cni(w.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path, bin }), 'DEL');
        assert.equal(w.reservations('par'), []);
      });
      assert.equal(out[0], {
        cniVersion: v ?? '0.1.0',
        ip4: {
          ip: '10.207.12.2/24',
          gateway: '10.207.12.1',
          routes: [{ dst: '10.99.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.207.12.1' }],
        },
        ip6: { ip: 'fd07::2/64', gateway: 'fd07::1', routes: [{ dst: '::/0', gw: 'fd07::1' }] },
        dns: { nameservers: ['10.207.12.53'] },
      });
      assert.equal(out[0], out[1], `tsbridge and the reference differ at ${v}`);
    }
  },
);

test(
  'point 14: 0.2.0 limits are refused before anything is ' + 'made: two ranges of a family (7), an L2-only network (1)',
  () => {
    const w = new World('v020x');
    try {
      const pod = w.pod('p');
      const two = conf(
        w,
        { cniVersion: '0.2.0' },
        { ranges: [[{ subnet: '10.207.13.0/24' }], [{ subnet: '10.207.14.0/24' }]] },
      );
      const r = cni(w.node, { command: 'ADD', conf: two, containerId: `v020x-${RUN_ID}`, netns: pod.path });
      assert.is(r.json?.code, 7, r.stdout);
      assert.match(r.json.msg, /does not support more than 1 address per family/);
      ok(
        cni(w.node, { command: 'DEL', conf: two, containerId: `v020x-${RUN_ID}`, netns: pod.path }),
        'DEL of the refused config',
      );
      const l2 = cni(w.node, {
        command: 'ADD',
        conf: conf(w, { cniVersion: '0.2.0' }, {}),
        containerId: `v020y-${RUN_ID}`,
        netns: pod.path,
      });
      assert.is(l2.json?.code, 1, l2.stdout);
      assert.equal(w.links(pod.name), ['lo'], 'a refused ADD left an interface');
      assert.not.ok(w.links(w.node).includes('tsbpar0'), 'a refused ADD made the bridge');
    } finally {
      w.cleanup();
    }
  },
);

test('point 14: VERSION lists what the reference 1.1.1 lists (and 1.1.0)', () => {
  const ref = spawnSync(REF_BRIDGE, [], {
    env: { CNI_COMMAND: 'VERSION' },
    input: '{"cniVersion":"0.2.0"}',
    encoding: 'utf8',
  });
  const ours = spawnSync(BIN, [], {
    env: { CNI_COMMAND: 'VERSION' },
    input: '{"cniVersion":"0.2.0"}',
    encoding: 'utf8',
  });
  const refV = JSON.parse(ref.stdout).supportedVersions as string[];
  const ourV = JSON.parse(ours.stdout).supportedVersions as string[];
  assert.ok(refV.length >= 6, ref.stdout);
  for (const v of refV) assert.ok(ourV.includes(v), `reference supports ${v}, tsbridge does not`);
  assert.ok(ourV.includes('1.1.0'));
});

test.run();
