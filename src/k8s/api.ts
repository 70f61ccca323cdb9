// A minimal Kubernetes API client over node:https with the pod's service account: the bearer token
// and the cluster CA are re-read for every request (kubelet rotates projected tokens, hourly by
// default), the server is https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT. Only what
// tsbridge needs: GET of one object or a list, and a watch stream.
import * as fs from 'node:fs';
import * as https from 'node:https';
import { IncomingMessage } from 'node:http';

export const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ApiConfig {
  /** https://host:port */
  server: string;
  tokenFile: string;
  caFile: string;
}

/** Flags win; else the in-cluster environment. Throws when no server can be found. */
export function apiConfig(o: { server?: string; tokenFile?: string; caFile?: string }, env: NodeJS.ProcessEnv): ApiConfig {
  let server = o.server;
  if (!server) {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT || '443';
    if (!host) throw new Error('no API server: give --api-server or run in a pod (KUBERNETES_SERVICE_HOST unset)');
    server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  const u = new URL(server);
  if (u.protocol !== 'https:') throw new Error(`API server must be https: ${server}`);
  return { server: u.origin, tokenFile: o.tokenFile ?? `${SA_DIR}/token`, caFile: o.caFile ?? `${SA_DIR}/ca.crt` };
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(message);
  }
}

export interface WatchEvent<T> { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: T }

const REQUEST_TIMEOUT_MS = 30_000;

export class ApiClient {
  constructor(readonly cfg: ApiConfig) {}

  private open(pathAndQuery: string, idleMs: number, signal?: AbortSignal): Promise<IncomingMessage> {
    const u = new URL(pathAndQuery, this.cfg.server);
    const token = fs.readFileSync(this.cfg.tokenFile, 'utf8').trim();
    const ca = fs.readFileSync(this.cfg.caFile);
    return new Promise((resolve, reject) => {
      const req = https.request({
        protocol: 'https:',
        hostname: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port || 443,
        path: u.pathname + u.search,
        method: 'GET',
        ca,
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', 'User-Agent': 'tsbridge' },
        signal,
        agent: false,
      }, resolve);
      // an idle connection (server gone, network partition) must not hang the agent forever
      req.setTimeout(idleMs, () => req.destroy(new Error(`GET ${u.pathname}: no answer in ${idleMs / 1000}s`)));
      req.on('error', reject);
      req.end();
    });
  }

  private static async body(res: IncomingMessage): Promise<string> {
    res.setEncoding('utf8');
    let s = '';
    for await (const chunk of res) s += chunk;
    return s;
  }

  private static async fail(res: IncomingMessage, what: string): Promise<never> {
    const text = await ApiClient.body(res).catch(() => '');
    let reason = '';
    let msg = text.slice(0, 300);
    try {
      const st = JSON.parse(text) as { reason?: string; message?: string };
      reason = st.reason ?? '';
      msg = st.message ?? msg;
    } catch { /* not a Status object */ }
    throw new ApiError(res.statusCode ?? 0, reason, `GET ${what}: HTTP ${res.statusCode}${reason ? ` ${reason}` : ''}: ${msg}`);
  }

  async get<T>(pathAndQuery: string, signal?: AbortSignal): Promise<T> {
    const res = await this.open(pathAndQuery, REQUEST_TIMEOUT_MS, signal);
    if (res.statusCode !== 200) return ApiClient.fail(res, pathAndQuery);
    return JSON.parse(await ApiClient.body(res)) as T;
  }

  /**
   * Stream a watch (one JSON event per line) into `onEvent` until the server ends it (its
   * timeoutSeconds), the connection idles for `idleMs`, or `signal` aborts.
   */
  async watch<T>(pathAndQuery: string, idleMs: number, onEvent: (e: WatchEvent<T>) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.open(pathAndQuery, idleMs, signal);
    if (res.statusCode !== 200) return ApiClient.fail(res, pathAndQuery);
    res.setEncoding('utf8');
    let buf = '';
    for await (const chunk of res) {
      buf += chunk;
      for (let nl; (nl = buf.indexOf('\n')) >= 0;) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    }
    if (buf.trim()) onEvent(JSON.parse(buf) as WatchEvent<T>);
  }
}
