// Port mappings with real packets. Each test builds its own throwaway world and removes it in
// `finally`:
//   outside ns --veth-- node ns (bridge br0 + the firewall rules) --veth-- ctr1 ns, ctr2 ns
// TCP servers in ctr1 (and ctr2) answer with the peer address they see, so each test shows both
// that the DNAT works and whether (and to what) the source was masqueraded. The firewall code
// runs inside the node namespace through withNetns; traffic only flows among these namespaces.
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { missing, requires } from '../helpers/test';
import { CniError, ErrCode } from '../../src/cni/errors';
import {
  AttachmentRules,
  FirewallBackend,
  IptablesBackend,
  NftablesBackend,
  listFirewallContainers,
  parsePortMappings,
  removeAttachmentEverywhere,
  requiredSysctls,
} from '../../src/firewall';
import { hairpinChainName } from '../../src/firewall/portmap';
import { dnatChainName, masqChainName } from '../../src/firewall/tag';
import { withNetns } from '../../src/sys/netns';

const RUN = crypto.randomBytes(3).toString('hex');
const legacy = !missing.tool('iptables-legacy', 'ip6tables-legacy');
// as non-root, or without iptables-legacy, these are counted as skipped (a failure under CI=true)
const rootTest = requires(test, missing.root());
let seq = 0;

const NODE_OUT_V4 = '172.30.250.1';
const OUT_V4 = '172.30.250.2';
const NODE_OUT_V6 = 'fd00:30:250::1';
const OUT_V6 = 'fd00:30:250::2';
const GW_V4 = '10.250.0.1';
const GW_V6 = 'fd00:250::1';
const CTR_PORT = 8080;
const HOST_PORT = 18081;

interface Ctr {
  ns: string;
  veth: string;
  v4: string;
  v6: string;
}

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const inNs = (ns: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, ...args);

const SERVER = `require('net').createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, '') + '\\n'))
  .listen(${CTR_PORT}, '::', () => console.log('ready'));`;
const CLIENT = `const s = require('net').connect(Number(process.argv[2]), process.argv[1]); let d = '';
  s.setTimeout(3000, () => { console.log('timeout'); process.exit(0); });
  s.on('data', (b) => (d += b)); s.on('end', () => { console.log(d.trim()); process.exit(0); });
  s.on('error', (e) => { console.log(e.code || e.message); process.exit(0); });`;

/** A node with bridge br0, two containers on it, an outside host; everything removed by close(). */
class World {
  readonly node: string;
  readonly out: string;
  readonly ctr1: Ctr;
  readonly ctr2: Ctr;
  private readonly namespaces: string[] = [];
  private readonly servers: ChildProcess[] = [];

  constructor() {
    const id = `${RUN}-${++seq}`;
    try {
      this.node = this.ns(`tsbt-pm-${id}-node`);
      this.out = this.ns(`tsbt-pm-${id}-out`);
      this.ctr1 = this.container(`tsbt-pm-${id}-c1`, 'vc1', '10.250.0.2', 'fd00:250::2');
      this.ctr2 = this.container(`tsbt-pm-${id}-c2`, 'vc2', '10.250.0.3', 'fd00:250::3');
      const n = this.node;
      sh('ip', '-n', n, 'link', 'add', 'br0', 'type', 'bridge');
      sh('ip', '-n', n, 'addr', 'add', `${GW_V4}/24`, 'dev', 'br0');
      sh('ip', '-n', n, 'addr', 'add', `${GW_V6}/64`, 'dev', 'br0', 'nodad');
      sh('ip', '-n', n, 'link', 'set', 'br0', 'up');
      for (const c of [this.ctr1, this.ctr2]) {
        sh('ip', '-n', n, 'link', 'add', c.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c.ns);
        sh('ip', '-n', n, 'link', 'set', c.veth, 'master', 'br0');
        sh('ip', '-n', n, 'link', 'set', c.veth, 'up');
        sh('ip', '-n', c.ns, 'addr', 'add', `${c.v4}/24`, 'dev', 'eth0');
        sh('ip', '-n', c.ns, 'addr', 'add', `${c.v6}/64`, 'dev', 'eth0', 'nodad');
        sh('ip', '-n', c.ns, 'link', 'set', 'eth0', 'up');
        sh('ip', '-n', c.ns, 'route', 'add', 'default', 'via', GW_V4);
        sh('ip', '-n', c.ns, '-6', 'route', 'add', 'default', 'via', GW_V6);
      }
      // a container reaching its own host port comes back out of its own bridge port
      sh('ip', '-n', n, 'link', 'set', this.ctr1.veth, 'type', 'bridge_slave', 'hairpin', 'on');
      sh('ip', '-n', n, 'link', 'add', 'to-out', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.out);
      sh('ip', '-n', n, 'addr', 'add', `${NODE_OUT_V4}/24`, 'dev', 'to-out');
      sh('ip', '-n', n, 'addr', 'add', `${NODE_OUT_V6}/64`, 'dev', 'to-out', 'nodad');
      sh('ip', '-n', n, 'link', 'set', 'to-out', 'up');
      sh('ip', '-n', this.out, 'addr', 'add', `${OUT_V4}/24`, 'dev', 'eth0');
      sh('ip', '-n', this.out, 'addr', 'add', `${OUT_V6}/64`, 'dev', 'eth0', 'nodad');
      sh('ip', '-n', this.out, 'link', 'set', 'eth0', 'up');
      inNs(n, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      inNs(n, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1');
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private ns(name: string): string {
    sh('ip', 'netns', 'add', name);
    this.namespaces.push(name);
    sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
    return name;
  }

  private container(name: string, veth: string, v4: string, v6: string): Ctr {
    return { ns: this.ns(name), veth, v4, v6 };
  }

  /** Starts the answering server in a container; killed by close(). */
  async serve(c: Ctr): Promise<void> {
    const p = spawn('ip', ['netns', 'exec', c.ns, process.execPath, '-e', SERVER], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.servers.push(p);
    await new Promise<void>((resolve, reject) => {
      p.on('error', reject);
      p.on('exit', (code) => reject(new Error(`server in ${c.ns} exited with ${code}`)));
      p.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
    });
  }

  /** What the server said to a TCP client in `ns` connecting to host:port ("timeout"/"ECONNREFUSED" on failure). */
  ask(ns: string, host: string, port = HOST_PORT): string {
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', CLIENT, host, String(port)], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    return (r.stdout ?? '').trim() || `failed: ${r.stderr}`;
  }

  inNode<T>(fn: () => T): T {
    return withNetns(`/run/netns/${this.node}`, fn);
  }

  /** The node's nat and raw state, both backends (and legacy iptables where installed). */
  dump(): string {
    const n = this.node;
    const saves = [
      'iptables-save',
      'ip6tables-save',
      ...(legacy ? ['iptables-legacy-save', 'ip6tables-legacy-save'] : []),
    ];
    return (
      saves.flatMap((s) => ['nat', 'raw'].map((t) => inNs(n, s, '-t', t))).join('') + inNs(n, 'nft', 'list', 'ruleset')
    );
  }

  close(): void {
    for (const p of this.servers) {
      p.removeAllListeners('exit');
      p.kill('SIGKILL');
    }
    for (const ns of this.namespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

async function withWorld(fn: (w: World) => Promise<void> | void): Promise<void> {
  const w = new World();
  try {
    await fn(w);
  } finally {
    w.close();
  }
}

function rulesFor(
  c: Ctr,
  id: string,
  mappings: unknown,
  masquerade = true,
  ips: 'dual' | 'v4' = 'dual',
): AttachmentRules {
  return {
    network: 'tsbt-pm-net',
    containerId: id,
    ifname: 'eth0',
    bridge: 'br0',
    masquerade,
    portMappings: parsePortMappings(mappings),
    ips: [
      { ip: c.v4, subnet: `${c.v4}/24`, family: 4 },
      ...(ips === 'dual' ? [{ ip: c.v6, subnet: `${c.v6}/64`, family: 6 as const }] : []),
    ],
  };
}

const variants: [string, () => FirewallBackend][] = [
  ['iptables', () => new IptablesBackend()],
  ['nftables', () => new NftablesBackend()],
];
variants.push([
  'iptables-legacy',
  () =>
    new IptablesBackend({
      4: { save: 'iptables-legacy-save', restore: 'iptables-legacy-restore' },
      6: { save: 'ip6tables-legacy-save', restore: 'ip6tables-legacy-restore' },
    }),
]);
/** The registrar for one backend variant: iptables-legacy ones are skipped (counted) where it is absent. */
const variantTest = (label: string) =>
  requires(rootTest, label === 'iptables-legacy' ? missing.tool('iptables-legacy', 'ip6tables-legacy') : undefined);

function expectPortInUse(fn: () => void, holder: string): void {
  try {
    fn();
    assert.unreachable('second ADD of the same host port succeeded');
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    assert.is(e.code, ErrCode.PortInUse, e.message);
    assert.ok(e.message.includes(`container ${holder}`), e.message);
  }
}

for (const [label, make] of variants) {
  const test = variantTest(label);
  test(
    `${label}: outside, node (127.0.0.1 and own address), hairpin and neighbour reach the container; DEL removes ` +
      `everything`,
    () =>
      withWorld(async (w) => {
        await w.serve(w.ctr1);
        const fw = make();
        const r = rulesFor(w.ctr1, `c1-${RUN}`, [{ HostPort: HOST_PORT, ContainerPort: CTR_PORT, Protocol: 'TCP' }]);
        for (const s of requiredSysctls(r)) inNs(w.node, 'sysctl', '-qw', `${s.key}=${s.value}`);

        assert.is(w.ask(w.out, NODE_OUT_V4), 'ECONNREFUSED', 'before ADD nothing listens on the node');
        w.inNode(() => {
          fw.applyAttachment(r);
          fw.applyAttachment(r); // a retried ADD changes nothing
          assert.equal(fw.checkAttachment(r), []);
          assert.equal(fw.listContainers(r.network), [r.containerId]);
        });

        // from outside: DNAT, the client's address is kept
        assert.is(w.ask(w.out, NODE_OUT_V4), OUT_V4);
        assert.is(w.ask(w.out, NODE_OUT_V6), OUT_V6);
        // from the node itself: own address needs no SNAT; 127.0.0.1 is masqueraded to the bridge address
        assert.is(w.ask(w.node, NODE_OUT_V4), NODE_OUT_V4);
        assert.is(w.ask(w.node, '127.0.0.1'), GW_V4);
        assert.is(w.ask(w.node, NODE_OUT_V6), NODE_OUT_V6);
        // the container itself through the node's address (hairpin) and through its gateway
        assert.is(w.ask(w.ctr1.ns, NODE_OUT_V4), GW_V4);
        assert.is(w.ask(w.ctr1.ns, GW_V4), GW_V4);
        assert.is(w.ask(w.ctr1.ns, NODE_OUT_V6), GW_V6);
        // a neighbour on the same bridge
        assert.is(w.ask(w.ctr2.ns, NODE_OUT_V4), GW_V4);
        assert.is(w.ask(w.ctr2.ns, NODE_OUT_V6), GW_V6);
        // direct container-to-container traffic is not touched
        assert.is(w.ask(w.ctr2.ns, w.ctr1.v4, CTR_PORT), w.ctr2.v4);
        // a port nobody mapped is not forwarded
        assert.is(w.ask(w.out, NODE_OUT_V4, HOST_PORT + 1), 'ECONNREFUSED');

        const dump = w.dump();
        for (const chain of [dnatChainName(r.network, r.containerId), hairpinChainName(r.network, r.containerId)]) {
          assert.ok(dump.includes(chain), dump);
        }

        w.inNode(() => {
          fw.removeAttachment(r.network, r.containerId);
          fw.removeAttachment(r.network, r.containerId); // DEL is idempotent
          assert.equal(fw.listContainers(r.network), []);
        });
        const after = w.dump();
        for (const chain of [
          dnatChainName(r.network, r.containerId),
          hairpinChainName(r.network, r.containerId),
          masqChainName(r.network, r.containerId),
        ]) {
          assert.not.ok(after.includes(chain), after);
        }
        assert.not.ok(/CNI-(DN|HM)-/.test(after), after);
        assert.is(w.ask(w.out, NODE_OUT_V4), 'ECONNREFUSED');
        assert.is(w.ask(w.node, '127.0.0.1'), 'ECONNREFUSED');
      }),
  );

  test(`${label}: a second container cannot take a mapped host port (103); other protocol or address is fine`, () =>
    withWorld(async (w) => {
      await w.serve(w.ctr1);
      await w.serve(w.ctr2);
      const fw = make();
      const first = rulesFor(w.ctr1, `c1-${RUN}`, [
        { hostPort: HOST_PORT, containerPort: CTR_PORT },
        { hostPort: HOST_PORT + 1, containerPort: CTR_PORT, hostIP: NODE_OUT_V4 },
      ]);
      const second = (m: unknown) => rulesFor(w.ctr2, `c2-${RUN}`, m, false);
      w.inNode(() => {
        fw.applyAttachment(first);
        expectPortInUse(
          () => fw.applyAttachment(second([{ hostPort: HOST_PORT, containerPort: CTR_PORT }])),
          first.containerId,
        );
        // specific address vs the first's wildcard
        expectPortInUse(
          () => fw.applyAttachment(second([{ hostPort: HOST_PORT, containerPort: CTR_PORT, hostIP: GW_V4 }])),
          first.containerId,
        );
        // wildcard vs the first's specific address
        expectPortInUse(
          () => fw.applyAttachment(second([{ hostPort: HOST_PORT + 1, containerPort: CTR_PORT }])),
          first.containerId,
        );
        // a failed ADD wrote nothing
        assert.equal(fw.listContainers(first.network), [first.containerId]);
        // same port, other protocol; same port, another specific address: both fine
        fw.applyAttachment(
          second([
            { hostPort: HOST_PORT, containerPort: CTR_PORT, protocol: 'udp' },
            { hostPort: HOST_PORT + 1, containerPort: CTR_PORT, hostIP: GW_V4 },
          ]),
        );
        assert.equal(fw.listContainers(first.network).sort(), [first.containerId, `c2-${RUN}`].sort());
      });
      // each container still gets its own traffic
      assert.is(w.ask(w.out, NODE_OUT_V4), OUT_V4);
      assert.is(w.ask(w.out, NODE_OUT_V4, HOST_PORT + 1), OUT_V4);
      assert.is(w.ask(w.node, GW_V4, HOST_PORT + 1), GW_V4); // ctr2's mapping on the bridge address
      w.inNode(() => {
        fw.removeAttachment(first.network, first.containerId);
        // once the first is gone, the port is free
        fw.applyAttachment(second([{ hostPort: HOST_PORT, containerPort: CTR_PORT }]));
        assert.equal(fw.checkAttachment(second([{ hostPort: HOST_PORT, containerPort: CTR_PORT }])), []);
        fw.removeAttachment(first.network, `c2-${RUN}`);
      });
      assert.not.ok(/CNI-(DN|HM)-/.test(w.dump()), w.dump());
    }));

  test(`${label}: CHECK of an IPv4-only container does not look for IPv6 rules; a flushed table is reported`, () =>
    withWorld((w) => {
      const fw = make();
      const r = rulesFor(w.ctr1, `v4-${RUN}`, [{ hostPort: HOST_PORT, containerPort: CTR_PORT }], true, 'v4');
      w.inNode(() => {
        fw.applyAttachment(r);
        assert.equal(fw.checkAttachment(r), []);
      });
      if (fw.name === 'nftables') inNs(w.node, 'nft', 'flush', 'table', 'inet', 'tsbridge');
      else inNs(w.node, label === 'iptables-legacy' ? 'iptables-legacy' : 'iptables', '-t', 'nat', '-F');
      w.inNode(() => {
        const problems = fw.checkAttachment(r);
        assert.ok(
          problems.some((p) => /DNAT|dnat/.test(p)),
          problems.join('\n'),
        );
        assert.not.ok(
          problems.some((p) => /ip6|IPv6/.test(p)),
          problems.join('\n'),
        );
        fw.removeAttachment(r.network, r.containerId);
      });
      assert.not.ok(/CNI-(DN|HM)-/.test(w.dump()), w.dump());
    }));
}

for (const [label, make] of variants) {
  const test = variantTest(label);
  test(
    `${label}: route_localnet guard: a container cannot reach the node's 127.0.0.1-only services, ` +
      `127.0.0.1:hostPort still works`,
    () =>
      withWorld(async (w) => {
        await w.serve(w.ctr1);
        const local = spawn(
          'ip',
          [
            'netns',
            'exec',
            w.node,
            process.execPath,
            '-e',
            `require('net').createServer((s) => s.end('node-local\\n')).listen(19999, '127.0.0.1', () => ` +
              `console.log('ready'));`,
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        try {
          await new Promise<void>((resolve) => local.stdout!.on('data', () => resolve()));
          const r = rulesFor(w.ctr1, `g-${RUN}`, [{ hostPort: HOST_PORT, containerPort: CTR_PORT }]);
          for (const s of requiredSysctls(r)) inNs(w.node, 'sysctl', '-qw', `${s.key}=${s.value}`);
          // ctr2 plays a container with CAP_NET_RAW: it routes 127.0.0.0/8 to its gateway
          const c = w.ctr2.ns;
          sh('ip', '-n', c, 'addr', 'flush', 'dev', 'lo');
          sh('ip', '-n', c, 'route', 'add', '127.0.0.0/8', 'via', GW_V4, 'dev', 'eth0');
          inNs(c, 'sysctl', '-qw', 'net.ipv4.conf.eth0.route_localnet=1');
          assert.is(w.ask(c, '127.0.0.1', 19999), 'node-local', 'the hole route_localnet opens (without the guard)');
          const fw = make();
          w.inNode(() => {
            fw.applyAttachment(r);
            fw.applyAttachment(r); // the guard is added once
            assert.equal(fw.checkAttachment(r), []);
          });
          assert.is(w.ask(c, '127.0.0.1', 19999), 'timeout');
          assert.is(w.ask(w.node, '127.0.0.1'), GW_V4);
          const dump = w.dump();
          assert.is(
            (dump.match(/127\.0\.0\.0\/8 -i br0|iifname "br0" ip daddr 127\.0\.0\.0\/8 drop/g) ?? []).length,
            1,
            dump,
          );
          // the guard is the bridge's, not the container's: it stays after DEL
          w.inNode(() => fw.removeAttachment(r.network, r.containerId));
          assert.is(w.ask(c, '127.0.0.1', 19999), 'timeout');
        } finally {
          local.kill('SIGKILL');
        }
      }),
  );
}

for (const backend of ['IptablesBackend', 'NftablesBackend']) {
  const test = rootTest;
  test(`${backend}: concurrent ADDs of one host port from separate processes: exactly one wins, the rest get 103`, () =>
    withWorld(async (w) => {
      const mod = path.resolve(__dirname, '../../src/firewall');
      // the shared chains exist already (else creating them would serialize the racers anyway)
      const bystander = rulesFor(
        w.ctr2,
        `by-${RUN}`,
        [{ hostPort: HOST_PORT + 5, containerPort: CTR_PORT }],
        false,
        'v4',
      );
      const make = () => (backend === 'IptablesBackend' ? new IptablesBackend() : new NftablesBackend());
      w.inNode(() => make().applyAttachment(bystander));
      const startAt = Date.now() + 1500; // all four start their read-check-write at the same moment
      const script = (id: string) => `const fw = require(${JSON.stringify(mod)});
        while (Date.now() < ${startAt});
        const r = { network: 'tsbt-pm-net', containerId: ${JSON.stringify(id)}, ifname: 'eth0', masquerade: true,
          ips: [{ ip: '10.250.0.2', subnet: '10.250.0.0/24', family: 4 }],
          portMappings: fw.parsePortMappings([{ hostPort: ${HOST_PORT}, containerPort: ${CTR_PORT} }]) };
        try { new fw.${backend}().applyAttachment(r); console.log('ok'); } catch (e) { console.log(String(e.code)); }`;
      const ids = [1, 2, 3, 4].map((i) => `race${i}-${RUN}`);
      const results = await Promise.all(
        ids.map(
          (id) =>
            new Promise<string>((resolve) => {
              const p = spawn('ip', ['netns', 'exec', w.node, process.execPath, '-e', script(id)], {
                stdio: ['ignore', 'pipe', 'inherit'],
              });
              let out = '';
              p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
              p.on('exit', () => resolve(out.trim()));
            }),
        ),
      );
      assert.equal(results.slice().sort(), ['103', '103', '103', 'ok'], results.join(','));
      const winner = ids[results.indexOf('ok')];
      w.inNode(() => {
        const fw = make();
        assert.equal(fw.listContainers('tsbt-pm-net').sort(), [winner, bystander.containerId].sort());
        fw.removeAttachment('tsbt-pm-net', winner);
        fw.removeAttachment('tsbt-pm-net', bystander.containerId);
      });
    }));
}

rootTest('removeAttachmentEverywhere and listFirewallContainers cover both backends', () =>
  withWorld((w) => {
    const a = rulesFor(w.ctr1, `a-${RUN}`, [{ hostPort: HOST_PORT, containerPort: CTR_PORT }], false);
    const b = rulesFor(w.ctr2, `b-${RUN}`, [{ hostPort: HOST_PORT + 1, containerPort: CTR_PORT }], true);
    w.inNode(() => {
      new IptablesBackend().applyAttachment(a);
      new NftablesBackend().applyAttachment(b);
      assert.equal(listFirewallContainers(a.network).sort(), [a.containerId, b.containerId].sort());
      removeAttachmentEverywhere(a.network, a.containerId);
      removeAttachmentEverywhere(b.network, b.containerId);
      removeAttachmentEverywhere(b.network, b.containerId);
      assert.equal(listFirewallContainers(a.network), []);
    });
    assert.not.ok(/CNI-(DN|HM)-|CNI-[0-9a-f]{24}/.test(w.dump()), w.dump());
  }),
);

requires(rootTest, missing.refPlugins('portmap'))(
  'interop: a port the reference portmap mapped is a conflict, and tsbridge DEL removes its chain',
  () =>
    withWorld((w) => {
      const conf = {
        cniVersion: '0.4.0',
        name: 'tsbt-pm-net',
        type: 'portmap',
        snat: true,
        runtimeConfig: { portMappings: [{ hostPort: HOST_PORT, containerPort: CTR_PORT, protocol: 'tcp' }] },
        prevResult: {
          cniVersion: '0.4.0',
          interfaces: [{ name: 'eth0', sandbox: `/run/netns/${w.ctr1.ns}` }],
          ips: [{ version: '4', address: `${w.ctr1.v4}/24`, interface: 0 }],
        },
      };
      const refId = `ref-${RUN}`;
      execFileSync('ip', ['netns', 'exec', w.node, '/usr/lib/cni/portmap'], {
        input: JSON.stringify(conf),
        encoding: 'utf8',
        env: {
          ...process.env,
          CNI_COMMAND: 'ADD',
          CNI_CONTAINERID: refId,
          CNI_NETNS: `/run/netns/${w.ctr1.ns}`,
          CNI_IFNAME: 'eth0',
          CNI_PATH: '/usr/lib/cni',
        },
      });
      const chain = dnatChainName(conf.name, refId);
      assert.ok(w.dump().includes(chain), 'reference chain name differs from ours');
      w.inNode(() => {
        const fw = new IptablesBackend();
        expectPortInUse(
          () =>
            fw.applyAttachment(
              rulesFor(w.ctr2, `c2-${RUN}`, [{ hostPort: HOST_PORT, containerPort: CTR_PORT }], false, 'v4'),
            ),
          refId,
        );
        assert.equal(fw.listContainers(conf.name), [refId]);
        fw.removeAttachment(conf.name, refId);
        assert.equal(fw.listContainers(conf.name), []);
      });
      assert.not.ok(w.dump().includes(chain), w.dump());
    }),
);

test.run();
