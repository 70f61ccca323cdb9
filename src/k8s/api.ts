// A minimal Kubernetes API client over node:https with the pod's service account: the bearer token
// and the cluster CA are re-read for every request (kubelet rotates projected tokens, hourly by
// default), the server is https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT. Only what
// tsbridge needs: GET of one object or a list, and a watch stream.
import * as fs from 'node:fs';
import * as https from 'node:https';
import { IncomingMessage } from 'node:http';
import { KubeCredentials, readKubeconfig } from './kubeconfig';

export const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Files are re-read for every request (rotation); inline material comes from a kubeconfig. */
export interface ApiConfig extends Omit<KubeCredentials, 'server'> {
  /** https://host:port */
  server: string;
}

/**
 * Flags win; then a kubeconfig (--kubeconfig); else the in-cluster environment and service
 * account. Throws when no server can be found.
 */
export function apiConfig(
  o: { server?: string; tokenFile?: string; caFile?: string; kubeconfig?: string },
  env: NodeJS.ProcessEnv,
): ApiConfig {
  if (o.kubeconfig) {
    const k = readKubeconfig(o.kubeconfig);
    const u = new URL(o.server ?? k.server);
    if (u.protocol !== 'https:') throw new Error(`API server must be https: ${u.href}`);
    return {
      ...k,
      server: u.origin,
      ...(o.tokenFile ? { tokenFile: o.tokenFile, token: undefined } : {}),
      ...(o.caFile ? { caFile: o.caFile, ca: undefined } : {}),
    };
  }
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
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

const REQUEST_TIMEOUT_MS = 30_000;
/**
 * Bounds on what the server may make us hold (a hostile or broken server must not OOM the agent):
 * a NodeList of 5000 nodes is a few MiB, one Node watch event a few KiB.
 */
export const MAX_BODY_BYTES = 16 << 20;
export const MAX_LINE_BYTES = 1 << 20;

export class TooLargeError extends Error {}

export class ApiClient {
  constructor(readonly cfg: ApiConfig) {}

  private open(pathAndQuery: string, idleMs: number, signal?: AbortSignal): Promise<IncomingMessage> {
    const u = new URL(pathAndQuery, this.cfg.server);
    const c = this.cfg;
    const token = c.token ?? (c.tokenFile ? fs.readFileSync(c.tokenFile, 'utf8').trim() : undefined);
    const ca = c.ca ?? (c.caFile ? fs.readFileSync(c.caFile) : undefined);
    const cert = c.cert ?? (c.certFile ? fs.readFileSync(c.certFile) : undefined);
    const key = c.key ?? (c.keyFile ? fs.readFileSync(c.keyFile) : undefined);
    if (!ca) throw new Error('no CA to verify the API server with');
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          protocol: 'https:',
          hostname: u.hostname.replace(/^\[|\]$/g, ''),
          port: u.port || 443,
          path: u.pathname + u.search,
          method: 'GET',
          ca,
          cert,
          key,
          headers: {
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
            Accept: 'application/json',
            'User-Agent': 'tsbridge',
          },
          signal,
          agent: false,
        },
        resolve,
      );
      // an idle connection (server gone, network partition) must not hang the agent forever
      req.setTimeout(idleMs, () => req.destroy(new Error(`GET ${u.pathname}: no answer in ${idleMs / 1000}s`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** The whole body, at most `max` bytes; more ends the response and throws. */
  private static async body(res: IncomingMessage, max = MAX_BODY_BYTES): Promise<string> {
    const len = Number(res.headers['content-length']);
    const tooLarge = (): TooLargeError => {
      res.destroy();
      return new TooLargeError(`response body larger than ${max} bytes`);
    };
    if (len > max) throw tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw tooLarge();
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private static async fail(res: IncomingMessage, what: string): Promise<never> {
    const text = await ApiClient.body(res, 64 << 10).catch(() => '');
    let reason = '';
    let msg = text.slice(0, 300);
    try {
      const st = JSON.parse(text) as { reason?: string; message?: string };
      reason = st.reason ?? '';
      msg = st.message ?? msg;
    } catch {
      /* not a Status object */
    }
    throw new ApiError(
      res.statusCode ?? 0,
      reason,
      `GET ${what}: HTTP ${res.statusCode}${reason ? ` ${reason}` : ''}: ${msg}`,
    );
  }

  async get<T>(pathAndQuery: string, signal?: AbortSignal): Promise<T> {
    const res = await this.open(pathAndQuery, REQUEST_TIMEOUT_MS, signal);
    if (res.statusCode !== 200) return ApiClient.fail(res, pathAndQuery);
    return JSON.parse(await ApiClient.body(res)) as T;
  }

  /**
   * Stream a watch (one JSON event per line) into `onEvent` until the server ends it (its
   * timeoutSeconds), the connection idles for `idleMs`, or `signal` aborts. A line longer than
   * MAX_LINE_BYTES ends the stream with a TooLargeError (the caller lists again).
   */
  async watch<T>(
    pathAndQuery: string,
    idleMs: number,
    onEvent: (e: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const res = await this.open(pathAndQuery, idleMs, signal);
    if (res.statusCode !== 200) return ApiClient.fail(res, pathAndQuery);
    const parse = (line: Buffer): void => {
      const text = line.toString('utf8').trim();
      if (text) onEvent(JSON.parse(text) as WatchEvent<T>);
    };
    let buf: Buffer = Buffer.alloc(0);
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (let nl; (nl = buf.indexOf(0x0a)) >= 0; ) {
          if (nl > MAX_LINE_BYTES) break;
          parse(buf.subarray(0, nl));
          buf = buf.subarray(nl + 1);
        }
        if (buf.length > MAX_LINE_BYTES) throw new TooLargeError(`watch event longer than ${MAX_LINE_BYTES} bytes`);
      }
    } finally {
      res.destroy();
    }
    parse(buf);
  }
}
