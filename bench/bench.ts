// tsbridge vs the reference Go plugins, same machine, same run. Not a test: it asserts nothing and
// prints a table of absolute numbers and ratios (tsbridge / reference). Run as root: `make bench`.
// Plugins are exec'd with nsenter into a throwaway "node" namespace (cheaper and fairer than
// `ip netns exec`), with NODE_EXTRA_CA_CERTS removed as runtimes do not set it.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BIN as TS, ROOT } from '../test/helpers/paths';

const REF = '/usr/lib/cni';
const CNITOOL = path.join(ROOT, 'build/cnitool');
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const CONC = (process.env.BENCH_CONCURRENCY ?? '100,200').split(',').map(Number);
const EXISTING = Number(process.env.BENCH_EXISTING ?? 500);
const RSS_RUNS = Number(process.env.BENCH_RSS_RUNS ?? 5);
const id = process.pid.toString(36);
const made: string[] = [];
const dirs: string[] = [];
const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('NODE_')),
);

const sh = (cmd: string, args: string[]): string => spawnSync(cmd, args, { encoding: 'utf8' }).stdout;
function netns(tag: string): string {
  const name = `tsbb-${id}-${tag}`;
  spawnSync('ip', ['netns', 'add', name]);
  made.push(name);
  return name;
}
function tmpdir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `tsbb-${tag}-`));
  dirs.push(d);
  return d;
}
function cleanup(): void {
  for (const n of made.splice(0).reverse()) spawnSync('ip', ['netns', 'del', n]);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

/** `spawnedAt` / `endedAt`: epoch ms (sub-ms), to place the plugin's own clock origin between them. */
interface Run {
  ms: number;
  status: number;
  stdout: string;
  stderr: string;
  rssKb?: number;
  cpuMs?: number;
  spawnedAt: number;
  endedAt: number;
}

const epochMs = (): number => performance.timeOrigin + performance.now();

/**
 * One plugin invocation inside the node namespace; wall time measured around the exec. `measure`:
 * 'rss' wraps it in /usr/bin/time (peak RSS), 'cpu' in perf stat (task-clock: user + sys of the
 * plugin and everything it runs, such as host-local and iptables; nsenter's share is the same for both).
 */
function invoke(
  node: string,
  bin: string,
  env: Record<string, string>,
  stdin: string,
  measure: '' | 'rss' | 'cpu' = '',
): Promise<Run> {
  const wrap = measure === 'rss' ? ['/usr/bin/time', '-f', 'RSSKB=%M'] : [];
  const argv = ['--net=/run/netns/' + node, ...wrap, bin];
  const [cmd, args] =
    measure === 'cpu' ? ['perf', ['stat', '-x,', '-e', 'task-clock', 'nsenter', ...argv]] : ['nsenter', argv];
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const spawnedAt = epochMs();
    const p = spawn(cmd, args, { env: { ...baseEnv, CNI_PATH: REF, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const m = /RSSKB=(\d+)/.exec(err);
      const c = /^([\d.]+),msec,task-clock/m.exec(err);
      resolve({
        ms,
        status: code ?? -1,
        stdout: out,
        stderr: err,
        rssKb: m ? Number(m[1]) : undefined,
        cpuMs: c ? Number(c[1]) : undefined,
        spawnedAt,
        endedAt: epochMs(),
      });
    });
    p.stdin.end(stdin);
  });
}

/**
 * Drop `files` from the page cache (written back first, `sync -d`; then posix_fadvise DONTNEED on
 * the whole file, `dd iflag=nocache count=0`), nothing else of the machine's cache. A binary just
 * written (`make build`, a copy) sits in the cache in large folios, and a call that touches a few
 * bytes of one maps all of it: ~31-32 MB peak RSS for the same tsbridge that shows ~26-27 MB once
 * its pages were read back from disk, as on a node that did not just write it (docs/performance.md).
 */
function evictPageCache(files: string[]): void {
  for (const f of files) {
    const s = spawnSync('sync', ['-d', f], { encoding: 'utf8' });
    const d = spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none'], { encoding: 'utf8' });
    if (s.status || d.status) throw new Error(`evicting ${f} from the page cache failed: ${s.stderr}${d.stderr}`);
  }
}

function conf(type: 'bridge' | 'tsbridge', net: string, bridge: string, subnet: string, dataDir: string): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: net,
    type,
    bridge,
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet }]] },
  });
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const rows: string[][] = [];
function row(what: string, ref: number, ts: number, unit = 'ms'): void {
  rows.push([what, `${ref.toFixed(1)} ${unit}`, `${ts.toFixed(1)} ${unit}`, `${(ts / ref).toFixed(2)}x`]);
  console.error(
    `  ${what}: reference ${ref.toFixed(1)} ${unit}, tsbridge ${ts.toFixed(1)} ${unit}, ratio ` +
      `${(ts / ref).toFixed(2)}`,
  );
}

interface Side {
  type: 'bridge' | 'tsbridge';
  bin: string;
  conf: string;
  node: string;
  tag: string;
}

function sides(node: string, tag: string, subnetByte: number): Side[] {
  const ref = tmpdir(`ref-${tag}`);
  const ts = tmpdir(`ts-${tag}`);
  return [
    {
      type: 'bridge',
      bin: path.join(REF, 'bridge'),
      node,
      tag: `r${tag}`,
      conf: conf('bridge', `bref${tag}`, `bbr${tag}`, `10.${subnetByte}.0.0/16`, ref),
    },
    {
      type: 'tsbridge',
      bin: TS,
      node,
      tag: `t${tag}`,
      conf: conf('tsbridge', `bts${tag}`, `bts${tag}`, `10.${subnetByte + 1}.0.0/16`, ts),
    },
  ];
}

const cniEnv = (cmd: string, cid: string, ns: string): Record<string, string> => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: cid,
  CNI_NETNS: ns ? `/run/netns/${ns}` : '',
  CNI_IFNAME: 'eth0',
});

/** `runs` rounds of ADD then DEL on each side under `measure`: kB of peak RSS or ms of CPU, by command and side. */
async function perCall(
  node: string,
  pods: string[],
  s: Side[],
  runs: number,
  measure: 'rss' | 'cpu',
): Promise<Record<string, Record<string, number[]>>> {
  const out: Record<string, Record<string, number[]>> = {
    ADD: { bridge: [], tsbridge: [] },
    DEL: { bridge: [], tsbridge: [] },
  };
  for (let i = 0; i < runs; i++) {
    for (const [k, side] of s.entries()) {
      for (const cmd of ['ADD', 'DEL']) {
        const r = await invoke(node, side.bin, cniEnv(cmd, `${side.tag}-${measure}${i}`, pods[k]), side.conf, measure);
        const v = measure === 'rss' ? r.rssKb : r.cpuMs;
        if (r.status || v === undefined) throw new Error(`${side.type} ${cmd} failed: ${r.stdout} ${r.stderr}`);
        out[cmd][side.type].push(v);
      }
    }
  }
  return out;
}

async function single(): Promise<void> {
  console.error(`single ADD/DEL, ${RUNS} runs each, alternating`);
  const node = netns('single');
  const pods = [netns('sp0'), netns('sp1')];
  const s = sides(node, 's', 140);
  const add: Record<string, number[]> = { bridge: [], tsbridge: [] };
  const del: Record<string, number[]> = { bridge: [], tsbridge: [] };
  for (let i = 0; i < RUNS + 2; i++) {
    for (const [k, side] of s.entries()) {
      const a = await invoke(node, side.bin, cniEnv('ADD', `${side.tag}-${i}`, pods[k]), side.conf);
      const d = await invoke(node, side.bin, cniEnv('DEL', `${side.tag}-${i}`, pods[k]), side.conf);
      if (a.status || d.status) throw new Error(`${side.type} failed: ${a.stdout} ${d.stdout}`);
      if (i < 2) continue; // warm-up (first bridge creation, page cache)
      add[side.type].push(a.ms);
      del[side.type].push(d.ms);
    }
  }
  row('ADD p50 (bridge+host-local+ipMasq)', pct(add.bridge, 50), pct(add.tsbridge, 50));
  row('ADD p95', pct(add.bridge, 95), pct(add.tsbridge, 95));
  row('DEL p50', pct(del.bridge, 50), pct(del.tsbridge, 50));
  row('DEL p95', pct(del.bridge, 95), pct(del.tsbridge, 95));
  // Peak RSS is mostly file-backed pages of the executable: measured with each side's executables
  // out of the page cache first (see evictPageCache), median of RSS_RUNS for ADD and DEL apiece.
  evictPageCache([TS, path.join(REF, 'bridge'), path.join(REF, 'host-local')]);
  const rss = await perCall(node, pods, s, RSS_RUNS, 'rss');
  const med = (cmd: string, type: string): number => pct(rss[cmd][type], 50) / 1024;
  row(`peak RSS per ADD (median of ${RSS_RUNS})`, med('ADD', 'bridge'), med('ADD', 'tsbridge'), 'MB');
  row(`peak RSS per DEL (median of ${RSS_RUNS})`, med('DEL', 'bridge'), med('DEL', 'tsbridge'), 'MB');
  row(
    'peak RSS per invocation (larger median)',
    Math.max(med('ADD', 'bridge'), med('DEL', 'bridge')),
    Math.max(med('ADD', 'tsbridge'), med('DEL', 'tsbridge')),
    'MB',
  );
  // CPU does not depend on how busy the machine is: the fairest per-call comparison on a shared box
  const cpu = await perCall(node, pods, s, RUNS, 'cpu');
  row('ADD CPU per call p50 (user+sys, children included)', pct(cpu.ADD.bridge, 50), pct(cpu.ADD.tsbridge, 50));
  row('DEL CPU per call p50', pct(cpu.DEL.bridge, 50), pct(cpu.DEL.tsbridge, 50));
}

/** The chain a user deploys, through libcni (our cnitool): tsbridge+portMappings vs bridge+portmap. */
async function chain(): Promise<void> {
  if (!fs.existsSync(CNITOOL)) {
    console.error('chain: build/cnitool missing (make cnitool); skipped');
    return;
  }
  console.error(`chain ADD/DEL through libcni with one port mapping, ${RUNS} runs`);
  const node = netns('chain');
  const pod = netns('cp0');
  const bin = tmpdir('chainbin');
  for (const p of ['bridge', 'host-local', 'portmap']) fs.symlinkSync(path.join(REF, p), path.join(bin, p));
  fs.symlinkSync(TS, path.join(bin, 'tsbridge'));
  const confDir = tmpdir('chainconf');
  const cache = tmpdir('chaincache');
  const refData = tmpdir('chainref');
  const tsData = tmpdir('chaints');
  const write = (name: string, plugins: object[]): void =>
    fs.writeFileSync(path.join(confDir, `${name}.conflist`), JSON.stringify({ cniVersion: '1.0.0', name, plugins }));
  const ipam = (dataDir: string, subnet: string) => ({ type: 'host-local', dataDir, ranges: [[{ subnet }]] });
  write('chainref', [
    {
      type: 'bridge',
      bridge: 'cbref',
      isGateway: true,
      isDefaultGateway: true,
      ipMasq: true,
      ipam: ipam(refData, '10.150.0.0/16'),
    },
    { type: 'portmap', capabilities: { portMappings: true }, snat: true },
  ]);
  write('chaints', [
    {
      type: 'tsbridge',
      bridge: 'cbts',
      isGateway: true,
      isDefaultGateway: true,
      ipMasq: true,
      capabilities: { portMappings: true },
      ipam: ipam(tsData, '10.151.0.0/16'),
    },
  ]);
  const add: Record<string, number[]> = { chainref: [], chaints: [] };
  const del: Record<string, number[]> = { chainref: [], chaints: [] };
  for (let i = 0; i < RUNS + 2; i++) {
    for (const net of ['chainref', 'chaints']) {
      const env = {
        NETCONFPATH: confDir,
        CNI_PATH: bin,
        CNI_CACHE_DIR: cache,
        CAP_ARGS: JSON.stringify({
          portMappings: [{ hostPort: 18080 + (net === 'chaints' ? 1 : 0), containerPort: 80, protocol: 'tcp' }],
        }),
      };
      const t0 = process.hrtime.bigint();
      const ra = spawnSync('nsenter', [`--net=/run/netns/${node}`, CNITOOL, 'add', net, `/run/netns/${pod}`], {
        env: { ...baseEnv, ...env },
        encoding: 'utf8',
      });
      const t1 = process.hrtime.bigint();
      const rd = spawnSync('nsenter', [`--net=/run/netns/${node}`, CNITOOL, 'del', net, `/run/netns/${pod}`], {
        env: { ...baseEnv, ...env },
        encoding: 'utf8',
      });
      const t2 = process.hrtime.bigint();
      if (ra.status || rd.status)
        throw new Error(`chain ${net} failed: ${ra.stdout}${ra.stderr}${rd.stdout}${rd.stderr}`);
      if (i < 2) continue;
      add[net].push(Number(t1 - t0) / 1e6);
      del[net].push(Number(t2 - t1) / 1e6);
    }
  }
  row('chain ADD p50 (libcni, 1 port mapping)', pct(add.chainref, 50), pct(add.chaints, 50));
  row('chain DEL p50', pct(del.chainref, 50), pct(del.chaints, 50));
}

async function startup(): Promise<void> {
  console.error('start-up: VERSION');
  const t = async (cmd: string, args: string[], env: Record<string, string>): Promise<number> => {
    const xs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = process.hrtime.bigint();
      spawnSync(cmd, args, { env: { ...baseEnv, ...env }, input: '{"cniVersion":"1.0.0"}' });
      xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return pct(xs, 50);
  };
  const ref = await t(path.join(REF, 'bridge'), [], { CNI_COMMAND: 'VERSION' });
  const ts = await t(TS, [], { CNI_COMMAND: 'VERSION' });
  const bun = await t(path.join(ROOT, 'node_modules/.bin/bun'), ['-e', '0'], {});
  row('VERSION p50 (start-up)', ref, ts);
  rows.push(['`bun -e 0` p50 (for scale)', '', `${bun.toFixed(1)} ms`, '']);
}

/**
 * Where a warm ADD and DEL spend their time: tsbridge's own debug timestamps (ms since the
 * runtime's clock origin) and CPU (user + sys of the process so far, children not included). The
 * first line places that origin in epoch time, which splits the wall time outside the marks into
 * exec (nsenter, execve, the runtime's own start before its clock) and exit (last mark to reaped).
 */
async function phases(): Promise<void> {
  console.error(`per-phase breakdown of a warm ADD and DEL (debug timestamps), ${RUNS} runs`);
  const node = netns('phase');
  const pod = netns('phasep');
  const side = sides(node, 'ph', 180)[1];
  const marks: Record<string, Record<string, number[]>> = { ADD: {}, DEL: {} };
  const cpus: Record<string, Record<string, number[]>> = { ADD: {}, DEL: {} };
  const walls: Record<string, number[]> = { ADD: [], DEL: [] };
  const execs: Record<string, number[]> = { ADD: [], DEL: [] };
  const exits: Record<string, number[]> = { ADD: [], DEL: [] };
  for (let i = 0; i < RUNS + 2; i++) {
    for (const cmd of ['ADD', 'DEL']) {
      const r = await invoke(
        node,
        side.bin,
        { ...cniEnv(cmd, `${side.tag}-${i}`, pod), TSBRIDGE_LOG_LEVEL: 'debug' },
        side.conf,
      );
      if (r.status) throw new Error(`phases: ${cmd} failed: ${r.stdout}`);
      if (i < 2) continue;
      walls[cmd].push(r.ms);
      let last = 0;
      for (const m of r.stderr.matchAll(/debug: \+([\d.]+)ms cpu=([\d.]+)ms (.+)$/gm)) {
        const step = m[3].replace(/ \(.*\)$/, '');
        (marks[cmd][step] ??= []).push(Number(m[1]));
        (cpus[cmd][step] ??= []).push(Number(m[2]));
        last = Math.max(last, Number(m[1]));
      }
      const origin = Number(/\(clock origin ([\d.]+)\)/.exec(r.stderr)?.[1] ?? NaN);
      execs[cmd].push(origin - r.spawnedAt);
      exits[cmd].push(r.endedAt - (origin + last));
    }
  }
  const at = (cmd: string, mark: string): number => (marks[cmd][mark] ? pct(marks[cmd][mark], 50) : NaN);
  const cpuAt = (cmd: string, mark: string): number => (cpus[cmd][mark] ? pct(cpus[cmd][mark], 50) : NaN);
  const show = (cmd: string, steps: [string, string, string][]): void => {
    for (const [label, from, to] of steps) {
      let ms: number;
      let cpu = '';
      if (from === 'exec') ms = pct(execs[cmd], 50);
      else if (to === 'exit') ms = pct(exits[cmd], 50);
      else {
        ms = at(cmd, to) - (from === 'start' ? 0 : at(cmd, from));
        cpu = ` (CPU ${(cpuAt(cmd, to) - (from === 'start' ? 0 : cpuAt(cmd, from))).toFixed(1)} ms)`;
      }
      rows.push([`${cmd} phase: ${label}`, '', `${ms.toFixed(1)} ms${cpu}`, '']);
    }
  };
  show('ADD', [
    ['exec (nsenter, execve, runtime before its clock starts)', 'exec', ''],
    ['start (runtime up, bundle loaded, env checked)', 'start', 'dispatch'],
    ['config (stdin, env, netconf parsed)', 'dispatch', 'config parsed'],
    ['module load (ADD modules)', 'config parsed', 'add loaded'],
    ['addon load + netlink socket + IPAM store open', 'add loaded', 'ADD start'],
    ['IPAM (lock, reserve, write)', 'ADD start', 'ipam allocated'],
    ['netlink (bridge, veth, addresses, routes)', 'ipam allocated', 'container configured'],
    ['firewall (one iptables-restore batch)', 'container configured', 'rules applied'],
    ['exit (last mark to process reaped)', 'rules applied', 'exit'],
  ]);
  show('DEL', [
    ['exec', 'exec', ''],
    ['start', 'start', 'dispatch'],
    ['config', 'dispatch', 'config parsed'],
    ['module load (DEL modules)', 'config parsed', 'del loaded'],
    ['IPAM store open + read', 'DEL start', 'ipam opened'],
    ['firewall (iptables-save, one iptables-restore batch)', 'ipam opened', 'rules removed'],
    ['netlink (addon load, container iface, host veth)', 'rules removed', 'links removed'],
    ['IPAM release', 'links removed', 'ipam released'],
    ['exit', 'ipam released', 'exit'],
  ]);
  rows.push([
    'ADD / DEL wall p50 under debug timing',
    '',
    `${pct(walls.ADD, 50).toFixed(1)} / ${pct(walls.DEL, 50).toFixed(1)} ms`,
    '',
  ]);
}

/**
 * The next floor: a firewall commit costs kernel time whichever tool writes it. Each run commits
 * an ADD-sized batch and then its removal (so the table does not grow): wall time of the exec
 * against the tools' CPU (perf task-clock, user + sys, children included). Wall minus CPU is time
 * spent off-CPU waiting for the kernel to swap in the new table.
 */
async function firewall(): Promise<void> {
  console.error(`firewall commit: iptables-restore / nft -f of ADD-sized batches, ${RUNS} runs`);
  const node = netns('fw');
  const measure = (script: string): { wall: number; cpu: number } => {
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < RUNS + 2; i++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(
        'nsenter',
        [`--net=/run/netns/${node}`, 'perf', 'stat', '-x,', '-e', 'task-clock', 'sh', '-c', script],
        { encoding: 'utf8' },
      );
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status) throw new Error(`firewall: ${script} failed: ${r.stderr}`);
      if (i < 2) continue;
      wall.push(ms);
      cpu.push(Number(/^([\d.]+),msec,task-clock/m.exec(r.stderr)?.[1] ?? NaN));
    }
    return { wall: pct(wall, 50), cpu: pct(cpu, 50) };
  };
  const c = '-m comment --comment bench';
  // the shape of an ADD's masquerade batch (src/firewall/iptables/rules.ts), then its removal
  const iptAdd =
    `*nat\n:CNI-BENCH - [0:0]\n-A CNI-BENCH -d 10.9.0.0/16 ${c} -j ACCEPT\n-A CNI-BENCH ! -d ` +
    `224.0.0.0/4 ${c} -j MASQUERADE\n` +
    `-A POSTROUTING -s 10.9.0.2/32 ${c} -j CNI-BENCH\nCOMMIT\n`;
  const iptDel = `*nat\n-D POSTROUTING -s 10.9.0.2/32 ${c} -j CNI-BENCH\n-F CNI-BENCH\n-X CNI-BENCH\nCOMMIT\n`;
  const nftAdd =
    'table inet tsbbench { chain p { type nat hook postrouting priority 100; ip saddr 10.9.0.2 masquerade; }; }';
  const runs: [string, { wall: number; cpu: number }][] = [
    ['`sh -c true; true` (exec + perf overhead)', measure('true; true')],
    [
      'iptables-restore --noflush: ADD batch, then DEL batch (2 commits)',
      measure(`printf '${iptAdd}' | iptables-restore --noflush && printf '${iptDel}' | iptables-restore --noflush`),
    ],
    [
      'nft -f: ADD batch, then delete table (2 commits)',
      measure(`echo '${nftAdd}' | nft -f - && nft delete table inet tsbbench`),
    ],
  ];
  for (const [what, m] of runs)
    rows.push([`firewall: ${what}`, '', `wall ${m.wall.toFixed(1)} / CPU ${m.cpu.toFixed(1)} ms`, '']);
}

/** N concurrent ADDs on one bridge, each in its own netns; then N concurrent DELs. */
async function concurrent(n: number): Promise<void> {
  console.error(`${n} concurrent ADDs, then DELs`);
  const node = netns(`c${n}`);
  const pods = Array.from({ length: n }, (_, i) => netns(`c${n}p${i}`));
  for (const side of sides(node, `c${n}`, 160 + (n === 100 ? 0 : 2))) {
    const t0 = process.hrtime.bigint();
    const adds = await Promise.all(
      pods.map((p, i) => invoke(node, side.bin, cniEnv('ADD', `${side.tag}-${i}`, p), side.conf)),
    );
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    const failures = adds.filter((a) => a.status !== 0).length;
    const ips = adds.filter((a) => a.status === 0).map((a) => JSON.parse(a.stdout).ips[0].address);
    const dups = ips.length - new Set(ips).size;
    const t1 = process.hrtime.bigint();
    const dels = await Promise.all(
      pods.map((p, i) => invoke(node, side.bin, cniEnv('DEL', `${side.tag}-${i}`, p), side.conf)),
    );
    const delWall = Number(process.hrtime.bigint() - t1) / 1e6;
    const dataDir = JSON.parse(side.conf).ipam.dataDir as string;
    const netDir = path.join(dataDir, JSON.parse(side.conf).name as string);
    const leakedIps = fs.existsSync(netDir)
      ? fs.readdirSync(netDir).filter((f) => /^[0-9a-f.:]+$/.test(f) && /[.:]/.test(f)).length
      : 0;
    const leakedVeths = sh('ip', ['-n', node, '-o', 'link', 'show', 'type', 'veth'])
      .trim()
      .split('\n')
      .filter(Boolean).length;
    const leakedRules = sh('ip', ['netns', 'exec', node, 'iptables-save', '-t', 'nat'])
      .split('\n')
      .filter((l) => l.includes(JSON.parse(side.conf).name as string)).length;
    console.error(
      `  ${side.type}: ADD wall ${wall.toFixed(0)} ms, failures ${failures}, duplicate IPs ${dups}; DEL ` +
        `wall ${delWall.toFixed(0)} ms, DEL failures ${dels.filter((d) => d.status).length}, leaks: ` +
        `${leakedIps} IPs, ` +
        `${leakedVeths} veths, ${leakedRules} rules`,
    );
    rows.push([
      `${n} concurrent ADDs: wall / failures / dup IPs (${side.type})`,
      '',
      `${wall.toFixed(0)} ms / ${failures} / ${dups}`,
      '',
    ]);
    rows.push([
      `${n} concurrent DELs: wall / leaks ip,veth,rule (${side.type})`,
      '',
      `${delWall.toFixed(0)} ms / ${leakedIps},${leakedVeths},${leakedRules}`,
      '',
    ]);
  }
}

/** ADD/DEL latency with 0 and with EXISTING containers already attached. */
async function scaling(): Promise<void> {
  console.error(`ADD/DEL with 0 and ${EXISTING} containers attached`);
  const node = netns('scale');
  const probe = netns('scalep');
  for (const side of sides(node, 'sc', 170)) {
    const measure = async (): Promise<[number, number]> => {
      const a: number[] = [];
      const d: number[] = [];
      for (let i = 0; i < Math.min(RUNS, 15); i++) {
        a.push((await invoke(node, side.bin, cniEnv('ADD', `${side.tag}-probe`, probe), side.conf)).ms);
        d.push((await invoke(node, side.bin, cniEnv('DEL', `${side.tag}-probe`, probe), side.conf)).ms);
      }
      return [pct(a, 50), pct(d, 50)];
    };
    const [a0, d0] = await measure();
    const pods = Array.from({ length: EXISTING }, (_, i) => netns(`${side.tag}e${i}`));
    for (let i = 0; i < pods.length; i += 20) {
      await Promise.all(
        pods
          .slice(i, i + 20)
          .map((p, j) => invoke(node, side.bin, cniEnv('ADD', `${side.tag}-e${i + j}`, p), side.conf)),
      );
    }
    const [a1, d1] = await measure();
    rows.push([
      `ADD p50 at 0 / ${EXISTING} attached (${side.type})`,
      '',
      `${a0.toFixed(1)} / ${a1.toFixed(1)} ms`,
      `${(a1 / a0).toFixed(2)}x`,
    ]);
    rows.push([
      `DEL p50 at 0 / ${EXISTING} attached (${side.type})`,
      '',
      `${d0.toFixed(1)} / ${d1.toFixed(1)} ms`,
      `${(d1 / d0).toFixed(2)}x`,
    ]);
    console.error(
      `  ${side.type}: ADD ${a0.toFixed(1)} -> ${a1.toFixed(1)} ms, DEL ${d0.toFixed(1)} -> ${d1.toFixed(1)} ms`,
    );
    await Promise.all(pods.map((p, i) => invoke(node, side.bin, cniEnv('DEL', `${side.tag}-e${i}`, p), side.conf)));
    for (const p of pods) spawnSync('ip', ['netns', 'del', p]);
  }
}

async function main(): Promise<void> {
  const only = (process.env.BENCH_ONLY ?? 'startup,single,chain,phases,firewall,concurrent,scaling').split(',');
  try {
    if (only.includes('startup')) await startup();
    if (only.includes('phases')) await phases();
    if (only.includes('firewall')) await firewall();
    if (only.includes('single')) await single();
    if (only.includes('chain')) await chain();
    if (only.includes('concurrent')) for (const n of CONC) await concurrent(n);
    if (only.includes('scaling')) await scaling();
  } finally {
    cleanup();
  }
  rows.push(['binary size', '', `${(fs.statSync(TS).size / 1e6).toFixed(1)} MB`, '']);
  console.log('| measurement | reference | tsbridge | ratio |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
