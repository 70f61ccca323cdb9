// Process plumbing of the differential suite: async exec (the two sides run at the same time),
// plugin exec the way libcni does it, and the twin "node" + container namespaces of one side.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CniCall, cniEnv, ExecReply, spawnCollect } from '../helpers/netns';
import { BIN } from '../helpers/paths';

export const RUN_ID = crypto.randomBytes(3).toString('hex');
/**
 * The plugin under test (any bridge-compatible plugin; one call does bridge + IPAM + port mappings): PARITY_PLUGIN,
 * else TSBRIDGE_BIN's.
 */
export const PLUGIN = process.env.PARITY_PLUGIN ? path.resolve(process.env.PARITY_PLUGIN) : BIN;
/** Directory of the reference plugins (bridge, host-local, portmap, static). */
export const REF_DIR = path.resolve(process.env.PARITY_REF_DIR ?? '/usr/lib/cni');

export type Reply = ExecReply;

export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<Reply> {
  return spawnCollect(cmd, args, opts.env ?? process.env, opts.input ?? '');
}

/** Like run() but throws with the tool's stderr when it fails: a tool failing to read state must fail the test. */
export async function must(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, { input });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

export function mustSync(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

export interface PluginCall {
  bin: string;
  command: string;
  conf: object;
  containerId: string;
  netns: string;
  ifname: string;
  args?: string;
  cniPath: string;
}

export interface PluginReply {
  status: number;
  json: any;
  stdout: string;
  stderr: string;
}

/** Exec one plugin in the node namespace `nodeNs` with the CNI_* environment a runtime gives it. */
export async function execPlugin(nodeNs: string, c: PluginCall): Promise<PluginReply> {
  const env = cniEnv({
    command: c.command as CniCall['command'],
    conf: c.conf,
    containerId: c.containerId,
    netns: c.netns,
    ifname: c.ifname,
    args: c.args,
    env: { CNI_PATH: c.cniPath },
  });
  const r = await run('ip', ['netns', 'exec', nodeNs, c.bin], { env, input: JSON.stringify(c.conf) });
  let json: any;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, json, stdout: r.stdout, stderr: r.stderr };
}

let counter = 0;

/** One side of a comparison: a node namespace (holds the bridge), container namespaces, an IPAM dataDir. */
export class Side {
  readonly node: string;
  readonly ctrs: string[] = [];
  readonly dataDir: string;
  private readonly all: string[] = [];

  constructor(
    readonly label: 'ref' | 'ours',
    pods: number,
  ) {
    const n = ++counter;
    try {
      this.node = this.addNs(`${n}${label[0]}n`);
      for (let i = 0; i < pods; i++) this.ctrs.push(this.addNs(`${n}${label[0]}c${i}`));
      this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `parity-${RUN_ID}-${label}-`));
    } catch (e) {
      for (const ns of this.all.splice(0).reverse()) spawnSync('ip', ['netns', 'del', ns]);
      throw e;
    }
  }

  private addNs(tag: string): string {
    const name = `tsbp-${RUN_ID}-${tag}`;
    mustSync('ip', ['netns', 'add', name]);
    this.all.push(name);
    mustSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  netnsPath(i: number): string {
    return `/run/netns/${this.ctrs[i]}`;
  }

  /** Removes every namespace and the dataDir; safe to call twice. */
  cleanup(): void {
    for (const ns of this.all.splice(0).reverse()) spawnSync('ip', ['netns', 'del', ns]);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
