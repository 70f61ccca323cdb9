// Three "nodes" as network namespaces on one L2 segment (a bridge in a "switch" namespace that also
// hosts the fake API server). In every node, `tsbridge install --watch --routes` runs as the
// DaemonSet would: it reads the node's pod CIDRs from the API, installs binary + conflist, and
// programs routes to the other nodes' pod CIDRs. Pods ADDed with the installed binary and conflist
// then reach pods on the other nodes (IPv4 and IPv6, without NAT); a node removed from the API
// loses its routes everywhere; a route deleted by hand comes back; foreign routes are never touched.
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timeout } from '../helpers/test';
import { FakeApi, makeNode } from '../helpers/k8s-fake-api';
import { apiFlags, dirFlags, spawnInNs, stopAgent, teardown } from '../helpers/k8s-agent';
import { BIN, cni, sh, until, World } from '../helpers/netns';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PROTO = '116';
const SW_V4 = '172.31.213.254';

interface Node {
  i: number;
  name: string;
  ns: string;
  dir: string;
  v4: string;
  v6: string;
  podV4: string;
  podV6: string;
  agent?: ChildProcess;
  log: string;
}
interface Pod {
  ns: string;
  v4: string;
  v6: string;
}

/** Async, so the fake API (in this process) keeps answering while we wait. Never throws. */
async function inNs(ns: string, cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 20_000 });
    return { ok: true, out: r.stdout };
  } catch (e) {
    return { ok: false, out: String((e as { stderr?: string }).stderr ?? e) };
  }
}
const ping = async (ns: string, dst: string): Promise<boolean> =>
  (await inNs(ns, 'ping', ['-n', '-q', '-c', '1', '-W', '2', dst])).ok;

async function ourRoutes(ns: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of ['-4', '-6']) {
    const r = await run('ip', ['-j', f, '-n', ns, 'route', 'show', 'proto', PROTO]);
    for (const x of JSON.parse(r.stdout || '[]') as { dst: string; gateway: string }[])
      out.push(`${x.dst} via ${x.gateway}`);
  }
  return out.sort();
}

const expectedRoutes = (nodes: Node[], self: Node): string[] =>
  nodes
    .filter((n) => n !== self)
    .flatMap((n) => [`${n.podV4} via ${n.v4}`, `${n.podV6} via ${n.v6}`])
    .sort();

/** What a runtime passes one plugin of a conflist: the list's cniVersion and name, the plugin's keys. */
function pluginConf(conflistPath: string): Record<string, unknown> {
  const c = JSON.parse(fs.readFileSync(conflistPath, 'utf8')) as {
    cniVersion: string;
    name: string;
    plugins: Record<string, unknown>[];
  };
  return { cniVersion: c.cniVersion, name: c.name, ...c.plugins[0] };
}

test(
  'three nodes: installed from the API, pods reach each other across nodes, routes follow the Node objects',
  timeout(600_000, async () => {
    const world = new World('k8s');
    const api = new FakeApi([SW_V4]);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-k8scluster-'));
    const nodes: Node[] = [];
    try {
      // the L2 segment: a bridge in the switch namespace, which also serves the API
      const sw = world.addNs('sw');
      sh('ip', ['-n', sw, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', sw, 'link', 'add', 'sw0', 'type', 'bridge']);
      sh('ip', ['-n', sw, 'addr', 'add', `${SW_V4}/24`, 'dev', 'sw0']);
      sh('ip', ['-n', sw, 'link', 'set', 'sw0', 'up']);
      await api.listen({ nsPath: `/run/netns/${sw}` });
      const apiUrl = api.url(SW_V4);

      for (const i of [1, 2, 3]) {
        const ns = world.addNs(`n${i}`);
        const n: Node = {
          i,
          name: `node-${i}`,
          ns,
          dir: path.join(root, `node-${i}`),
          v4: `172.31.213.${i}`,
          v6: `fd00:213:ff::${i}`,
          podV4: `10.213.${i}.0/24`,
          podV6: `fd00:213:${i}::/64`,
          log: '',
        };
        nodes.push(n);
        sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        sh('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `port${i}`, 'netns', sw]);
        sh('ip', ['-n', sw, 'link', 'set', `port${i}`, 'master', 'sw0', 'up']);
        sh('ip', ['-n', ns, 'addr', 'add', `${n.v4}/24`, 'dev', 'eth0']);
        sh('ip', ['-n', ns, 'addr', 'add', `${n.v6}/64`, 'dev', 'eth0', 'nodad']);
        sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
        api.setNode(makeNode(n.name, [n.podV4, n.podV6], [n.v4, n.v6]));
      }

      // the DaemonSet's container, once per node
      for (const n of nodes) {
        const flags = ['--resync', '1', '--cluster-cidr', '10.213.0.0/16,fd00:213::/44', ...dirFlags(n.dir, 'tsbk0')];
        const env = { PATH: process.env.PATH ?? '', TSBRIDGE_NODE_NAME: n.name };
        n.agent = spawnInNs(
          n.ns,
          ['install', '--watch', '--routes', ...flags, ...apiFlags(api, apiUrl)],
          (s) => (n.log += s),
          env,
        );
      }
      const logs = (): string => nodes.map((n) => `--- ${n.name}\n${n.log}`).join('\n');
      const conflist = (n: Node): string => path.join(n.dir, 'net.d', '10-tsbridge.conflist');
      await until('every node installed', () => nodes.every((n) => fs.existsSync(conflist(n))), 30_000, logs);
      for (const n of nodes) {
        const p = pluginConf(conflist(n));
        assert.equal((p.ipam as { ranges: unknown }).ranges, [[{ subnet: n.podV4 }], [{ subnet: n.podV6 }]]);
      }
      for (const n of nodes) {
        await until(
          `routes on ${n.name}`,
          async () => JSON.stringify(await ourRoutes(n.ns)) === JSON.stringify(expectedRoutes(nodes, n)),
          20_000,
          logs,
        );
      }
      await until('every agent watches the nodes', () => api.watching >= 3, 10_000, logs);

      // a static route of someone else's, to show it is never touched
      sh('ip', ['-n', nodes[0].ns, 'route', 'add', '10.99.0.0/24', 'via', nodes[1].v4]);

      // one pod per node, ADDed by the installed binary with the installed conflist
      const pods: Pod[] = [];
      for (const n of nodes) {
        const pod = world.pod(`p${n.i}`);
        const r = cni(n.ns, {
          command: 'ADD',
          conf: pluginConf(conflist(n)),
          containerId: `k8s-${n.i}`,
          netns: pod.path,
          bin: path.join(n.dir, 'bin', 'tsbridge'),
        });
        assert.is(r.status, 0, r.stdout + r.stderr);
        const ips = (r.json.ips as { address: string }[]).map((x) => x.address.split('/')[0]);
        pods.push({ ns: pod.name, v4: ips.find((x) => !x.includes(':'))!, v6: ips.find((x) => x.includes(':'))! });
      }
      assert.match(pods[1].v4, /^10\.213\.2\./);

      // IPv6: a pod's link-local address is still in DAD right after ADD; allow a few seconds
      for (const [a, b] of [
        [0, 1],
        [1, 2],
        [2, 0],
      ]) {
        await until(`pod on node-${a + 1} -> pod on node-${b + 1} (IPv4)`, () => ping(pods[a].ns, pods[b].v4), 10_000);
        await until(`pod on node-${a + 1} -> pod on node-${b + 1} (IPv6)`, () => ping(pods[a].ns, pods[b].v6), 10_000);
      }

      // no NAT between pods: the pod on node-2 sees the real address of the pod on node-1
      const server = spawn(
        'ip',
        [
          'netns',
          'exec',
          pods[1].ns,
          process.execPath,
          '-e',
          `require('net').createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, ''))).listen(7777, '::', () ` +
            `=> ` +
            `console.log('up'))`,
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      try {
        await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
        const seen = await inNs(pods[0].ns, process.execPath, [
          '-e',
          `const s = require('net').connect(7777, '${pods[1].v4}'); let d = ''; s.on('data', (x) => d += x); ` +
            `s.on('end', () => console.log(d));`,
        ]);
        assert.is(seen.out.trim(), pods[0].v4);
      } finally {
        server.kill('SIGKILL');
      }

      // a route deleted by hand comes back at the next resync
      sh('ip', ['-n', nodes[0].ns, 'route', 'del', nodes[1].podV4]);
      await until(
        'deleted route restored',
        async () => (await ourRoutes(nodes[0].ns)).includes(`${nodes[1].podV4} via ${nodes[1].v4}`),
        10_000,
        logs,
      );

      // node-3 leaves the cluster: its routes go away on the others, pods there are unreachable
      api.deleteNode('node-3');
      for (const n of nodes.slice(0, 2)) {
        await until(
          `node-3 routes gone on ${n.name}`,
          async () => JSON.stringify(await ourRoutes(n.ns)) === JSON.stringify(expectedRoutes(nodes.slice(0, 2), n)),
          10_000,
          logs,
        );
      }
      assert.not.ok(await ping(pods[0].ns, pods[2].v4), 'node-3 pods unreachable without the route');
      assert.ok(await ping(pods[0].ns, pods[1].v4), 'node-2 still reachable');

      // it comes back with a new InternalIP, while the API restarts and forgets its history: the
      // agents' watches end, resuming them gets 410, and they list again
      const lists = api.lists;
      api.compact();
      nodes[2].v4 = '172.31.213.33';
      sh('ip', ['-n', nodes[2].ns, 'addr', 'add', `${nodes[2].v4}/24`, 'dev', 'eth0']);
      api.setNode(makeNode('node-3', [nodes[2].podV4, nodes[2].podV6], [nodes[2].v4, nodes[2].v6]));
      for (const n of nodes.slice(0, 2)) {
        await until(
          `node-3 routes back on ${n.name}`,
          async () => JSON.stringify(await ourRoutes(n.ns)) === JSON.stringify(expectedRoutes(nodes, n)),
          10_000,
          logs,
        );
      }
      assert.ok(api.lists >= lists + 3, `every agent listed again (${api.lists - lists})`);
      await until('node-3 pods reachable again via the new address', () => ping(pods[0].ns, pods[2].v4), 10_000);

      const foreign = (await run('ip', ['-j', '-n', nodes[0].ns, 'route', 'show', '10.99.0.0/24'])).stdout;
      assert.match(foreign, /10\.99\.0\.0\/24/, 'the foreign route is still there');

      // stop the agent of node-1 (SIGTERM: files and routes stay), then uninstall --routes there
      nodes[0].agent!.kill('SIGTERM');
      await new Promise((r) => (nodes[0].agent!.exitCode !== null ? r(null) : nodes[0].agent!.once('exit', r)));
      assert.is(nodes[0].agent!.exitCode, 0, nodes[0].log);
      assert.is((await ourRoutes(nodes[0].ns)).length, 4);
      const un = await inNs(nodes[0].ns, BIN, [
        'uninstall',
        '--routes',
        '--cni-bin-dir',
        path.join(nodes[0].dir, 'bin'),
        '--cni-conf-dir',
        path.join(nodes[0].dir, 'net.d'),
      ]);
      assert.ok(un.ok, un.out);
      assert.equal(await ourRoutes(nodes[0].ns), []);
      assert.match(
        (await run('ip', ['-j', '-n', nodes[0].ns, 'route', 'show', '10.99.0.0/24'])).stdout,
        /10\.99\.0\.0\/24/,
      );
      assert.not.ok(fs.existsSync(conflist(nodes[0])));
    } finally {
      for (const n of nodes) n.agent?.kill('SIGKILL');
      world.cleanup();
      fs.rmSync(root, { recursive: true, force: true });
      await api.close();
    }
  }),
);

test('an agent that cannot reach the API keeps the routes it has (no list, no deletions)', async () => {
  const world = new World('k8sdown');
  const api = new FakeApi(['127.0.0.1']); // only for its token and CA files: nothing listens in the node
  let agent: ChildProcess | undefined;
  try {
    const ns = world.node;
    sh('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    sh('ip', ['-n', ns, 'addr', 'add', '172.31.214.1/24', 'dev', 'eth0']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', ns, 'route', 'add', '10.214.2.0/24', 'via', '172.31.214.2', 'proto', PROTO]);
    const flags = ['--node-name', 'node-1', '--resync', '0.2', '--cluster-cidr', '10.214.0.0/16'];
    let err = '';
    agent = spawnInNs(ns, ['routes', ...flags, ...apiFlags(api, 'https://127.0.0.1:1')], (s) => (err += s));
    await until(
      'the agent failed to list',
      () => /node watch: .*ECONNREFUSED/.test(err),
      10_000,
      () => err,
    );
    await sleep(1500); // several resync periods
    assert.equal(await ourRoutes(ns), ['10.214.2.0/24 via 172.31.214.2']);
    await stopAgent(agent, err);
  } finally {
    await teardown(agent, world, api);
  }
});

test.run();
