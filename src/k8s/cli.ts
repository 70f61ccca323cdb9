// `tsbridge install`, `tsbridge uninstall` and `tsbridge routes`: what the DaemonSet runs on every
// node (and what an operator can run on a host by hand). Ties flags to the modules of this folder.
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiClient, apiConfig } from './api';
import { parsePodCidrs } from './cidr';
import { configsBefore, renderConflist } from './conflist';
import { FlagSpec, FlagValues, parseFlags, UsageError, usageExit } from '../flags';
import { Installer, Logger, NETWORK_NAME, purgeIpam, uninstall } from './install';
import { keepInstalled } from './keeper';
import { memoryOnSignal } from './memstats';
import { markNow, probeStatusFile, StatusWriter } from './status';
import { LogSettings, logSettingProblem } from '../log';
import { podCidrsFromApi } from './podcidr';
import { DEFAULT_MAX_ROUTES, HostAddr, ownPodCidrProblems } from './trust';
import { escapeControls } from '../safe-text';
import { isCompiled } from '../sys/compiled';
// routes.ts (and with it the native addon) is loaded only when routes are asked for:
// a plain install needs no writable /run and no NET_ADMIN.
const routesModule = (): Promise<typeof import('./routes')> => import('./routes');

export const BIN_NAME = 'tsbridge';

const COMMON: FlagSpec = {
  'cni-bin-dir': 'string',
  'cni-conf-dir': 'string',
  'conf-name': 'string',
  network: 'string',
  binary: 'string',
};
const API: FlagSpec = {
  'node-name': 'string',
  'api-server': 'string',
  'token-file': 'string',
  'ca-file': 'string',
  kubeconfig: 'string',
};
const AGENT: FlagSpec = { resync: 'string', 'cluster-cidr': 'list', 'max-routes': 'string', 'status-file': 'string' };
export const INSTALL: FlagSpec = {
  ...COMMON,
  ...API,
  ...AGENT,
  'pod-cidr': 'string',
  bridge: 'string',
  mtu: 'string',
  'ip-masq': 'bool',
  'data-dir': 'string',
  'port-mappings': 'bool',
  watch: 'bool',
  routes: 'bool',
  interval: 'string',
  wait: 'string',
  'log-level': 'string',
  'log-file': 'string',
  'log-format': 'string',
};
export const UNINSTALL: FlagSpec = {
  ...COMMON,
  force: 'bool',
  routes: 'bool',
  'purge-ipam': 'bool',
  'data-dir': 'string',
  stay: 'bool',
};
export const ROUTES: FlagSpec = { ...API, ...AGENT };
export const PROBE: FlagSpec = { 'status-file': 'string', live: 'bool' };

export const INSTALL_HELP = `
  tsbridge install       copy this binary into --cni-bin-dir and write the conflist into --cni-conf-dir
      --pod-cidr CIDR[,CIDR]   this node's pod CIDR(s); else read from the API (spec.podCIDRs of --node-name)
      --node-name NAME         the Node object (DaemonSet: TSBRIDGE_NODE_NAME from spec.nodeName)
      --cni-bin-dir DIR        default /opt/cni/bin        --cni-conf-dir DIR   default /etc/cni/net.d
      --conf-name FILE         default 10-tsbridge.conflist  --network NAME    default tsbridge
      --bridge NAME  (cni0)  --mtu N  --ip-masq  --data-dir DIR (host-local dataDir)
      --no-port-mappings       do not declare the portMappings capability (hostPort)
      --log-level L --log-file F --log-format text|json   the plugin's logLevel/logFile/logFormat
      --watch                  keep running, restore the files when removed or changed
                               (default on inside a pod; --no-watch to exit after installing)
      --interval S             file check period with --watch (default 10)
      --status-file F          with --watch: record each check there, for \`tsbridge probe\`
      --routes                 also program routes to the other nodes' pod CIDRs (implies running on)
      --cluster-cidr CIDR[,CIDR]  the cluster's pod network(s), one per family (needed by --routes;
                               routes outside it are refused; also checks this node's pod CIDR)
      --max-routes N           at most N routes to other nodes (default ${DEFAULT_MAX_ROUTES})
      --resync S               route table re-check period (default 60)
      --wait S                 how long to wait for the node's pod CIDR (default 60; forever with --watch)
      --api-server URL --token-file F --ca-file F   default: in-cluster service account
      --kubeconfig FILE        server, CA and credentials from a kubeconfig (its current context)
`;
export const UNINSTALL_HELP = `
  tsbridge uninstall     remove the conflist, then the binary, if they are ours
      --cni-bin-dir DIR --cni-conf-dir DIR --conf-name FILE --network NAME   as for install
      --force  remove even if not ours   --routes  also delete tsbridge's routes (proto 116)
      --purge-ipam [--data-dir DIR]  also delete host-local's reservations of the network
      --stay   then keep running until SIGTERM (so a clean-up DaemonSet's pods stay Running)
`;
export const ROUTES_HELP = `
  tsbridge routes        only the route agent: a route to every other node's pod CIDR(s) via its InternalIP
      --node-name NAME --cluster-cidr CIDR[,CIDR] --max-routes N --resync S   as for install
      --api-server URL --token-file F --ca-file F | --kubeconfig FILE         as for install
      --status-file F          record each route sync there, for \`tsbridge probe\`
`;
export const PROBE_HELP = `
  tsbridge probe         exit 0 when the agent that writes --status-file is healthy (DaemonSet exec probes)
      --status-file F          what install --watch or routes records (TSBRIDGE_STATUS_FILE)
      --live                   liveness: its loop ran recently (default, readiness: its last check or
                               route sync succeeded within its period, and the installed files are unchanged)
`;
export const K8S_HELP = `
Kubernetes (see docs/kubernetes.md; every flag may also be set as TSBRIDGE_<FLAG>, e.g. TSBRIDGE_NODE_NAME):
${INSTALL_HELP.slice(1)}${UNINSTALL_HELP.slice(1)}${ROUTES_HELP.slice(1)}${PROBE_HELP.slice(1)}`;

/**
 * Control characters (a newline in a name or an API message would forge a log line) as \xNN: one function for all logs.
 */
export { escapeControls };

function out(): Logger {
  const line = (m: string): string => `${new Date().toISOString()} ${escapeControls(m)}\n`;
  return { info: (m) => process.stdout.write(line(m)), warn: (m) => process.stderr.write(line(`warning: ${m}`)) };
}

const str = (f: FlagValues, k: string, dflt: string): string => (typeof f[k] === 'string' ? (f[k] as string) : dflt);

function seconds(f: FlagValues, k: string, dflt: number): number {
  const v = f[k];
  if (v === undefined) return dflt * 1000;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${k}: "${v}" is not a positive number of seconds`);
  return n * 1000;
}

function paths(f: FlagValues): { binPath: string; confPath: string; network: string } {
  const confName = str(f, 'conf-name', '10-tsbridge.conflist');
  if (confName.includes('/') || !/\.conflist$/.test(confName))
    throw new UsageError(`--conf-name must be a file name ending in .conflist`);
  const network = str(f, 'network', 'tsbridge');
  // it names a directory under --data-dir that --purge-ipam empties: no "/", no "..", not empty
  if (!NETWORK_NAME.test(network))
    throw new UsageError(
      `--network: "${network}" is not a network name (letters, ` +
        `digits, "_", ".", "-"; not starting with "." or "-")`,
    );
  return {
    binPath: path.join(str(f, 'cni-bin-dir', '/opt/cni/bin'), BIN_NAME),
    confPath: path.join(str(f, 'cni-conf-dir', '/etc/cni/net.d'), confName),
    network,
  };
}

function clusterCidrsOf(f: FlagValues): string[] {
  const given = f['cluster-cidr'] as string[] | undefined;
  if (!given?.length) return [];
  try {
    return parsePodCidrs(given, 'cluster CIDR');
  } catch (e) {
    throw new UsageError(`--cluster-cidr: ${(e as Error).message}`);
  }
}

interface AgentFlags {
  clusterCidrs: string[];
  maxRoutes: number;
  resyncMs: number;
}

/** The route agent's flags, checked before anything is written: no agent without the cluster CIDR. */
function agentFlags(f: FlagValues): AgentFlags {
  const clusterCidrs = clusterCidrsOf(f);
  if (!clusterCidrs.length)
    throw new UsageError(
      '--cluster-cidr (or TSBRIDGE_CLUSTER_CIDR) is needed for the route ' +
        'agent: the pod network of the cluster (kube-controller-manager --cluster-cidr), one CIDR per family; pod ' +
        'CIDRs ' +
        'outside it are never routed',
    );
  const maxRoutes = f['max-routes'] === undefined ? DEFAULT_MAX_ROUTES : Number(f['max-routes']);
  if (!Number.isInteger(maxRoutes) || maxRoutes < 1)
    throw new UsageError(`--max-routes: "${f['max-routes']}" is not a positive integer`);
  return { clusterCidrs, maxRoutes, resyncMs: seconds(f, 'resync', 60) };
}

/** The API server's address when it is given as one (a name is not an address we could check). */
function apiServerIps(client: ApiClient): string[] {
  const host = new URL(client.cfg.server).hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? [host] : [];
}

/** This node's addresses but the pod bridge's (it holds the gateway of the pod CIDR itself). */
function nodeAddrs(bridge: string): HostAddr[] {
  const out: HostAddr[] = [];
  for (const [ifname, list] of Object.entries(os.networkInterfaces())) {
    if (ifname === bridge) continue;
    for (const a of list ?? [])
      out.push({
        address: a.address,
        prefix: Number(a.cidr?.split('/')[1] ?? (a.family === 'IPv4' ? 32 : 128)),
        ifname,
      });
  }
  return out;
}

/** The executable to copy: --binary, else this very file when it is the single executable. */
function sourceBinary(f: FlagValues): string | undefined {
  return typeof f.binary === 'string' ? f.binary : isCompiled() ? process.execPath : undefined;
}

function api(f: FlagValues): ApiClient {
  return new ApiClient(
    apiConfig(
      {
        server: f['api-server'] as string | undefined,
        tokenFile: f['token-file'] as string | undefined,
        caFile: f['ca-file'] as string | undefined,
        kubeconfig: f.kubeconfig as string | undefined,
      },
      process.env,
    ),
  );
}

function nodeName(f: FlagValues, why: string): string {
  if (typeof f['node-name'] !== 'string' || !f['node-name'])
    throw new UsageError(`--node-name (or TSBRIDGE_NODE_NAME) is needed ${why}`);
  return f['node-name'];
}

/** SIGTERM (pod deletion, rolling update) and SIGINT stop the loops; installed files stay. */
function stopSignal(): AbortSignal {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return ac.signal;
}

async function install(argv: string[], log: Logger): Promise<number> {
  const f = parseFlags(argv, INSTALL, process.env);
  const p = paths(f);
  const source = sourceBinary(f);
  if (!source) throw new UsageError('--binary is needed when not running the built single executable');
  const inPod = !!process.env.KUBERNETES_SERVICE_HOST;
  const watch = f.watch === undefined ? inPod : f.watch === true;
  const routes = f.routes === true;
  // checked before anything is written
  const self = routes ? nodeName(f, 'for --routes') : '';
  const agent = routes ? agentFlags(f) : undefined;
  const clusterCidrs = clusterCidrsOf(f);
  const logSettings = logFlags(f);
  const mtu = f.mtu === undefined ? undefined : Number(f.mtu);
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535))
    throw new UsageError(`--mtu: "${f.mtu}" is not an MTU`);
  const stop = stopSignal();
  const status =
    typeof f['status-file'] === 'string'
      ? new StatusWriter(f['status-file'], 'install', seconds(f, 'interval', 10))
      : undefined;
  status?.record('installing (waiting for the pod CIDR?)');

  let podCidrs: string[];
  let apiServer: string[] = [];
  if (typeof f['pod-cidr'] === 'string') {
    podCidrs = parsePodCidrs(f['pod-cidr']);
  } else {
    const node = nodeName(f, 'to read the pod CIDR from the API (or give --pod-cidr)');
    apiServer = apiServerIps(api(f));
    try {
      podCidrs = await podCidrsFromApi(api(f), node, {
        timeoutMs: watch || routes ? Number.MAX_SAFE_INTEGER : seconds(f, 'wait', 60),
        pollMs: 2000,
        log,
        signal: stop,
      });
    } catch (e) {
      if (stop.aborted) return 0; // stopped while waiting for the CIDR: nothing was written, nothing to undo
      throw e;
    }
  }
  if (stop.aborted) return 0;
  const bridge = str(f, 'bridge', 'cni0');
  // the node's own pod CIDR gets the checks every other node's gets from the route agent
  const refused = ownPodCidrProblems(podCidrs, { clusterCidrs, apiServer, hostAddrs: nodeAddrs(bridge) });
  if (refused.length) throw new Error(`refusing to install: ${refused.join('; ')}`);
  const conflist = renderConflist({
    network: p.network,
    bridge,
    podCidrs,
    mtu,
    ipMasq: f['ip-masq'] === true,
    dataDir: f['data-dir'] as string | undefined,
    portMappings: f['port-mappings'] !== false,
    log: logSettings,
  });
  const inst = new Installer({ source, binPath: p.binPath, confPath: p.confPath, conflist });
  const r = inst.ensure();
  // the probe's view: both files as verified just now (the binary by its stat, the config by content)
  const installed = (error?: string): void =>
    status?.record(
      error,
      error ? undefined : [markNow(p.binPath, 'stamp'), markNow(p.confPath, 'sha256')].filter((m) => m !== undefined),
    );
  installed();
  log.info(`${p.binPath}: ${r.binary}; ${p.confPath}: ${r.conflist} (pod CIDRs ${podCidrs.join(', ')})`);
  const before = configsBefore(fs.readdirSync(path.dirname(p.confPath)), path.basename(p.confPath));
  if (before.length)
    log.warn(
      `the runtime uses the lexically first config: ${before.join(', ')} in ` +
        `${path.dirname(p.confPath)} come(s) before ${path.basename(p.confPath)}`,
    );
  if (!watch && !routes) return 0;

  memoryOnSignal((m) => log.info(m), stop);
  const jobs: Promise<void>[] = [];
  if (watch) jobs.push(keepInstalled(inst, seconds(f, 'interval', 10), log, stop, installed));
  if (agent) {
    const { RouteAgent } = await routesModule();
    const client = api(f);
    // with --watch the status file is the installer's; the agent's shows in the log
    jobs.push(new RouteAgent(client, { self, ...agent, apiServer: apiServerIps(client) }, log).run(stop));
  }
  log.info(
    `running${watch ? ', keeping the files in place' : ''}${routes ? ', programming routes to the other nodes' : ''}`,
  );
  await Promise.all(jobs);
  log.info('stopped (installed files left in place)');
  return 0;
}

async function runUninstall(argv: string[], log: Logger): Promise<number> {
  const f = parseFlags(argv, UNINSTALL, process.env);
  const p = paths(f);
  const r = uninstall({ ...p, source: sourceBinary(f), force: f.force === true });
  log.info(`${p.confPath}: ${r.conflist}; ${p.binPath}: ${r.binary}`);
  if (f.routes === true) {
    const { removeAllRoutes } = await routesModule();
    log.info(`removed ${await removeAllRoutes(log)} route(s) of tsbridge`);
  }
  if (f['purge-ipam'] === true) {
    const dataDir = str(f, 'data-dir', '/var/lib/cni/networks');
    const pr = purgeIpam(dataDir, p.network);
    log.info(
      `${path.join(dataDir, p.network)}: removed ` +
        `${pr.removed} file(s)${pr.kept.length ? `, kept ${pr.kept.join(', ')}` : ''}`,
    );
  }
  const status = r.conflist === 'kept (not ours)' || r.binary === 'kept (not ours)' ? 1 : 0;
  if (f.stay === true) {
    const stop = stopSignal();
    log.info('done; staying until stopped');
    await new Promise<void>((resolve) => {
      const keepAlive = setInterval(() => undefined, 1 << 30);
      stop.addEventListener(
        'abort',
        () => {
          clearInterval(keepAlive);
          resolve();
        },
        { once: true },
      );
    });
  }
  return status;
}

async function runRoutes(argv: string[], log: Logger): Promise<number> {
  const f = parseFlags(argv, ROUTES, process.env);
  const self = nodeName(f, 'for the route agent');
  const agent = agentFlags(f);
  const client = api(f);
  const { RouteAgent } = await routesModule();
  const status =
    typeof f['status-file'] === 'string' ? new StatusWriter(f['status-file'], 'routes', agent.resyncMs) : undefined;
  status?.record('waiting for the first list of the nodes');
  const onSync = status ? (error?: string): void => status.record(error) : undefined;
  const stop = stopSignal();
  memoryOnSignal((m) => log.info(m), stop);
  await new RouteAgent(client, { self, ...agent, apiServer: apiServerIps(client), onSync }, log).run(stop);
  return 0;
}

/** `tsbridge probe`: the DaemonSet's exec probes. 0 healthy, 1 not (why on stderr). */
function runProbe(argv: string[]): number {
  const f = parseFlags(argv, PROBE, process.env);
  if (typeof f['status-file'] !== 'string') throw new UsageError('--status-file (or TSBRIDGE_STATUS_FILE) is needed');
  const why = probeStatusFile(f['status-file'], f.live === true);
  if (why) process.stderr.write(`tsbridge probe: ${escapeControls(why)}\n`);
  return why ? 1 : 0;
}

/** --log-level, --log-file, --log-format: written into the plugin's netconf. */
function logFlags(f: FlagValues): LogSettings | undefined {
  const out: LogSettings = {};
  for (const [flag, key] of [
    ['log-level', 'logLevel'],
    ['log-file', 'logFile'],
    ['log-format', 'logFormat'],
  ] as const) {
    const v = f[flag];
    if (typeof v !== 'string') continue;
    const why = logSettingProblem(key, v);
    if (why) throw new UsageError(`--${flag}: ${why}`);
    out[key] = v as never;
  }
  return Object.keys(out).length ? out : undefined;
}

export type K8sCommand = 'install' | 'uninstall' | 'routes' | 'probe';
export const K8S_USAGE: Record<K8sCommand, string> = {
  install: INSTALL_HELP,
  uninstall: UNINSTALL_HELP,
  routes: ROUTES_HELP,
  probe: PROBE_HELP,
};

/** Exit status: 0 done (or help), 1 failed, 2 usage error. */
export async function runK8s(cmd: K8sCommand, argv: string[]): Promise<number> {
  const log = out();
  try {
    if (cmd === 'install') return await install(argv, log);
    if (cmd === 'uninstall') return await runUninstall(argv, log);
    if (cmd === 'probe') return runProbe(argv);
    return await runRoutes(argv, log);
  } catch (e) {
    try {
      return usageExit(cmd, e, K8S_USAGE[cmd], escapeControls);
    } catch {
      process.stderr.write(`tsbridge ${cmd}: ${escapeControls((e as Error).message)}\n`);
      return 1;
    }
  }
}
