// Real packets: container ns --veth-- node ns --veth-- outside ns, all created here. A TCP server
// in "outside" answers with the peer address it sees: the container's own address without
// masquerade, the node's address with it. Traffic only flows between these namespaces.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { missing, requires } from '../helpers/test';
import { IptablesBackend, MasqTarget, NftablesBackend } from '../../src/firewall';
import type { FirewallBackend } from '../../src/firewall';
import { withNetns } from '../../src/sys/netns';

const RUN = crypto.randomBytes(3).toString('hex');
const NODE = `tsbt-fw-${RUN}-node`;
const CTR = `tsbt-fw-${RUN}-ctr`;
const OUT = `tsbt-fw-${RUN}-out`;
const PORT = 18080;

const target: MasqTarget = {
  network: 'tsbt-traffic',
  containerId: `traffic-${RUN}`,
  ifname: 'eth0',
  ips: [
    { ip: '10.253.0.2', subnet: '10.253.0.0/24', family: 4 },
    { ip: 'fd00:253::2', subnet: 'fd00:253::/64', family: 6 },
  ],
};
const NODE_OUT_V4 = '172.31.253.1';
const NODE_OUT_V6 = 'fd00:254::1';
const FAR_V4 = '172.31.199.2';
const FAR_V6 = 'fd00:199::2';

function sh(...args: string[]): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const inNs = (ns: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, ...args);

function buildTopology(): void {
  for (const ns of [NODE, CTR, OUT]) {
    sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  }
  sh('ip', '-n', NODE, 'link', 'add', 'to-ctr', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CTR);
  sh('ip', '-n', NODE, 'link', 'add', 'to-out', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT);
  const addr = (ns: string, dev: string, ...cidrs: string[]) => {
    for (const c of cidrs) sh('ip', '-n', ns, 'addr', 'add', c, 'dev', dev, ...(c.includes(':') ? ['nodad'] : []));
    sh('ip', '-n', ns, 'link', 'set', dev, 'up');
  };
  addr(NODE, 'to-ctr', '10.253.0.1/24', 'fd00:253::1/64');
  addr(NODE, 'to-out', `${NODE_OUT_V4}/24`, `${NODE_OUT_V6}/64`);
  addr(CTR, 'eth0', '10.253.0.2/24', 'fd00:253::2/64');
  addr(OUT, 'eth0', '172.31.253.2/24', 'fd00:254::2/64');
  sh('ip', '-n', CTR, 'route', 'add', 'default', 'via', '10.253.0.1');
  sh('ip', '-n', CTR, '-6', 'route', 'add', 'default', 'via', 'fd00:253::1');
  // Outside can route back to the container network, so un-masqueraded connections work too
  // and the test shows which source address arrives, not merely whether replies come back.
  sh('ip', '-n', OUT, 'route', 'add', '10.253.0.0/24', 'via', NODE_OUT_V4);
  sh('ip', '-n', OUT, '-6', 'route', 'add', 'fd00:253::/64', 'via', NODE_OUT_V6);
  // a second address of the outside host in another subnet (FAR_*): the contrast for the ACCEPT rule
  sh('ip', '-n', OUT, 'addr', 'add', `${FAR_V4}/32`, 'dev', 'eth0');
  sh('ip', '-n', OUT, 'addr', 'add', `${FAR_V6}/128`, 'dev', 'eth0', 'nodad');
  sh('ip', '-n', NODE, 'route', 'add', FAR_V4, 'via', '172.31.253.2');
  sh('ip', '-n', NODE, '-6', 'route', 'add', FAR_V6, 'via', 'fd00:254::2');
  inNs(NODE, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  inNs(NODE, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1');
}

function tearDown(): void {
  for (const ns of [CTR, OUT, NODE]) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // not created or already gone
    }
  }
}

const SERVER = `require('net').createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, '') + '\\n'))
  .listen(${PORT}, '::', () => console.log('ready'));`;
const CLIENT = `const s = require('net').connect(${PORT}, process.argv[1]); let d = '';
  s.setTimeout(5000, () => { console.error('timeout'); process.exit(2); });
  s.on('data', (b) => (d += b)); s.on('end', () => process.stdout.write(d.trim()));
  s.on('error', (e) => { console.error(e.message); process.exit(1); });`;

let server: ChildProcess | null = null;

function startServer(): Promise<void> {
  return new Promise((resolve, reject) => {
    server = spawn('ip', ['netns', 'exec', OUT, process.execPath, '-e', SERVER], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    server.on('error', reject);
    server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
    server.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
  });
}

/** The address the outside server saw for a connection from the container to `dst`. */
function seenFrom(dst: string): string {
  return inNs(CTR, process.execPath, '-e', CLIENT, dst);
}

const backends: [string, () => FirewallBackend][] = [
  ['iptables', () => new IptablesBackend()],
  ['nftables', () => new NftablesBackend()],
];

// as non-root these are counted as skipped (a failure under CI=true)
const rootTest = requires(test, missing.root());

test.before(async () => {
  if (missing.root()) return;
  buildTopology();
  await startServer();
});

rootTest('without masquerade the outside host sees the container address', () => {
  assert.is(seenFrom('172.31.253.2'), '10.253.0.2');
  assert.is(seenFrom('fd00:254::2'), 'fd00:253::2');
});

for (const [label, make] of backends) {
  const test = rootTest;
  test(`${label}: with masquerade it sees the node address; after del the container's again`, () => {
    const fw = make();
    withNetns(`/run/netns/${NODE}`, () => fw.addMasquerade(target));
    try {
      assert.is(seenFrom('172.31.253.2'), NODE_OUT_V4);
      assert.is(seenFrom('fd00:254::2'), NODE_OUT_V6);
    } finally {
      withNetns(`/run/netns/${NODE}`, () => fw.removeAttachment(target.network, target.containerId));
    }
    assert.is(seenFrom('172.31.253.2'), '10.253.0.2');
    assert.is(seenFrom('fd00:254::2'), 'fd00:253::2');
  });
}

rootTest('destinations inside the attachment subnet are not masqueraded (the ACCEPT rule)', () => {
  // Pretend the outside hosts are on the container's own subnet: their traffic must keep its source.
  const wide: MasqTarget = {
    ...target,
    ips: [
      { ip: '10.253.0.2', subnet: '172.31.253.0/24', family: 4 },
      { ip: 'fd00:253::2', subnet: 'fd00:254::/64', family: 6 },
    ],
  };
  for (const [label, make] of backends) {
    const fw = make();
    withNetns(`/run/netns/${NODE}`, () => fw.addMasquerade(wide));
    try {
      // the rules are there (a pass must not come from having no rule at all) ...
      withNetns(`/run/netns/${NODE}`, () =>
        assert.equal(
          fw.checkAttachment({ ...wide, masquerade: true, portMappings: [] }),
          [],
          `${label}: rules missing`,
        ),
      );
      const dump =
        label === 'iptables'
          ? inNs(NODE, 'iptables-save', '-t', 'nat') + inNs(NODE, 'ip6tables-save', '-t', 'nat')
          : inNs(NODE, 'nft', 'list', 'ruleset');
      for (const net of ['172.31.253.0/24', 'fd00:254::/64'])
        assert.ok(dump.includes(net), `${label}: no rule for ${net}:\n${dump}`);
      // ... and do masquerade a destination outside the subnet, on the same outside host
      assert.is(seenFrom(FAR_V4), NODE_OUT_V4, `${label}: ${FAR_V4} not masqueraded`);
      assert.is(seenFrom(FAR_V6), NODE_OUT_V6, `${label}: ${FAR_V6} not masqueraded`);
      // while the destinations inside the subnet keep the container's source
      assert.is(seenFrom('172.31.253.2'), '10.253.0.2');
      assert.is(seenFrom('fd00:254::2'), 'fd00:253::2');
    } finally {
      withNetns(`/run/netns/${NODE}`, () => fw.removeAttachment(wide.network, wide.containerId));
    }
  }
});

test.after(() => {
  if (server) {
    server.removeAllListeners('exit');
    server.kill();
  }
  tearDown();
});

test.run();
