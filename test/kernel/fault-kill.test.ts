// kill -9 in the middle of ADD (TSBRIDGE_FAULT=<point> makes the binary SIGKILL itself there, as
// an OOM kill or a node crash would), at each of the five points, with each firewall backend.
// Afterwards a DEL, or separately a GC with an empty cni.dev/valid-attachments, must leave no host
// veth, container interface, IPAM file, rule or chain; then the same ADD is retried and works
// (the container pings its gateway), and its DEL is clean too. A retry without DEL in between
// (what a runtime that lost track would do) fails with code 102 and changes nothing.
// Subnet 10.220.1.0/24, bridge tsbfk0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { hostVethName } from '../../src/attachment/names';
import { ipFilesOf, traces } from '../helpers/fuzz-state';
import { BIN, RUN_ID, World, bridgeConf, cni, inWorld } from '../helpers/netns';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const BRIDGE = 'tsbfk0';
const NET = 'tsbt-fk';
const GW = '10.220.1.1';
const POINTS = ['after-ipam', 'after-bridge', 'after-veth', 'after-container', 'after-rules'] as const;
type Point = (typeof POINTS)[number];

const conf = (world: World, backend: string) =>
  bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.220.1.0/24' }]] },
    { ipMasq: true, ipMasqBackend: backend },
  );

/** Where the state differs from "killed right at `point`" ([] when it matches exactly). */
function killedAtProblems(world: World, point: Point, cid: string, pod: { name: string }): string[] {
  const veth = hostVethName(cid, 'eth0');
  const links = world.links(world.node);
  const dump = world.natDump(world.node);
  const addrs = world.link(pod.name, 'eth0') ? world.addrs(pod.name, 'eth0') : [];
  const want: [string, boolean, boolean][] = [
    ['the IP reserved', world.reservations(NET).length === 1, true],
    ['bridge', links.includes(BRIDGE), point !== 'after-ipam'],
    ['host veth', links.includes(veth), ['after-veth', 'after-container', 'after-rules'].includes(point)],
    ['container address', addrs.length > 0, ['after-container', 'after-rules'].includes(point)],
    ['masquerade chain', dump.includes(masqChainName(NET, cid)), point === 'after-rules'],
  ];
  return want
    .filter(([, got, expected]) => got !== expected)
    .map(([what, got]) => `${point}: ${what} ${got ? 'present' : 'missing'}`);
}

/** What must exist right after the kill: proves the process died at that point and not before. */
function assertKilledAt(world: World, point: Point, cid: string, pod: { name: string }): void {
  assert.equal(killedAtProblems(world, point, cid, pod), []);
}

/**
 * Where a kill at an arbitrary moment landed: "before" (nothing made yet), the Point whose
 * state assertKilledAt would accept, "between" points (a step half done), or "finished".
 */
function landedAt(world: World, cid: string, pod: { name: string }, killed: boolean): string {
  if (!killed) return 'finished';
  if (world.reservations(NET).length === 0 && !world.links(world.node).includes(hostVethName(cid, 'eth0')))
    return 'before';
  return POINTS.find((p) => killedAtProblems(world, p, cid, pod).length === 0) ?? 'between';
}

function killedAdd(world: World, c: object, cid: string, pod: { path: string }, point: Point): void {
  const r = cni(world.node, {
    command: 'ADD',
    conf: c,
    containerId: cid,
    netns: pod.path,
    env: { TSBRIDGE_FAULT: point },
  });
  assert.is.not(r.status, 0, `ADD with TSBRIDGE_FAULT=${point} was not killed: ${r.stdout}`);
  assert.is(r.stdout, '', 'a killed ADD prints nothing');
}

function retryWorks(world: World, c: object, cid: string, pod: { name: string; path: string }): void {
  const r = cni(world.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path });
  assert.is(r.status, 0, `retried ADD failed: ${r.stdout} ${r.stderr}`);
  assert.ok(world.ping(pod.name, GW), 'the retried container cannot ping its gateway');
  const del = cni(world.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path });
  assert.is(del.status, 0, `DEL after the retry: ${del.stdout}`);
  assert.equal(traces(world, NET, cid, 'eth0', pod), [], 'DEL after the retry left traces');
}

for (const backend of ['iptables', 'nftables'] as const) {
  for (const point of POINTS) {
    for (const cleanup of ['DEL', 'GC'] as const) {
      test(`kill -9 ${point} (${backend}), then ${cleanup}: nothing left; the retried ADD works`, () => {
        inWorld(`fk${point.slice(6, 9)}${backend[0]}${cleanup[0]}`, (world) => {
          const pod = world.pod('pod');
          const cid = `fk-${point}-${backend}-${cleanup}-${RUN_ID}`;
          const c = conf(world, backend);
          killedAdd(world, c, cid, pod, point);
          assertKilledAt(world, point, cid, pod);

          const r =
            cleanup === 'DEL'
              ? cni(world.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path })
              : cni(world.node, { command: 'GC', conf: { ...c, 'cni.dev/valid-attachments': [] } });
          assert.is(r.status, 0, `${cleanup} after the kill failed: ${r.stdout} ${r.stderr}`);
          assert.equal(traces(world, NET, cid, 'eth0', pod), [], `${cleanup} left traces`);
          assert.equal(world.reservations(NET), [], 'IPAM files left');
          assert.equal(world.links(pod.name), ['lo'], 'container links');

          retryWorks(world, c, cid, pod);
        });
      });
    }
  }
}

// A runtime that retries ADD without a DEL in between: the retry fails with code 102 (the
// attachment already holds an address), and one DEL then removes everything.
for (const point of POINTS) {
  test(`kill -9 ${point}, ADD again without DEL: code 102, nothing new made; one DEL cleans all`, () => {
    inWorld(`fkr${point.slice(6, 9)}`, (world) => {
      const pod = world.pod('pod');
      const cid = `fkr-${point}-${RUN_ID}`;
      const c = conf(world, 'iptables');
      killedAdd(world, c, cid, pod, point);
      const r = cni(world.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path });
      // host-local refuses a second address for the same attachment (as the reference does), so
      // the retry fails up front with code 102 and leaves the killed ADD's state for DEL.
      assert.is.not(r.status, 0, 'ADD again without DEL succeeded');
      assert.ok(r.json, `no CNI error JSON: ${r.stdout} ${r.stderr}`);
      assert.is(r.json.code, 102, r.stdout);
      assert.match(r.json.msg, 'duplicate allocation is not allowed');
      assert.is(world.reservations(NET).length, 1, 'the failed retry changed the reservations');
      const del = cni(world.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path });
      assert.is(del.status, 0, `DEL: ${del.stdout}`);
      assert.equal(traces(world, NET, cid, 'eth0', pod), [], 'DEL left traces');
      assert.equal(world.reservations(NET), [], 'IPAM files left');
      retryWorks(world, c, cid, pod);
    });
  });
}

/**
 * Runs the binary and SIGKILLs it `when` ms after the start, or as soon as its IP record is written
 * ("reserved": mid-operation by construction); it may finish first. Resolves, once it is gone,
 * with whether the kill got it.
 */
function killedAfter(
  world: World,
  command: 'ADD' | 'DEL',
  c: object,
  cid: string,
  netns: string,
  when: number | 'reserved',
): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', world.node, BIN], {
      env: {
        PATH: process.env.PATH ?? '',
        CNI_COMMAND: command,
        CNI_CONTAINERID: cid,
        CNI_NETNS: netns,
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/usr/lib/cni',
      },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    const timer =
      when === 'reserved'
        ? // (the record written, not merely created: a kill between create and write leaves an empty,
          // ownerless file, a window host-local's store has, as the reference's does)
          setInterval(() => ipFilesOf(path.join(world.dataDir, NET), cid).length > 0 && kill(), 1)
        : setTimeout(kill, when);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      clearInterval(timer);
      resolve(signal === 'SIGKILL');
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(JSON.stringify(c));
  });
}

// No fault point needed: ADD or DEL SIGKILLed at a spread of moments (some before it starts its
// work, some in the middle, some after it finished). Whatever state that leaves, one DEL must
// remove it all, and the next ADD must work.
for (const backend of ['iptables', 'nftables'] as const) {
  test(
    `kill -9 at 0..140 ms (and on the IP record) into ADD and into DEL (${backend}): one DEL afterwards leaves ` +
      `nothing; ADD works again`,
    async () => {
      await inWorld(`fkt${backend[0]}`, async (world) => {
        const pod = world.pod('pod');
        const c = conf(world, backend);
        // where each ADD kill landed (assertKilledAt's observations); the last one is triggered by
        // the IP record appearing, so at least that one is mid-operation whatever the machine's speed
        const landed: string[] = [];
        for (let k = 0; k < 9; k++) {
          const cid = `fkt-${backend}-${k}-${RUN_ID}`;
          const when = k < 8 ? k * 20 : 'reserved';
          const killed = await killedAfter(world, 'ADD', c, cid, pod.path, when);
          landed.push(`${when}: ${landedAt(world, cid, pod, killed)}`);
          if (when === 'reserved')
            assert.ok(
              killed && world.reservations(NET).length === 1,
              `the kill on the IP record did not land mid-ADD: ${landed.join(', ')}`,
            );
          await killedAfter(world, 'DEL', c, cid, pod.path, (7 - (k % 8)) * 20);
          const del = cni(world.node, { command: 'DEL', conf: c, containerId: cid, netns: pod.path });
          assert.is(del.status, 0, `DEL after the kills (ADD +${k * 20} ms): ${del.stdout}`);
          assert.equal(
            traces(world, NET, cid, 'eth0', pod),
            [],
            `traces after ADD killed at +${k * 20} ms and DEL at +${(7 - k) * 20} ms`,
          );
          assert.equal(world.reservations(NET), []);
        }
        const mid = landed.filter((l) => !/: (before|finished)$/.test(l));
        assert.ok(mid.length > 0, `no kill landed mid-ADD: ${landed.join(', ')}`);
        retryWorks(world, c, `fkt-${backend}-last-${RUN_ID}`, pod);
      });
    },
  );
}

test.run();
