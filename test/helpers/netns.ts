// Test topology helpers: every namespace, file and rule a test makes is named with this run's
// unique id and registered for cleanup, which runs even when the test fails.
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';
import { BIN } from './paths';

export { BIN };

export const RUN_ID = crypto.randomBytes(3).toString('hex');
let counter = 0;

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `tsbridge ...args` on the host with only PATH and env set (status -1: killed after 60 s). */
export function tsb(
  args: string[],
  env: Record<string, string> = {},
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(BIN, args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A node namespace's uplink: veth eth0 (with `addrs`; IPv6 without DAD) and its peer eth1, both up. */
export function nodeUplink(ns: string, ...addrs: string[]): void {
  sh('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
  for (const a of addrs) sh('ip', ['-n', ns, 'addr', 'add', a, 'dev', 'eth0', ...(a.includes(':') ? ['nodad'] : [])]);
  sh('ip', ['-n', ns, 'link', 'set', 'eth1', 'up']);
  sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
}

/** A throwaway world: one "node" namespace (the host side of the plugin) plus pods and helpers. */
export class World {
  readonly node: string;
  readonly dataDir: string;
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  constructor(tag: string) {
    this.node = this.addNs(`${tag}-node`);
    sh('ip', ['-n', this.node, 'link', 'set', 'lo', 'up']);
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-ipam-${RUN_ID}-`));
  }

  /** Create a namespace named tsbt-<run>-<n>-<tag>; returns its name. */
  addNs(tag: string): string {
    const name = `tsbt-${RUN_ID}-${++counter}-${tag}`.slice(0, 60);
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    return name;
  }

  pod(tag: string): { name: string; path: string } {
    const name = this.addNs(tag);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return { name, path: `/run/netns/${name}` };
  }

  /**
   * Run a command inside one of our namespaces; never throws, returns status and output. For a
   * command whose failure is the answer (ping); to read state use exec(), which throws.
   */
  tryExec(ns: string, cmd: string, args: string[]): ExecReply {
    const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** One ICMP echo from `ns` to `dst` (v4 or v6); true when the reply came. */
  ping(ns: string, dst: string): boolean {
    return this.tryExec(ns, 'ping', ['-n', '-q', '-c', '1', '-W', '3', dst]).status === 0;
  }

  /** Names of the links in `ns`. */
  links(ns: string): string[] {
    return (JSON.parse(sh('ip', ['-j', '-n', ns, 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname);
  }

  /** `ip -d -j link show` of one link in `ns`, or undefined when it does not exist. */
  link(ns: string, name: string): LinkInfo | undefined {
    const r = spawnSync('ip', ['-d', '-j', '-n', ns, 'link', 'show', 'dev', name], { encoding: 'utf8' });
    if (r.status !== 0) return undefined;
    return (JSON.parse(r.stdout) as LinkInfo[])[0];
  }

  /** Global addresses ("a/prefix") on a link in `ns`. */
  addrs(ns: string, dev: string): string[] {
    const out = JSON.parse(sh('ip', ['-j', '-n', ns, 'addr', 'show', 'dev', dev])) as {
      addr_info: { local: string; prefixlen: number; scope: string }[];
    }[];
    return (out[0]?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
  }

  /** Routes of one family in `ns` as `ip -j route` objects. */
  routes(ns: string, family: 4 | 6): { dst: string; gateway?: string; dev?: string }[] {
    return JSON.parse(sh('ip', ['-j', `-${family}`, '-n', ns, 'route', 'show'])) as {
      dst: string;
      gateway?: string;
      dev?: string;
    }[];
  }

  /**
   * IPs host-local holds for `network` in this world's dataDir (one file per IP; lock, last_reserved_ip.* and our boot
   * mark excluded).
   */
  reservations(network: string): string[] {
    const dir = path.join(this.dataDir, network);
    if (!fs.existsSync(dir)) return [];
    // (not .tsbridge-staging either: a record being written, a second name of the same inode for a
    // moment, swept by the next ADD, DEL, GC or STATUS; the soak counts it among stray store files)
    return fs
      .readdirSync(dir)
      .filter(
        (f) =>
          f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('tsbridge-boot') && !f.startsWith('.'),
      )
      .sort();
  }

  /**
   * Everything netfilter holds in `ns`: iptables and ip6tables nat tables, and the nft ruleset.
   * A tool that fails throws (through exec): a failing reader must never read as "no rules".
   */
  natDump(ns: string): string {
    return ['iptables-save -t nat', 'ip6tables-save -t nat', 'nft list ruleset']
      .map((c) => {
        const [cmd, ...args] = c.split(' ');
        return this.exec(ns, cmd, args);
      })
      .join('\n');
  }

  /**
   * A TCP server in `ns` on `port` that answers every connection with the peer address it sees
   * (IPv4-mapped prefix stripped) and closes. Killed by cleanup().
   */
  serveTcp(ns: string, port: number): Promise<void> {
    const code = `require('net').createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, '') + '\\n'))
      .listen(${port}, '::', () => console.log('ready'));`;
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    return new Promise((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      child.on('error', reject);
      child.on('exit', (c) => reject(new Error(`TCP server in ${ns} exited with ${c}: ${err}`)));
      child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
    });
  }

  /** Connect from `ns` to a serveTcp server; returns the peer address the server saw. Throws on failure. */
  tcpPeer(ns: string, host: string, port: number): string {
    const code = `const s = require('net').connect(${port}, process.argv[1]); let d = '';
      s.setTimeout(5000, () => { console.error('timeout'); process.exit(2); });
      s.on('data', (b) => (d += b)); s.on('end', () => process.stdout.write(d.trim()));
      s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
    return this.exec(ns, process.execPath, ['-e', code, host]);
  }

  /**
   * An "outside host": a namespace joined to the node by a veth pair, the node side `nodeCidr`,
   * the outside side `outCidr` (e.g. 192.168.9.1/24 and 192.168.9.2/24). Returns its name.
   */
  outside(tag: string, nodeCidr: string, outCidr: string): string {
    const out = this.addNs(tag);
    sh('ip', ['-n', out, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', this.node, 'link', 'add', 'to-out', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out]);
    sh('ip', ['-n', this.node, 'addr', 'add', nodeCidr, 'dev', 'to-out', ...(nodeCidr.includes(':') ? ['nodad'] : [])]);
    sh('ip', ['-n', out, 'addr', 'add', outCidr, 'dev', 'eth0', ...(outCidr.includes(':') ? ['nodad'] : [])]);
    sh('ip', ['-n', this.node, 'link', 'set', 'to-out', 'up']);
    sh('ip', ['-n', out, 'link', 'set', 'eth0', 'up']);
    return out;
  }

  /** Read a sysctl inside `ns` (e.g. "net.ipv4.ip_forward"). */
  sysctl(ns: string, key: string): string {
    return this.exec(ns, 'sysctl', ['-n', key]).trim();
  }

  /** Run a command inside one of our namespaces. */
  exec(ns: string, cmd: string, args: string[], input?: string): string {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
  }

  cleanup(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const ns of this.namespaces.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** fn with a new World(tag), cleaned up when fn returns, throws, or its promise settles. */
export function inWorld<T>(tag: string, fn: (world: World) => T): T {
  const world = new World(tag);
  let r: T;
  try {
    r = fn(world);
  } catch (e) {
    world.cleanup();
    throw e;
  }
  if (r instanceof Promise) return r.finally(() => world.cleanup()) as T;
  world.cleanup();
  return r;
}

export interface ExecReply {
  status: number;
  stdout: string;
  stderr: string;
}

/** Poll `ok` until it holds; after `ms`, fail naming `what` and what `debug` tells (e.g. the agent's log). */
export async function until(
  what: string,
  ok: () => Promise<boolean> | boolean,
  ms = 20_000,
  debug = (): string => '',
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${debug()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The exit code of a child process, once it has exited (at once if it already has). */
export function exited(c: ChildProcess): Promise<number | null> {
  return c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));
}

/** The parts of `ip -d -j link show` the tests read. */
export interface LinkInfo {
  ifname: string;
  address: string;
  master?: string;
  operstate?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';
  conf: object | string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  env?: Record<string, string>;
  /** another plugin binary (e.g. /usr/lib/cni/bridge) instead of tsbridge */
  bin?: string;
}

export interface CniReply {
  status: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** The environment a runtime gives the plugin for `call`. */
export function cniEnv(call: CniCall): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId ?? '',
    CNI_NETNS: call.netns ?? '',
    CNI_IFNAME: call.ifname ?? 'eth0',
    CNI_PATH: '/usr/lib/cni',
    ...(call.args ? { CNI_ARGS: call.args } : {}),
    ...call.env,
  };
}

/** cni() that must succeed: fails the test with the reply otherwise (`what` names the call in the message). */
export function cniOk(hostNs: string, call: CniCall, what: string = call.command): CniReply {
  const r = cni(hostNs, call);
  assert.is(r.status, 0, `${what} failed: ${r.stdout} ${r.stderr}`);
  return r;
}

/** A CNI error on stdout: one JSON line, the code, a message (containing or matching msg), no stack trace. */
export function assertCniError(r: CniReply, code: number, msg?: string | RegExp): void {
  assert.is.not(r.status, 0, `expected an error, got: ${r.stdout}`);
  assert.ok(r.json, `no error JSON on stdout: ${r.stdout} ${r.stderr}`);
  assert.is(r.stdout.trim().split('\n').length, 1, 'more than one line on stdout');
  assert.not.match(r.stdout, /\n\s+at /, 'stack trace on stdout');
  assert.is(r.json.code, code, r.stdout);
  assert.type(r.json.msg, 'string');
  if (msg) assert.match(r.json.msg, msg);
}

function cniReply(status: number | null, stdout: string, stderr: string): CniReply {
  let json: any;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { status: status ?? -1, stdout, stderr, json };
}

const stdinOf = (call: CniCall): string => (typeof call.conf === 'string' ? call.conf : JSON.stringify(call.conf));

/** Exec the built binary exactly as a runtime does, with `hostNs` as the node's namespace. */
export function cni(hostNs: string, call: CniCall): CniReply {
  const r = spawnSync('ip', ['netns', 'exec', hostNs, call.bin ?? BIN], {
    env: cniEnv(call),
    input: stdinOf(call),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return cniReply(r.status, r.stdout ?? '', r.stderr ?? '');
}

/** cni() without waiting: for runs of the plugin at the same time, as a runtime starting many pods does. */
export async function cniAsync(hostNs: string, call: CniCall): Promise<CniReply> {
  const r = await spawnCollect('ip', ['netns', 'exec', hostNs, call.bin ?? BIN], cniEnv(call), stdinOf(call));
  return cniReply(r.status, r.stdout, r.stderr);
}

/**
 * Runs a command with `input` on stdin and collects its output (killed after 60 s); never rejects on a non-zero exit.
 */
export function spawnCollect(cmd: string, args: string[], env: NodeJS.ProcessEnv, input: string): Promise<ExecReply> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ status: code ?? (sig ? 128 : -1), stdout: out, stderr: err });
    });
    child.stdin!.on('error', () => undefined); // EPIPE when the child exits without reading: its reply says why
    child.stdin!.end(input);
  });
}

export function withPrev(conf: object, prevResult: unknown): object {
  return { ...conf, prevResult };
}

/** A tsbridge network config with host-local IPAM in the world's dataDir; `extra` overrides top-level keys. */
export function bridgeConf(
  world: World,
  opts: { name: string; bridge: string; ranges: object[][]; cniVersion?: string; ipam?: object },
  extra: object = {},
): Record<string, unknown> {
  return {
    cniVersion: opts.cniVersion ?? '1.1.0',
    name: opts.name,
    type: 'tsbridge',
    bridge: opts.bridge,
    isGateway: true,
    isDefaultGateway: true,
    ipam: { type: 'host-local', dataDir: world.dataDir, ranges: opts.ranges, ...opts.ipam },
    ...extra,
  };
}
