// The API client and the pod-CIDR read against a fake API server on loopback: HTTPS with a CA made
// for the test, bearer token, the real paths and JSON shapes (Node, NodeList, watch events, Status).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import {
  ApiClient,
  apiConfig,
  ApiError,
  MAX_BODY_BYTES,
  MAX_LINE_BYTES,
  TooLargeError,
  WatchEvent,
} from '../../src/k8s/api';
import { Logger } from '../../src/k8s/install';
import { K8sList, K8sNode } from '../../src/k8s/node';
import { podCidrsFromApi } from '../../src/k8s/podcidr';
import { FakeApi, makeNode } from '../helpers/k8s-fake-api';

const quiet: Logger = { info: () => undefined, warn: () => undefined };

let api: FakeApi;
let client: ApiClient;

test.before(async () => {
  api = new FakeApi(['127.0.0.1']);
  await api.listen({ host: '127.0.0.1' });
  client = new ApiClient({ server: api.url('127.0.0.1'), tokenFile: api.tokenFile, caFile: api.caFile });
});
test.after(() => api.close());

test('in-cluster config from KUBERNETES_SERVICE_HOST/PORT and the service-account dir; flags win; https only', () => {
  assert.equal(apiConfig({}, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }), {
    server: 'https://10.96.0.1',
    tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
  });
  assert.is(
    apiConfig({}, { KUBERNETES_SERVICE_HOST: 'fd00:96::1', KUBERNETES_SERVICE_PORT: '6443' }).server,
    'https://[fd00:96::1]:6443',
  );
  assert.equal(
    apiConfig({ server: 'https://127.0.0.1:9443', tokenFile: '/t', caFile: '/c' }, { KUBERNETES_SERVICE_HOST: 'x' }),
    { server: 'https://127.0.0.1:9443', tokenFile: '/t', caFile: '/c' },
  );
  assert.throws(() => apiConfig({}, {}), /no API server/);
  assert.throws(() => apiConfig({ server: 'http://127.0.0.1:8080' }, {}), /must be https/);
});

test('GET a Node with the bearer token, verified against the cluster CA', async () => {
  api.setNode(makeNode('node-a', ['10.244.1.0/24', 'fd00:10:244:1::/64'], ['192.168.50.1']));
  const n = await client.get<K8sNode>('/api/v1/nodes/node-a');
  assert.equal(n.spec?.podCIDRs, ['10.244.1.0/24', 'fd00:10:244:1::/64']);
  const last = api.requests[api.requests.length - 1];
  assert.equal(last, { method: 'GET', url: '/api/v1/nodes/node-a', authorized: true });
});

test('errors: 404 and 401 come back as ApiError with the Status reason; a token re-read per request', async () => {
  try {
    await client.get('/api/v1/nodes/nope');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ApiError);
    assert.is((e as ApiError).status, 404);
    assert.is((e as ApiError).reason, 'NotFound');
  }
  const saved = fs.readFileSync(api.tokenFile, 'utf8');
  fs.writeFileSync(api.tokenFile, 'wrong');
  try {
    await client.get('/api/v1/nodes/node-a');
    assert.unreachable();
  } catch (e) {
    assert.is((e as ApiError).status, 401);
  } finally {
    fs.writeFileSync(api.tokenFile, saved);
  }
  await client.get('/api/v1/nodes/node-a'); // the rotated (restored) token is used at once
});

test('a server whose certificate the CA file does not vouch for is refused', async () => {
  const other = new ApiClient({ server: api.url('127.0.0.1'), tokenFile: api.tokenFile, caFile: api.otherCaFile });
  const before = api.requests.length;
  try {
    await other.get('/api/v1/nodes/node-a');
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /certificate|self.signed|issuer/i);
  }
  assert.is(api.requests.length, before, 'no request (and no token) was sent');
  // the certificate names 127.0.0.1 only: another address of this host does not match it
  const wrongName = new ApiClient({
    server: `https://localhost:${api.port}`,
    tokenFile: api.tokenFile,
    caFile: api.caFile,
  });
  await wrongName.get('/api/v1/nodes/node-a').then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /altname|Hostname|IP/i),
  );
});

test(
  'pod CIDRs: dual stack from spec.podCIDRs, legacy ' + 'spec.podCIDR, and waiting until the controller assigns them',
  async () => {
    assert.equal(await podCidrsFromApi(client, 'node-a', { timeoutMs: 1000, pollMs: 50, log: quiet }), [
      '10.244.1.0/24',
      'fd00:10:244:1::/64',
    ]);
    api.setNode(makeNode('old', ['10.244.7.0/24'], ['192.168.50.7'], true));
    assert.equal(await podCidrsFromApi(client, 'old', { timeoutMs: 1000, pollMs: 50, log: quiet }), ['10.244.7.0/24']);
    api.setNode(makeNode('late', [], ['192.168.50.8']));
    const waiting = podCidrsFromApi(client, 'late', { timeoutMs: 5000, pollMs: 50, log: quiet });
    setTimeout(() => api.setNode(makeNode('late', ['10.244.8.0/24'], ['192.168.50.8'])), 300);
    assert.equal(await waiting, ['10.244.8.0/24']);
    await podCidrsFromApi(client, 'never', { timeoutMs: 300, pollMs: 50, log: quiet }).then(
      () => assert.unreachable(),
      (e: Error) => assert.match(e.message, /no pod CIDR for node never: .*not found/),
    );
  },
);

test('a wrong token is not waited out', async () => {
  const bad = `${api.dir}/bad-token`;
  fs.writeFileSync(bad, 'nope');
  const c = new ApiClient({ server: api.url('127.0.0.1'), tokenFile: bad, caFile: api.caFile });
  const t0 = Date.now();
  await podCidrsFromApi(c, 'node-a', { timeoutMs: 10_000, pollMs: 50, log: quiet }).then(
    () => assert.unreachable(),
    (e: ApiError) => assert.is(e.status, 401),
  );
  assert.ok(Date.now() - t0 < 2000);
});

test(
  'list + watch: NodeList resourceVersion, events after it, ' + 'server-side timeout ends the stream, 410 when too old',
  async () => {
    const list = await client.get<K8sList<K8sNode>>('/api/v1/nodes');
    assert.ok(list.items.some((n) => n.metadata.name === 'node-a'));
    const rv = list.metadata.resourceVersion!;
    const seen: WatchEvent<K8sNode>[] = [];
    const done = client.watch<K8sNode>(`/api/v1/nodes?watch=1&resourceVersion=${rv}&timeoutSeconds=1`, 5000, (e) =>
      seen.push(e),
    );
    setTimeout(() => {
      api.setNode(makeNode('node-b', ['10.244.2.0/24'], ['192.168.50.2']));
      api.deleteNode('old');
    }, 100);
    await done;
    assert.equal(
      seen.map((e) => `${e.type} ${e.object.metadata.name}`),
      ['ADDED node-b', 'DELETED old'],
    );
    assert.ok(Number(seen[1].object.metadata.resourceVersion) > Number(rv));
    api.compact();
    const gone: WatchEvent<{ code?: number }>[] = [];
    await client.watch<{ code?: number }>(`/api/v1/nodes?watch=1&resourceVersion=${rv}`, 5000, (e) => gone.push(e));
    assert.equal(
      gone.map((e) => [e.type, e.object.code]),
      [['ERROR', 410]],
    );
  },
);

/** Stream `total` bytes of one JSON string in 64 KiB chunks, honouring backpressure; count what the socket took. */
function stream(
  res: import('node:http').ServerResponse,
  head: string,
  total: number,
  tail: string,
  sent: { bytes: number },
): void {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  const chunk = Buffer.alloc(64 << 10, 0x61);
  res.write(head);
  const pump = (): void => {
    while (sent.bytes < total) {
      sent.bytes += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end(tail);
  };
  res.on('error', () => undefined);
  pump();
}

test('a response body over the cap is an error, and is not read to its end', async () => {
  const sent = { bytes: 0 };
  api.intercept = (u, res) => {
    if (u.pathname !== '/api/v1/nodes/huge') return false;
    stream(res, '{"metadata":{"name":"', 3 * MAX_BODY_BYTES, '"}}', sent);
    return true;
  };
  try {
    await client.get('/api/v1/nodes/huge').then(
      () => assert.unreachable(),
      (e: Error) => {
        assert.instance(e, TooLargeError);
        assert.match(e.message, /response body larger than 16777216 bytes/);
      },
    );
    assert.ok(sent.bytes < 3 * MAX_BODY_BYTES, `the client hung up early (${sent.bytes} bytes sent)`);
    // a declared Content-Length over the cap is refused before any of the body is read
    api.intercept = (u, res) => {
      if (u.pathname !== '/api/v1/nodes/declared') return false;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(MAX_BODY_BYTES + 1) });
      res.write('{');
      return true;
    };
    await client.get('/api/v1/nodes/declared').then(
      () => assert.unreachable(),
      (e: Error) => assert.instance(e, TooLargeError),
    );
    // positive control: just under the cap is read
    api.intercept = (u, res) => {
      if (u.pathname !== '/api/v1/nodes/big') return false;
      stream(res, '{"metadata":{"name":"', MAX_BODY_BYTES - (128 << 10), '"}}', { bytes: 0 });
      return true;
    };
    const n = await client.get<K8sNode>('/api/v1/nodes/big');
    assert.ok(n.metadata.name.length > MAX_BODY_BYTES / 2);
  } finally {
    api.intercept = undefined;
  }
});

test('a watch line over the cap ends the watch with an error; the events before it were delivered', async () => {
  const sent = { bytes: 0 };
  api.intercept = (u, res) => {
    if (u.searchParams.get('watch') !== '1') return false;
    const ev =
      JSON.stringify({ type: 'ADDED', object: makeNode('before', ['10.244.9.0/24'], ['192.168.50.9']) }) + '\n';
    stream(res, ev + '{"type":"ADDED","object":{"metadata":{"name":"', 8 * MAX_LINE_BYTES, '"}}}\n', sent);
    return true;
  };
  try {
    const seen: string[] = [];
    await client
      .watch<K8sNode>('/api/v1/nodes?watch=1&resourceVersion=1', 5000, (e) => seen.push(e.object.metadata.name))
      .then(
        () => assert.unreachable(),
        (e: Error) => {
          assert.instance(e, TooLargeError);
          assert.match(e.message, /watch event longer than 1048576 bytes/);
        },
      );
    assert.equal(seen, ['before']);
    assert.ok(sent.bytes < 8 * MAX_LINE_BYTES, `the client hung up early (${sent.bytes} bytes sent)`);
  } finally {
    api.intercept = undefined;
  }
});

test.run();
