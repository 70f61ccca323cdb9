// Record the bytecode layout profile (`make bytecode-order`, root): build the recording binary
// (build/recorder/tsbridge: the one build that keeps BUN_BYTECODE_ORDER_OUT, src/main.ts), run the
// calls a container runtime execs, each as the runtime would (nsenter into a scratch "node"
// namespace, CNI_* environment, config on stdin), and write the functions each call ran into
// build/bytecode-order/<command>.order. build/build.mjs lays the production bytecode out by those
// files (add, del, check, version first): the code a call runs sits on fewer pages of the
// executable, which is most of a call's RSS. The files are committed inputs of the build; re-record
// after changes to what ADD/DEL run (docs/build.md). Namespaces and files made here are removed
// even on failure.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = path.join(root, 'build', 'recorder', 'tsbridge');
const OUT = path.join(root, 'build', 'bytecode-order');

if (process.getuid?.() !== 0) {
  console.error('record-bytecode-order: run as root (it creates network namespaces)');
  process.exit(1);
}

const id = `tsbo${process.pid.toString(36)}`;
const NODE = `${id}n`;
const PODS = [`${id}p`, `${id}q`];
const made = [];
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-bytecode-order-'));
function cleanup() {
  for (const n of made.splice(0).reverse()) spawnSync('ip', ['netns', 'del', n]);
  fs.rmSync(scratch, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));

function netns(name) {
  execFileSync('ip', ['netns', 'add', name]);
  made.push(name);
}

/** One call of the recording binary; `record`: the order file it writes at exit. */
function call(command, conf, { cid = 'rec1', pod = PODS[0], record } = {}) {
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: cid,
    CNI_NETNS: `/run/netns/${pod}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/usr/lib/cni',
    ...(record ? { BUN_BYTECODE_ORDER_OUT: record } : {}),
  };
  const r = spawnSync('nsenter', [`--net=/run/netns/${NODE}`, BIN], {
    env,
    input: JSON.stringify(conf),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`${command} failed (${r.status}): ${r.stdout}${r.stderr}`);
  if (record) {
    const head = fs.existsSync(record) ? fs.readFileSync(record, 'utf8').slice(0, 3) : '';
    if (head !== 'v2\n') throw new Error(`${command} wrote no bytecode order file to ${record}: ${r.stderr}`);
  }
  return r.stdout ? JSON.parse(r.stdout) : undefined;
}

try {
  execFileSync('node', [path.join(root, 'build', 'build.mjs'), '--recorder'], { stdio: 'inherit' });
  netns(NODE);
  for (const p of PODS) netns(p);
  execFileSync('ip', ['-n', NODE, 'link', 'set', 'lo', 'up']);
  // the bench's typical network (bench/bench.ts conf()); 1.1.0 so that GC and STATUS answer
  const conf = {
    cniVersion: '1.1.0',
    name: 'ordernet',
    type: 'tsbridge',
    bridge: 'tsbord0',
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: true,
    capabilities: { portMappings: true },
    ipam: { type: 'host-local', dataDir: path.join(scratch, 'ipam'), ranges: [[{ subnet: '10.236.0.0/24' }]] },
  };
  const rec = (name) => path.join(scratch, `${name}.order`);
  const withPrev = (c, prevResult) => ({ ...c, prevResult });
  // warm-up, not recorded: the first ADD on a node creates the bridge, every later one finds it
  const warm = call('ADD', conf, { cid: 'warm' });
  call('DEL', withPrev(conf, warm), { cid: 'warm' });

  const result = call('ADD', conf, { record: rec('add') });
  call('CHECK', withPrev(conf, result), { record: rec('check') });
  const gc = { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'rec1', ifname: 'eth0' }] };
  call('GC', gc, { record: rec('gc') });
  call('STATUS', conf, { record: rec('status') });
  call('DEL', withPrev(conf, result), { record: rec('del') });
  // a port mapping, as the runtime passes it to the chained portmap call (runtimeConfig)
  const mapped = {
    ...conf,
    runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] },
  };
  const pm = call('ADD', mapped, { cid: 'rec2', pod: PODS[1], record: rec('add-portmap') });
  call('DEL', withPrev(mapped, pm), { cid: 'rec2', pod: PODS[1], record: rec('del-portmap') });
  call('VERSION', { cniVersion: '1.1.0' }, { record: rec('version') });

  // replace the profile as a whole: a file of a command no longer recorded must not linger
  fs.mkdirSync(OUT, { recursive: true });
  for (const f of fs.readdirSync(OUT)) if (f.endsWith('.order')) fs.rmSync(path.join(OUT, f));
  let total = 0;
  for (const f of fs
    .readdirSync(scratch)
    .filter((f) => f.endsWith('.order'))
    .sort()) {
    fs.copyFileSync(path.join(scratch, f), path.join(OUT, f));
    const size = fs.statSync(path.join(OUT, f)).size;
    total += size;
    console.log(`  ${path.relative(root, path.join(OUT, f))}: ${(size / 1024).toFixed(0)} kB`);
  }
  console.log(`recorded ${(total / 1024).toFixed(0)} kB of bytecode order; \`make build\` lays the binary out by it`);
} catch (e) {
  console.error(`record-bytecode-order: ${e.message}`);
  process.exitCode = 1;
}
