// Test topology helpers: every namespace, file and rule a test makes is named with this run's
// unique id and registered for cleanup, which runs even when the test fails.
import { execFileSync, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const RUN_ID = crypto.randomBytes(3).toString('hex');
export const BIN = path.resolve(__dirname, '../../../bin/tsbridge');
let counter = 0;

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A throwaway world: one "node" namespace (the host side of the plugin) plus pods and helpers. */
export class World {
  readonly node: string;
  readonly dataDir: string;
  private readonly namespaces: string[] = [];

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

  /** Run a command inside one of our namespaces. */
  exec(ns: string, cmd: string, args: string[], input?: string): string {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
  }

  cleanup(): void {
    for (const ns of this.namespaces.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';
  conf: object | string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  env?: Record<string, string>;
}

export interface CniReply { status: number; stdout: string; stderr: string; json: any }

/** Exec the built binary exactly as a runtime does, with `hostNs` as the node's namespace. */
export function cni(hostNs: string, call: CniCall): CniReply {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId ?? '',
    CNI_NETNS: call.netns ?? '',
    CNI_IFNAME: call.ifname ?? 'eth0',
    CNI_PATH: '/usr/lib/cni',
    ...(call.args ? { CNI_ARGS: call.args } : {}),
    ...call.env,
  };
  const r = spawnSync('ip', ['netns', 'exec', hostNs, BIN], {
    env,
    input: typeof call.conf === 'string' ? call.conf : JSON.stringify(call.conf),
    encoding: 'utf8',
    timeout: 60_000,
  });
  let json: any;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

export function withPrev(conf: object, prevResult: unknown): object {
  return { ...conf, prevResult };
}
