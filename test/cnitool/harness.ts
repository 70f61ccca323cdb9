// Drive build/cnitool (test/cnitool/main.go, on the real libcni) from uvu tests: a throwaway
// CNI_PATH with tsbridge and the reference chained plugins, a conf dir, a libcni cache dir and a
// trace of every plugin exec, all in one temp dir removed by cleanup().
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BIN, ROOT } from '../helpers/paths';

export const CNITOOL = path.join(ROOT, 'build', 'cnitool');
export const REFERENCE_DIR = '/usr/lib/cni';

/** Build build/cnitool when missing or stale (installs golang-go + Debian's libcni source if needed). */
export function ensureCnitool(): void {
  const r = spawnSync('bash', [path.join(ROOT, 'test', 'cnitool', 'build.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`building cnitool failed (${r.status}): ${r.stderr}`);
}

/** One record of CNITOOL_TRACE: a plugin exec as libcni made it. */
export interface TraceRecord {
  plugin: string;
  ms: number;
  env: Record<string, string>;
  stdin: any;
  stdout: string;
  error?: string;
}

export interface ToolReply {
  status: number;
  stdout: string;
  stderr: string;
  json: any;
}

export class CniTool {
  readonly dir: string;
  readonly binDir: string;
  readonly confDir: string;
  readonly cacheDir: string;
  readonly traceFile: string;

  /** `plugins`: reference plugin names linked into CNI_PATH next to tsbridge. */
  constructor(plugins: string[] = ['portmap', 'firewall', 'tuning', 'bandwidth']) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-cnitool-'));
    this.binDir = path.join(this.dir, 'bin');
    this.confDir = path.join(this.dir, 'net.d');
    this.cacheDir = path.join(this.dir, 'cache');
    this.traceFile = path.join(this.dir, 'trace.jsonl');
    for (const d of [this.binDir, this.confDir, this.cacheDir]) fs.mkdirSync(d);
    fs.symlinkSync(BIN, path.join(this.binDir, 'tsbridge'));
    for (const p of plugins) fs.symlinkSync(path.join(REFERENCE_DIR, p), path.join(this.binDir, p));
  }

  /** Write a conflist (object) as <confDir>/<file>. */
  writeConflist(list: object, file = '10-test.conflist'): void {
    fs.writeFileSync(path.join(this.confDir, file), JSON.stringify(list, null, 1));
  }

  /**
   * Run `cnitool <cmd> <net> <netns>` inside the node namespace `nodeNs`, as libcni runs plugins
   * there. `env`: CAP_ARGS, CNI_ARGS, CNI_IFNAME, GC_VALID_ATTACHMENTS, CNI_CONTAINERID ...
   */
  run(
    nodeNs: string,
    cmd: 'add' | 'check' | 'del' | 'gc' | 'status',
    net: string,
    netns: string,
    env: Record<string, string> = {},
  ): ToolReply {
    const r = spawnSync('ip', ['netns', 'exec', nodeNs, CNITOOL, cmd, net, netns], {
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        NETCONFPATH: this.confDir,
        CNI_PATH: this.binDir,
        CNI_CACHE_DIR: this.cacheDir,
        CNITOOL_TRACE: this.traceFile,
        ...env,
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    let json: any;
    try {
      json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  }

  /** Every plugin exec so far, oldest first. */
  trace(): TraceRecord[] {
    if (!fs.existsSync(this.traceFile)) return [];
    return fs
      .readFileSync(this.traceFile, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TraceRecord);
  }

  /** Forget the trace (e.g. between steps). */
  clearTrace(): void {
    fs.rmSync(this.traceFile, { force: true });
  }

  /** "COMMAND plugin" for each exec in the trace: the order libcni ran them in. */
  order(): string[] {
    return this.trace().map((t) => `${t.env.CNI_COMMAND} ${path.basename(t.plugin)}`);
  }

  /** libcni's cached results (files under <cache>/results). */
  cachedResults(): string[] {
    const d = path.join(this.cacheDir, 'results');
    return fs.existsSync(d) ? fs.readdirSync(d) : [];
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
