// --kubeconfig: the route agent and install outside a pod (a host, a VM, a test) with the API
// server, CA and credentials of a kubeconfig's current context. Bearer tokens (token, tokenFile)
// and client certificates (files or inline data); exec and auth-provider plugins are not run
// (they would run another program as root).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

/** What ApiClient needs, from a kubeconfig: inline material or files (re-read per request). */
export interface KubeCredentials {
  server: string;
  ca?: Buffer;
  caFile?: string;
  token?: string;
  tokenFile?: string;
  cert?: Buffer;
  certFile?: string;
  key?: Buffer;
  keyFile?: string;
}

type Named<T> = { name?: unknown } & Record<string, T | unknown>;

function pick(list: unknown, kind: string, name: string, file: string): Record<string, unknown> {
  const items = Array.isArray(list) ? (list as Named<Record<string, unknown>>[]) : [];
  const it = items.find((x) => x && x.name === name);
  const body = it?.[kind];
  if (!body || typeof body !== 'object') throw new Error(`${file}: no ${kind} named "${name}"`);
  return body as Record<string, unknown>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Parse a kubeconfig's text; relative file names are taken from `dir` (the kubeconfig's folder, as kubectl does). */
export function parseKubeconfig(text: string, dir: string, file = 'kubeconfig', context?: string): KubeCredentials {
  const doc = parse(text) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object') throw new Error(`${file}: not a kubeconfig`);
  const ctxName = context ?? str(doc['current-context']);
  if (!ctxName) throw new Error(`${file}: no current-context`);
  const ctx = pick(doc.contexts, 'context', ctxName, file);
  const cluster = pick(doc.clusters, 'cluster', String(ctx.cluster ?? ''), file);
  const user = ctx.user === undefined ? {} : pick(doc.users, 'user', String(ctx.user), file);
  const abs = (p: unknown): string | undefined => (str(p) ? path.resolve(dir, p as string) : undefined);
  const data = (v: unknown): Buffer | undefined => (str(v) ? Buffer.from(v as string, 'base64') : undefined);

  const server = str(cluster.server);
  if (!server) throw new Error(`${file}: cluster of context "${ctxName}" has no server`);
  if (cluster['insecure-skip-tls-verify'] === true)
    throw new Error(`${file}: insecure-skip-tls-verify is refused: give the cluster's certificate-authority`);
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    throw new Error(
      `${file}: user of context "${ctxName}" uses an exec or auth-provider plugin, which tsbridge does ` +
        `not run: use a token, a token file or a client certificate`,
    );
  }
  const c: KubeCredentials = {
    server,
    ca: data(cluster['certificate-authority-data']),
    caFile: abs(cluster['certificate-authority']),
    token: str(user.token),
    tokenFile: abs(user.tokenFile),
    cert: data(user['client-certificate-data']),
    certFile: abs(user['client-certificate']),
    key: data(user['client-key-data']),
    keyFile: abs(user['client-key']),
  };
  if (!c.ca && !c.caFile)
    throw new Error(
      `${file}: cluster of context "${ctxName}" names no ` +
        `certificate-authority(-data): the server could not be verified`,
    );
  if (!c.token && !c.tokenFile && !(c.cert || c.certFile))
    throw new Error(`${file}: user of context "${ctxName}" has no token, tokenFile or client certificate`);
  if (!!(c.cert || c.certFile) !== !!(c.key || c.keyFile))
    throw new Error(
      `${file}: user of context ` +
        `"${ctxName}" has a client certificate without its key (or a key without its certificate)`,
    );
  for (const k of Object.keys(c) as (keyof KubeCredentials)[]) if (c[k] === undefined) delete c[k];
  return c;
}

export function readKubeconfig(file: string): KubeCredentials {
  return parseKubeconfig(fs.readFileSync(file, 'utf8'), path.dirname(path.resolve(file)), file);
}
