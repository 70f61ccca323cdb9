// The route agent (`tsbridge routes`) against Node objects written by an attacker: in a node
// namespace on the LAN 10.216.0.0/24 (inside the cluster CIDR 10.216.0.0/16, as in clusters whose
// pod network also covers the nodes), with the fake API server in the same namespace. Hostile
// Nodes claim the metadata address, the Service range, half the Internet, a /25 of the node LAN,
// another node's CIDR, two CIDRs of one family, an off-link or local gateway: none gets a route,
// the good nodes do, each refusal is logged once however often the table is re-checked. A watch
// line longer than the cap ends the watch and the agent lists again. Without --cluster-cidr the
// agent does not start.
import { ChildProcess, execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeApi, makeNode, NodeObject } from '../helpers/k8s-fake-api';
import { apiFlags, serveInNode, spawnInNs, stopAgent, teardown } from '../helpers/k8s-agent';
import { BIN, until, World } from '../helpers/netns';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function ourRoutes(ns: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of ['-4', '-6']) {
    const r = await run('ip', ['-j', f, '-n', ns, 'route', 'show', 'proto', '116']);
    for (const x of JSON.parse(r.stdout || '[]') as { dst: string; gateway: string }[])
      out.push(`${x.dst} via ${x.gateway}`);
  }
  return out.sort();
}

/** A Node created at `minute` past the epoch of this test: the age decides who keeps a contested CIDR. */
function node(name: string, podCidrs: string[], ips: string[], minute: number): NodeObject {
  const n = makeNode(name, podCidrs, ips);
  n.metadata.creationTimestamp = new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
  return n;
}

test(
  'hostile Node objects get no route, good ones do; refusals logged once; an oversized watch line means a new ' +
    'list',
  async () => {
    const world = new World('k8strust');
    const api = new FakeApi(['127.0.0.1']);
    let agent: ChildProcess | undefined;
    let log = '';
    try {
      const ns = await serveInNode(world, api, '10.216.0.1/24', 'fd00:216::1/64');

      api.setNode(node('node-1', ['10.216.1.0/24', 'fd00:216:0:1::/64'], ['10.216.0.1', 'fd00:216::1'], 0));
      api.setNode(node('node-2', ['10.216.2.0/24', 'fd00:216:0:2::/64'], ['10.216.0.2', 'fd00:216::2'], 1));
      api.setNode(node('node-3', ['10.216.3.0/24'], ['10.216.0.3'], 2));
      const evil: [string, string[], string[], RegExp][] = [
        ['evil-metadata', ['169.254.169.254/32'], ['10.216.0.10'], /is outside the cluster CIDR 10\.216\.0\.0\/16/],
        ['evil-service', ['10.96.0.0/12'], ['10.216.0.11'], /is outside the cluster CIDR/],
        ['evil-half', ['128.0.0.0/1'], ['10.216.0.12'], /is outside the cluster CIDR/],
        ['evil-v6', ['::/1'], ['fd00:216::12'], /is outside the cluster CIDR fd00:216::\/48/],
        [
          'evil-lan',
          ['10.216.0.128/25'],
          ['10.216.0.13'],
          /overlaps 10\.216\.0\.0\/24, a connected subnet of this node \(eth0\)/,
        ],
        ['evil-dup', ['10.216.2.0/25'], ['10.216.0.14'], /overlaps 10\.216\.2\.0\/24 of node node-2 \(older\)/],
        ['evil-two', ['10.216.7.0/24', '10.216.8.0/24'], ['10.216.0.15'], /more than one IPv4 pod CIDR/],
        ['evil-offlink', ['10.216.9.0/24'], ['198.51.100.9'], /gateway 198\.51\.100\.9 is not on a connected subnet/],
        ['evil-local', ['10.216.10.0/24'], ['10.216.0.1'], /gateway 10\.216\.0\.1 is an address of this node/],
        ['evil-api', ['127.0.0.0/8'], ['10.216.0.16'], /is outside the cluster CIDR/],
      ];
      for (const [name, cidrs, ips] of evil) api.setNode(node(name, cidrs, ips, 10));

      const cidrs = ['--cluster-cidr', '10.216.0.0/16', '--cluster-cidr', 'fd00:216::/48'];
      const flags = ['--node-name', 'node-1', '--resync', '0.3', ...cidrs, ...apiFlags(api)];
      agent = spawnInNs(ns, ['routes', ...flags], (s) => (log += s));

      const good = [
        '10.216.2.0/24 via 10.216.0.2',
        '10.216.3.0/24 via 10.216.0.3',
        'fd00:216:0:2::/64 via fd00:216::2',
      ];
      await until(
        'the good nodes routed',
        async () => JSON.stringify(await ourRoutes(ns)) === JSON.stringify(good),
        20_000,
        () => log,
      );
      await until(
        'every hostile node refused',
        () => evil.every(([name]) => log.includes(`node ${name}: `)),
        10_000,
        () => log,
      );
      await sleep(1500); // five resyncs
      assert.equal(await ourRoutes(ns), good, 'no route of a hostile node');
      for (const [name, cidrs, , why] of evil) {
        const lines = log.split('\n').filter((l) => l.includes(`node ${name}: `));
        assert.is(lines.length, cidrs.length, `${name} logged once per CIDR:\n${lines.join('\n')}`);
        assert.match(lines[0], why, name);
      }

      // a watch line longer than 1 MiB: the agent drops the stream and lists again; the routes stay
      await until(
        'the agent watches',
        () => api.watching === 1,
        10_000,
        () => log,
      );
      const lists = api.lists;
      api.writeWatchers(Buffer.alloc((1 << 20) + 4096, 0x61));
      await until(
        'a new list after the oversized line',
        () => api.lists > lists,
        10_000,
        () => log,
      );
      assert.match(log, /watch event longer than 1048576 bytes/);
      assert.equal(await ourRoutes(ns), good);

      await stopAgent(agent, log);
    } finally {
      await teardown(agent, world, api);
    }
  },
);

test('the route agent does not start without --cluster-cidr, and names the flag', () => {
  const r = spawnSync(BIN, ['routes', '--node-name', 'node-1', '--api-server', 'https://127.0.0.1:1'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /--cluster-cidr \(or TSBRIDGE_CLUSTER_CIDR\) is needed/);
  const bad = spawnSync(
    BIN,
    ['install', '--routes', '--node-name', 'n', '--cluster-cidr', '10.0.0.0/8,10.1.0.0/16', '--binary', BIN],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
  );
  assert.is(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--cluster-cidr: more than one IPv4 cluster CIDR/);
});

test.run();
