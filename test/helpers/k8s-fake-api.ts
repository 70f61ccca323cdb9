// A small stand-in for the Kubernetes API server: HTTPS with a CA made for the test (openssl),
// bearer-token check, and Node objects at the real paths in the real JSON shapes: GET
// /api/v1/nodes/<name>, GET /api/v1/nodes (NodeList), and GET /api/v1/nodes?watch=1 (one JSON event
// per line, resourceVersion, bookmarks, timeoutSeconds, 410 when the version is too old).
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import { IncomingMessage, ServerResponse } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { withNetns } from '../../src/sys/netns';

export interface NodeObject {
  kind: 'Node';
  apiVersion: 'v1';
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels: Record<string, string>;
  };
  spec: { podCIDR?: string; podCIDRs?: string[]; taints?: unknown[] };
  status: { addresses: { type: string; address: string }[]; conditions: unknown[] };
}

/** A Node as the API returns it; `legacy` sets only spec.podCIDR (clusters before 1.16). */
export function makeNode(name: string, podCidrs: string[], internalIps: string[], legacy = false): NodeObject {
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name,
      uid: crypto.randomUUID(),
      resourceVersion: '0',
      creationTimestamp: new Date().toISOString(),
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' },
    },
    spec: podCidrs.length ? (legacy ? { podCIDR: podCidrs[0] } : { podCIDR: podCidrs[0], podCIDRs: podCidrs }) : {},
    status: {
      addresses: [
        ...internalIps.map((address) => ({ type: 'InternalIP', address })),
        { type: 'Hostname', address: name },
      ],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
    },
  };
}

/**
 * CA + server certificate for the given IP SANs, and a second, unrelated CA with a server
 * certificate of its own for the same names (a server the client must not trust).
 */
export function makeTls(
  dir: string,
  ips: string[],
): { caFile: string; otherCaFile: string; key: Buffer; cert: Buffer; otherKey: Buffer; otherCert: Buffer } {
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    run(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=tsbt-${ca}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    );
  }
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver');
  fs.writeFileSync(
    path.join(dir, 'ext.cnf'),
    `subjectAltName=${ips.map((i) => `IP:${i}`).join(',')},DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n`,
  );
  // the same server key signed by each CA
  const sign = (ca: string, out: string): void => {
    const by = ['-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial'];
    run('x509', '-req', '-in', 'server.csr', ...by, '-out', out, '-days', '2', '-extfile', 'ext.cnf');
  };
  sign('ca', 'server.crt');
  sign('other-ca', 'other-server.crt');
  const read = (f: string): Buffer => fs.readFileSync(path.join(dir, f));
  return {
    caFile: path.join(dir, 'ca.crt'),
    otherCaFile: path.join(dir, 'other-ca.crt'),
    key: read('server.key'),
    cert: read('server.crt'),
    otherKey: read('server.key'),
    otherCert: read('other-server.crt'),
  };
}

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: NodeObject;
}

export class FakeApi {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-k8sapi-'));
  readonly token = `tsbt-token-${crypto.randomBytes(8).toString('hex')}`;
  readonly tokenFile = path.join(this.dir, 'token');
  readonly caFile: string;
  readonly otherCaFile: string;
  /** every request: method, path and whether the bearer token matched */
  readonly requests: { method: string; url: string; authorized: boolean }[] = [];
  port = 0;
  /**
   * A test's own answer to a request (a hostile or broken server): return true when it answered.
   * Called for authorized requests before the normal handling.
   */
  intercept?: (u: URL, res: ServerResponse) => boolean;
  private rv = 1000;
  /** events before this resourceVersion are forgotten (a watch from older gets 410 Gone) */
  private oldestRv = 1000;
  private readonly nodes = new Map<string, NodeObject>();
  private readonly events: Event[] = [];
  /** `sent`: the newest event written to the stream (a hang holds events back) */
  private readonly watchers = new Set<{ res: ServerResponse; from: number; sent: number }>();
  private readonly server: https.Server;
  private readonly tls: ReturnType<typeof makeTls>;
  /** while hung: requests held unanswered, watch streams silent (see hang()) */
  private held: { req: IncomingMessage; res: ServerResponse }[] | undefined;

  constructor(ips: string[]) {
    const tls = makeTls(this.dir, ips);
    this.tls = tls;
    this.caFile = tls.caFile;
    this.otherCaFile = tls.otherCaFile;
    fs.writeFileSync(this.tokenFile, this.token + '\n', { mode: 0o600 });
    this.server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => this.handle(req, res));
  }

  /** Listen on `host` (e.g. 127.0.0.1), or on all addresses inside the network namespace at nsPath. */
  listen(o: { host?: string; nsPath?: string }): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.once('listening', () => {
        this.port = (this.server.address() as { port: number }).port;
        resolve(this.port);
      });
      // without a host, listen() creates and binds the socket synchronously: it is born in the namespace
      if (o.nsPath) withNetns(o.nsPath, () => this.server.listen(0));
      else this.server.listen(0, o.host ?? '127.0.0.1');
    });
  }

  url(host: string): string {
    return `https://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  setNode(n: NodeObject): void {
    const type = this.nodes.has(n.metadata.name) ? 'MODIFIED' : 'ADDED';
    const obj = JSON.parse(JSON.stringify(n)) as NodeObject;
    obj.metadata.resourceVersion = String(++this.rv);
    this.nodes.set(n.metadata.name, obj);
    this.emit({ rv: this.rv, type, object: obj });
  }

  deleteNode(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    this.nodes.delete(name);
    const obj = { ...n, metadata: { ...n.metadata, resourceVersion: String(++this.rv) } };
    this.emit({ rv: this.rv, type: 'DELETED', object: obj });
  }

  /**
   * Forget the event history (etcd compaction) and end every open watch (API server restart): a
   * client resuming from the resourceVersion it had gets 410 and must list again.
   */
  compact(): void {
    this.oldestRv = ++this.rv;
    this.events.length = 0;
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /**
   * End every open watch stream (`reset`: destroy the connection instead of a clean end), as a load balancer or an API
   * restart does.
   */
  dropWatchers(reset = false): number {
    const n = this.watchers.size;
    for (const w of this.watchers)
      if (reset) w.res.destroy();
      else w.res.end();
    this.watchers.clear();
    return n;
  }

  /**
   * Stop answering (a stalled API server): until resume(), every request is accepted and held
   * without an answer and the open watch streams carry nothing; resume() answers the held
   * requests and sends the streams what they missed.
   */
  hang(): void {
    this.held ??= [];
  }

  resume(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const w of this.watchers) this.catchUp(w);
    for (const h of held) if (!h.res.destroyed) this.handle(h.req, h.res, false);
  }

  /**
   * Present a certificate of another CA (`on`) or the right one again. Open connections are
   * closed, so every client meets the new certificate on its next request.
   */
  foreignCert(on: boolean): void {
    this.server.setSecureContext(
      on ? { key: this.tls.otherKey, cert: this.tls.otherCert } : { key: this.tls.key, cert: this.tls.cert },
    );
    this.dropWatchers(true);
    this.server.closeAllConnections();
  }

  /** The Node objects the API holds now. */
  currentNodes(): NodeObject[] {
    return [...this.nodes.values()];
  }

  /** Write raw text into every open watch stream (e.g. one line longer than any event should be). */
  writeWatchers(text: string | Buffer): void {
    for (const w of this.watchers) if (!w.res.writableEnded) w.res.write(text);
  }

  /** How many full lists of the nodes were served. */
  get lists(): number {
    return this.requests.filter((r) => r.url === '/api/v1/nodes' && r.authorized).length;
  }

  /** Number of watch streams open now. */
  get watching(): number {
    return this.watchers.size;
  }

  close(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    this.server.closeAllConnections();
    fs.rmSync(this.dir, { recursive: true, force: true });
    // bounded: a client that never lets go must not keep a test's clean-up waiting
    return new Promise((r) => {
      const t = setTimeout(r, 2000);
      this.server.close(() => {
        clearTimeout(t);
        r();
      });
    });
  }

  private emit(e: Event): void {
    this.events.push(e);
    if (this.held) return;
    for (const w of this.watchers) this.catchUp(w);
  }

  /** Write the events a watch stream has not had yet. */
  private catchUp(w: { res: ServerResponse; from: number; sent: number }): void {
    if (w.res.writableEnded) return;
    let i = this.events.length;
    while (i > 0 && this.events[i - 1].rv > w.sent) i--; // the history is in rv order: only its tail is new
    for (const e of this.events.slice(i)) {
      w.res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n');
      w.sent = e.rv;
    }
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }),
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse, log = true): void {
    const authorized = req.headers.authorization === `Bearer ${this.token}`;
    if (log) this.requests.push({ method: req.method ?? '', url: req.url ?? '', authorized });
    if (this.held) return void this.held.push({ req, res });
    if (!authorized) return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    const u = new URL(req.url ?? '/', 'https://x');
    if (this.intercept?.(u, res)) return;
    const one = /^\/api\/v1\/nodes\/([^/]+)$/.exec(u.pathname);
    if (req.method !== 'GET') return this.status(res, 405, 'MethodNotAllowed', 'only GET here');
    if (one) {
      const n = this.nodes.get(decodeURIComponent(one[1]));
      if (!n) return this.status(res, 404, 'NotFound', `nodes "${one[1]}" not found`);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return void res.end(JSON.stringify(n));
    }
    if (u.pathname !== '/api/v1/nodes')
      return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
    if (u.searchParams.get('watch') === '1' || u.searchParams.get('watch') === 'true') return this.watch(u, res);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'NodeList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv) },
        items: [...this.nodes.values()],
      }),
    );
  }

  private watch(u: URL, res: ServerResponse): void {
    const from = Number(u.searchParams.get('resourceVersion') || this.rv);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    if (from < this.oldestRv) {
      // what the real server sends: HTTP 200, then one ERROR event carrying a 410 Status
      res.end(
        JSON.stringify({
          type: 'ERROR',
          object: {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: `too old resource version: ${from} (${this.oldestRv})`,
            reason: 'Expired',
            code: 410,
          },
        }) + '\n',
      );
      return;
    }
    const w = { res, from, sent: from };
    this.catchUp(w);
    this.watchers.add(w);
    const secs = Number(u.searchParams.get('timeoutSeconds') || 1800);
    const t = setTimeout(() => res.end(), secs * 1000);
    res.on('close', () => {
      clearTimeout(t);
      this.watchers.delete(w);
    });
  }
}
