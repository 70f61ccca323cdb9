// Churn soak: many ADD/DEL pairs over time, as a busy node sees in a week, with random kill -9 of
// plugin processes and random GCs carrying the runtime's list of valid attachments. Shared by the
// short kernel test (test/kernel/soak-churn.test.ts) and `make soak` (bench/soak.ts): the engine
// counts what went wrong and measures latency; callers decide what to assert or print.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, CniCall, CniReply, RUN_ID, World, bridgeConf, cniEnv } from './netns';

export interface ChurnOptions {
  /** ADD/DEL pairs in all */
  cycles: number;
  /** pods cycling at the same time (each has its own namespace) */
  parallel: number;
  /** share of plugin calls killed with SIGKILL part-way (0.01 = 1 %) */
  killRate: number;
  /** chance, after each cycle, that a GC with the valid attachments runs */
  gcRate: number;
  backend: 'iptables' | 'nftables';
  /** 24-bit subnet base, e.g. "10.231.0.0/16" */
  subnet: string;
  seed: number;
  /** positive control: the first `keep` attachments are never deleted and stay valid in the final GC */
  keep?: number;
  /** stops the churn early (workers finish their cycle; final GC, checks and clean-up still run) */
  signal?: AbortSignal;
  /** called every 1,000 cycles with progress (for long soaks) */
  progress?: (done: number) => void;
}

export interface Latency {
  p50: number;
  p99: number;
  n: number;
}

export interface ChurnReport {
  cycles: number;
  calls: number;
  killed: number;
  gcs: number;
  seconds: number;
  /** an address handed to a container while another live container held it */
  duplicates: string[];
  /** calls that were not killed and did not succeed */
  failures: string[];
  /** what the node holds at the end and did not before: veths, IPAM files, netfilter lines, pod links */
  leaks: string[];
  /** files in the network's store directory at the end */
  storeFiles: string[];
  addFirst: Latency;
  addLast: Latency;
  delFirst: Latency;
  delLast: Latency;
}

/** A small seeded PRNG (mulberry32), so a failing soak can be replayed with the same seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Call extends CniReply {
  ms: number;
  killed: boolean;
}

/** Exec the plugin in the node namespace; with `killAfterMs` it is SIGKILLed that long after start. */
function run(node: string, call: CniCall, killAfterMs?: number): Promise<Call> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('ip', ['netns', 'exec', node, BIN], { env: cniEnv(call), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killed = false;
    const killer =
      killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = child.exitCode === null;
            child.kill('SIGKILL');
          }, killAfterMs);
    const bound = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(bound);
      if (killer) clearTimeout(killer);
      let json: any;
      try {
        json = out.trim() ? JSON.parse(out) : undefined;
      } catch {
        json = undefined;
      }
      resolve({
        status: code ?? -1,
        stdout: out,
        stderr: err,
        json,
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
        killed: killed && signal === 'SIGKILL',
      });
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(JSON.stringify(call.conf));
  });
}

function latency(xs: number[]): Latency {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN);
  return { p50: at(0.5), p99: at(0.99), n: s.length };
}

/** Netfilter state of `ns` with counters, handles and generated-by comments taken out. */
function netfilter(world: World, ns: string): string[] {
  const out: string[] = [];
  for (const [cmd, args] of [
    ['iptables-save', ['-t', 'nat']],
    ['ip6tables-save', ['-t', 'nat']],
    ['iptables-save', ['-t', 'raw']],
    ['nft', ['list', 'ruleset']],
  ] as const) {
    const r = world.tryExec(ns, cmd, [...args]);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed in ${ns}: ${r.stderr}`);
    for (const l of r.stdout.split('\n')) {
      const t = l
        .trim()
        .replace(/\[\d+:\d+\]/g, '')
        .replace(/ # handle \d+/g, '');
      if (t && !t.startsWith('#')) out.push(`${cmd}: ${t}`);
    }
  }
  return out;
}

/** Multiset difference: lines of `after` that `before` does not account for. */
function extra(before: string[], after: string[]): string[] {
  const count = new Map<string, number>();
  for (const l of before) count.set(l, (count.get(l) ?? 0) + 1);
  const out: string[] = [];
  for (const l of after) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else out.push(l);
  }
  return out;
}

/** Runs the churn soak in a fresh World (removed at the end, also on failure). */
export async function churn(tag: string, o: ChurnOptions): Promise<ChurnReport> {
  const world = new World(tag);
  const rand = prng(o.seed);
  try {
    const net = `tsbt-soak-${tag}`;
    const conf = bridgeConf(
      world,
      { name: net, bridge: `tsb${tag}0`.slice(0, 15), ranges: [[{ subnet: o.subnet }]], cniVersion: '1.1.0' },
      { ipMasq: true, ipMasqBackend: o.backend },
    );
    const pods = Array.from({ length: o.parallel }, (_, i) => world.pod(`s${i}`));
    // warm-up pair: the bridge and shared chains/tables it leaves belong to the "before" picture
    const warm = await run(world.node, {
      command: 'ADD',
      conf,
      containerId: `${tag}-warm-${RUN_ID}`,
      netns: pods[0].path,
    });
    if (warm.status !== 0) throw new Error(`warm-up ADD failed: ${warm.stdout} ${warm.stderr}`);
    const wdel = await run(world.node, {
      command: 'DEL',
      conf,
      containerId: `${tag}-warm-${RUN_ID}`,
      netns: pods[0].path,
    });
    if (wdel.status !== 0) throw new Error(`warm-up DEL failed: ${wdel.stdout}`);
    const linksBefore = world.links(world.node).filter((l) => l.startsWith('veth'));
    const nfBefore = netfilter(world, world.node);

    const live = new Map<string, string>(); // address -> container holding it
    const attached = new Map<string, string>(); // container ID -> ifname, from ADD start to DEL end
    const duplicates: string[] = [];
    const failures: string[] = [];
    const adds: { cycle: number; ms: number }[] = [];
    const dels: { cycle: number; ms: number }[] = [];
    let calls = 0;
    let killed = 0;
    let gcs = 0;
    let next = 0;
    let gcGate: Promise<void> | undefined;
    const maybeKill = (): number | undefined => (rand() < o.killRate ? 1 + Math.floor(rand() * 40) : undefined);
    const note = (what: string, r: Call): void => {
      calls++;
      if (r.killed) killed++;
      else if (r.status !== 0) failures.push(`${what}: ${r.stdout.trim()} ${r.stderr.trim().split('\n').pop() ?? ''}`);
    };

    const gc = async (): Promise<void> => {
      // the runtime's list: every attachment whose ADD has started and whose DEL has not finished;
      // ADDs wait while GC runs, as a runtime serialises GC with its sandbox bookkeeping
      let open!: () => void;
      gcGate = new Promise((r) => (open = r));
      try {
        const valid = [...attached].map(([containerID, ifname]) => ({ containerID, ifname }));
        const r = await run(
          world.node,
          { command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': valid } },
          maybeKill(),
        );
        note('GC', r);
        gcs++;
      } finally {
        gcGate = undefined;
        open();
      }
    };

    const t0 = process.hrtime.bigint();
    await Promise.all(
      pods.map(async (pod, w) => {
        for (;;) {
          const cycle = next++;
          if (cycle >= o.cycles || o.signal?.aborted) return;
          while (gcGate) await gcGate;
          const cid = `${tag}-${RUN_ID}-${w}-${cycle}`;
          attached.set(cid, 'eth0');
          const add = await run(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path }, maybeKill());
          note(`ADD ${cid}`, add);
          if (cycle < (o.keep ?? 0) && !add.killed && add.status === 0) return; // stays attached; this pod is done
          if (!add.killed && add.status === 0) {
            adds.push({ cycle, ms: add.ms });
            const ip = String(add.json.ips[0].address).split('/')[0];
            const holder = live.get(ip);
            if (holder) duplicates.push(`${ip} given to ${cid} while ${holder} holds it`);
            live.set(ip, cid);
            await new Promise((r) => setTimeout(r, Math.floor(rand() * 20)));
            live.delete(ip);
          }
          // DEL until one completes: a killed DEL is retried, as runtimes do
          for (let tries = 0; ; tries++) {
            const del = await run(
              world.node,
              { command: 'DEL', conf, containerId: cid, netns: pod.path },
              tries === 0 ? maybeKill() : undefined,
            );
            note(`DEL ${cid}`, del);
            if (!del.killed) {
              if (del.status === 0) dels.push({ cycle, ms: del.ms });
              break;
            }
          }
          attached.delete(cid);
          if (rand() < o.gcRate) await gc();
          if (o.progress && (cycle + 1) % 1000 === 0) o.progress(cycle + 1);
        }
      }),
    );
    // the runtime's final GC: nothing is valid any more
    const kept = [...attached].map(([containerID, ifname]) => ({ containerID, ifname }));
    const last = await run(world.node, { command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': kept } });
    note('final GC', last);
    gcs++;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

    const leaks: string[] = [];
    leaks.push(
      ...extra(
        linksBefore,
        world.links(world.node).filter((l) => l.startsWith('veth')),
      ).map((l) => `host veth ${l}`),
    );
    leaks.push(...world.reservations(net).map((f) => `IPAM reservation ${f}`));
    leaks.push(...extra(nfBefore, netfilter(world, world.node)).map((l) => `netfilter ${l}`));
    for (const pod of pods) {
      const l = world.links(pod.name).filter((n) => n !== 'lo');
      if (l.length) leaks.push(`${pod.name} keeps ${l.join(', ')}`);
    }
    const storeFiles = fs.readdirSync(path.join(world.dataDir, net)).sort();
    const window = Math.min(1000, Math.floor(o.cycles / 2));
    const first = (xs: { cycle: number; ms: number }[]): number[] =>
      xs.filter((x) => x.cycle < window).map((x) => x.ms);
    const lastOf = (xs: { cycle: number; ms: number }[]): number[] =>
      xs.filter((x) => x.cycle >= o.cycles - window).map((x) => x.ms);
    return {
      cycles: o.cycles,
      calls,
      killed,
      gcs,
      seconds,
      duplicates,
      failures,
      leaks,
      storeFiles,
      addFirst: latency(first(adds)),
      addLast: latency(lastOf(adds)),
      delFirst: latency(first(dels)),
      delLast: latency(lastOf(dels)),
    };
  } finally {
    world.cleanup();
  }
}

/** The store directory holds the lock, the round-robin cursors and (optionally) a boot mark: nothing else. */
export function strayStoreFiles(files: string[]): string[] {
  return files.filter((f) => f !== 'lock' && !/^last_reserved_ip\.\d+$/.test(f) && !/boot/.test(f));
}
