// The route agent's memory hygiene and its debug report (`make soak-agent` measures the effect):
// after each resync the agent runs a full collection (the garbage of the events since the last
// one does not pile up in the heap and the allocator until the engine gets round to it) and, after
// a resync period without Node events, a footprint shrink (compiled code dropped, free pages returned
// to the OS; the agent must keep working on recompiled code: a node added after the shrinks still
// gets its route), and on
// SIGUSR2 it logs its RSS, the JS heap after a full collection and the most numerous object
// types, with the count of those collections; the signal neither stops nor disturbs it, SIGTERM
// still does.
import { ChildProcess } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeApi, makeNode } from '../helpers/k8s-fake-api';
import { apiFlags, serveInNode, spawnInNs, stopAgent, teardown } from '../helpers/k8s-agent';
import { ourRoutes } from '../helpers/agent-soak';
import { until, World } from '../helpers/netns';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const MEMORY = new RegExp(
  String.raw`memory: rss [\d.]+ MiB \(after a full GC [\d.]+ MiB\); (\d+) collections after resyncs ` +
    String.raw`\((\d+) with a footprint shrink\), \d+ ms in all; ` +
    String.raw`heap [\d.]+ MiB of [\d.]+ MiB, extra [\d.]+ MiB, (\d+) objects; most: \w+ \d+`,
  'g',
);

test(
  'the route agent collects after each resync and shrinks when idle, and still works; SIGUSR2 ' +
    'logs its memory and the count, and stops nothing',
  async () => {
    const world = new World('k8smem');
    const api = new FakeApi(['127.0.0.1']);
    let agent: ChildProcess | undefined;
    let log = '';
    try {
      const ns = await serveInNode(world, api, '10.217.0.1/24');
      api.setNode(makeNode('node-1', ['10.217.1.0/24'], ['10.217.0.1']));
      api.setNode(makeNode('node-2', ['10.217.2.0/24'], ['10.217.0.2']));

      const flags = ['--node-name', 'node-1', '--resync', '0.2', '--cluster-cidr', '10.217.0.0/16', ...apiFlags(api)];
      agent = spawnInNs(ns, ['routes', ...flags], (s) => (log += s));
      await until(
        'the route to node-2',
        async () => (await ourRoutes(ns)).includes('10.217.2.0/24 via 10.217.0.2'),
        20_000,
        () => log,
      );
      await until(
        'the agent watches',
        () => api.watching === 1,
        10_000,
        () => log,
      );

      const report = async (n: number): Promise<RegExpExecArray> => {
        agent!.kill('SIGUSR2');
        await until(
          `memory report ${n}`,
          () => [...log.matchAll(MEMORY)].length >= n,
          10_000,
          () => log,
        );
        return [...log.matchAll(MEMORY)][n - 1];
      };
      const first = await report(1);
      // resyncs run every 0.2 s: wait until the next report counts more collections (the count only grows)
      let second = await report(2);
      for (let n = 3; (Number(second[1]) <= Number(first[1]) || Number(second[2]) <= Number(first[2])) && n < 20; n++) {
        await sleep(300);
        second = await report(n);
      }
      assert.ok(
        Number(second[1]) > Number(first[1]) && Number(second[1]) >= 2,
        `no collections after resyncs counted: ${first[0]} / ${second[0]}`,
      );
      assert.ok(
        Number(second[2]) > Number(first[2]) && Number(second[2]) >= 2,
        `no footprint shrinks after idle resyncs: ${first[0]} / ${second[0]}`,
      );
      assert.ok(Number(second[3]) > 1000, `no heap statistics: ${second[0]}`);
      // the code the shrinks dropped compiles again: a node that appears now still gets its route
      api.setNode(makeNode('node-3', ['10.217.3.0/24'], ['10.217.0.3']));
      await until(
        'the route to node-3 after the shrinks',
        async () => (await ourRoutes(ns)).includes('10.217.3.0/24 via 10.217.0.3'),
        20_000,
        () => log,
      );
      // the signal disturbed nothing: still the same watch, the route still there, the agent still running
      assert.is(agent.exitCode, null, log);
      assert.is(api.watching, 1, log);
      assert.ok((await ourRoutes(ns)).includes('10.217.2.0/24 via 10.217.0.2'));

      await stopAgent(agent, log);
    } finally {
      await teardown(agent, world, api);
    }
  },
);

test.run();
