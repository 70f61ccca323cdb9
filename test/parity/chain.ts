// What libcni does with a conflist, for either side: per plugin, the plugin's object plus the list's
// `name`/`cniVersion`, `runtimeConfig` holding the capability arguments the plugin declares, and
// `prevResult` (ADD: the previous plugin's result; CHECK/DEL: the cached final result, from 0.4.0 on).
// DEL runs the plugins in reverse order.
import { execPlugin, PluginReply } from './exec';

export interface Conflist {
  cniVersion?: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export interface Attachment {
  nodeNs: string;
  netns: string;
  containerId: string;
  ifname: string;
  args?: string;
  cniPath: string;
}

export interface StepOutcome {
  ok: boolean;
  code?: number;
  msg?: string;
  result?: any;
  failedPlugin?: string;
}

/** The plugin binary for a `type`: the plugin under test for its own type, else `<dir>/<type>`. */
export type Resolver = (type: string) => string;

function versionAtLeast(v: string | undefined, min: string): boolean {
  const p = (s: string): number[] => s.split('.').map(Number);
  const [a, b] = [p(v ?? '0.1.0'), p(min)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

function pluginConf(
  list: Conflist,
  plugin: Record<string, unknown>,
  caps: Record<string, unknown>,
  prev: unknown,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name };
  if (list.cniVersion !== undefined) conf.cniVersion = list.cniVersion;
  const declared = (plugin.capabilities ?? {}) as Record<string, boolean>;
  const rc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(caps)) if (declared[k]) rc[k] = v;
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  if (prev !== undefined) conf.prevResult = prev;
  return conf;
}

function outcome(r: PluginReply, type: string): StepOutcome {
  if (r.status === 0) return { ok: true, result: r.json };
  return {
    ok: false,
    code: r.json?.code,
    msg: r.json?.msg ?? (r.stdout.trim() || r.stderr.trim()).slice(0, 300),
    failedPlugin: type,
  };
}

export class Chain {
  cached: unknown;

  constructor(
    readonly list: Conflist,
    readonly resolve: Resolver,
    readonly caps: Record<string, unknown>,
  ) {}

  private call(
    cmd: string,
    a: Attachment,
    plugin: Record<string, unknown>,
    prev: unknown,
    netns = a.netns,
  ): Promise<PluginReply> {
    return execPlugin(a.nodeNs, {
      bin: this.resolve(String(plugin.type)),
      command: cmd,
      conf: pluginConf(this.list, plugin, this.caps, prev),
      containerId: a.containerId,
      netns,
      ifname: a.ifname,
      args: a.args,
      cniPath: a.cniPath,
    });
  }

  async add(a: Attachment): Promise<StepOutcome> {
    let prev: unknown;
    for (const p of this.list.plugins) {
      const r = await this.call('ADD', a, p, prev);
      if (r.status !== 0) return outcome(r, String(p.type));
      prev = r.json;
    }
    this.cached = prev;
    return { ok: true, result: prev };
  }

  supportsCheck(): boolean {
    return versionAtLeast(this.list.cniVersion, '0.4.0');
  }

  async check(a: Attachment): Promise<StepOutcome> {
    for (const p of this.list.plugins) {
      const r = await this.call('CHECK', a, p, this.cached);
      if (r.status !== 0) return outcome(r, String(p.type));
    }
    return { ok: true };
  }

  async del(a: Attachment, netns: string = a.netns): Promise<StepOutcome> {
    const prev = versionAtLeast(this.list.cniVersion, '0.4.0') ? this.cached : undefined;
    for (const p of [...this.list.plugins].reverse()) {
      const r = await this.call('DEL', a, p, prev, netns);
      if (r.status !== 0) return outcome(r, String(p.type));
    }
    return { ok: true };
  }

  /** GC (spec 1.1): every attachment not in `valid` goes. */
  async gc(a: Attachment, valid: { containerID: string; ifname: string }[]): Promise<StepOutcome> {
    for (const p of this.list.plugins) {
      const conf = {
        ...pluginConf(this.list, p, {}, undefined),
        'cni.dev/valid-attachments': valid,
        'cni.dev/attachments': valid,
      };
      const r = await execPlugin(a.nodeNs, {
        bin: this.resolve(String(p.type)),
        command: 'GC',
        conf,
        containerId: '',
        netns: '',
        ifname: '',
        cniPath: a.cniPath,
      });
      if (r.status !== 0) return outcome(r, String(p.type));
    }
    return { ok: true };
  }
}
