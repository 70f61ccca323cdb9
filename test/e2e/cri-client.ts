// A small CRI client (what kubelet speaks to containerd), for the e2e tests: gRPC over the
// runtime's unix socket with node:http2 and a hand-written protobuf codec for the few
// runtime.v1.RuntimeService messages used. No dependencies (Debian has no crictl).
//
//   node cri-client.js [--socket PATH] version
//   node cri-client.js runp POD.json               -> prints the sandbox id
//   node cri-client.js inspectp POD_ID             -> JSON {id, state, ip, additionalIps, info}
//   node cri-client.js create POD_ID CTR.json POD.json -> prints the container id
//   node cri-client.js start|stop|rm CTR_ID
//   node cri-client.js exec CTR_ID CMD...          -> CMD's stdout/stderr, exits with its code
//   node cri-client.js stopp|rmp POD_ID
//
// POD.json: {name, namespace, uid, attempt?, hostname?, logDirectory?, labels?, annotations?,
//            portMappings?: [{protocol: "TCP"|"UDP"|"SCTP", containerPort, hostPort, hostIp?}],
//            cgroupParent?}
// CTR.json: {name, image, command?: [], args?: [], workingDir?, envs?: {K: V}, logPath?}
// Socket: --socket, else $CRI_SOCKET, else /run/containerd/containerd.sock.
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';

// ---- protobuf (proto3) ------------------------------------------------------------------

type Field = [number, 'string' | 'bytes', string | Buffer] | [number, 'varint', number] | [number, 'msg', Buffer];

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int32/int64 negatives: ten-byte two's complement
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

/** Encode fields in order; empty strings, zero varints and undefined are skipped (proto3 defaults). */
function encode(fields: (Field | undefined)[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    if (!f) continue;
    const [no, kind, value] = f;
    if (kind === 'varint') {
      if (value === 0) continue;
      parts.push(varint(no << 3), varint(value as number));
    } else {
      const buf = typeof value === 'string' ? Buffer.from(value, 'utf8') : (value as Buffer);
      if (kind !== 'msg' && buf.length === 0) continue;
      parts.push(varint((no << 3) | 2), varint(buf.length), buf);
    }
  }
  return Buffer.concat(parts);
}

const str = (no: number, s: string | undefined): Field | undefined => (s ? [no, 'string', s] : undefined);
const int = (no: number, n: number | undefined): Field | undefined => (n ? [no, 'varint', n] : undefined);
const msg = (no: number, b: Buffer | undefined): Field | undefined => (b ? [no, 'msg', b] : undefined);
const strs = (no: number, list: string[] | undefined): Field[] => (list ?? []).map((s) => [no, 'string', s] as Field);
/** map<string,string>: one entry message {1: key, 2: value} per pair */
const map = (no: number, m: Record<string, string> | undefined): Field[] =>
  Object.entries(m ?? {}).map(
    ([k, v]) =>
      [
        no,
        'msg',
        encode([
          [1, 'string', k],
          [2, 'string', v],
        ]),
      ] as Field,
  );

type Decoded = Map<number, (bigint | Buffer)[]>;

function decode(buf: Buffer): Decoded {
  const out: Decoded = new Map();
  let i = 0;
  const readVarint = (): bigint => {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(readVarint());
    const no = key >> 3;
    const wire = key & 7;
    let val: bigint | Buffer;
    if (wire === 0) val = readVarint();
    else if (wire === 2) {
      const len = Number(readVarint());
      val = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 1) {
      val = buf.readBigUInt64LE(i);
      i += 8;
    } else if (wire === 5) {
      val = BigInt(buf.readUInt32LE(i));
      i += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
    out.set(no, [...(out.get(no) ?? []), val]);
  }
  return out;
}

const dStr = (d: Decoded, no: number): string => (d.get(no)?.[0] as Buffer | undefined)?.toString('utf8') ?? '';
const dMsg = (d: Decoded, no: number): Decoded => decode((d.get(no)?.[0] as Buffer | undefined) ?? Buffer.alloc(0));
const dInt = (d: Decoded, no: number): number =>
  Number(BigInt.asIntN(32, (d.get(no)?.[0] as bigint | undefined) ?? 0n));
const dMap = (d: Decoded, no: number): Record<string, string> =>
  Object.fromEntries(
    (d.get(no) ?? []).map((e) => {
      const m = decode(e as Buffer);
      return [dStr(m, 1), dStr(m, 2)];
    }),
  );

// ---- gRPC over HTTP/2 ---------------------------------------------------------------------

class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`gRPC status ${code}: ${message}`);
  }
}

function call(socket: string, method: string, body: Buffer, timeoutMs = 120_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
    session.on('error', reject);
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt8(0, 0);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    const req = session.request({
      ':method': 'POST',
      ':path': method,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${timeoutMs}m`,
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message = '';
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) {
        status = String(h['grpc-status']);
        message = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (e) => {
      session.close();
      reject(e);
    });
    req.on('end', () => {
      session.close();
      if (status !== '0') return reject(new GrpcError(Number(status ?? 2), message || 'no grpc-status'));
      const all = Buffer.concat(chunks);
      if (all.length < 5) return resolve(Buffer.alloc(0));
      resolve(all.subarray(5, 5 + all.readUInt32BE(1)));
    });
    req.end(frame);
  });
}

const RT = '/runtime.v1.RuntimeService/';

// ---- messages -------------------------------------------------------------------------------

interface PodSpec {
  name: string;
  namespace: string;
  uid: string;
  attempt?: number;
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  portMappings?: { protocol?: string; containerPort: number; hostPort: number; hostIp?: string }[];
  cgroupParent?: string;
}

interface CtrSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: Record<string, string>;
  logPath?: string;
}

const PROTOCOLS: Record<string, number> = { TCP: 0, UDP: 1, SCTP: 2 };

function podSandboxConfig(p: PodSpec): Buffer {
  return encode([
    msg(1, encode([str(1, p.name), str(2, p.uid), str(3, p.namespace), int(4, p.attempt)])),
    str(2, p.hostname ?? p.name),
    str(3, p.logDirectory),
    ...(p.portMappings ?? []).map((m) =>
      msg(
        5,
        encode([
          int(1, PROTOCOLS[(m.protocol ?? 'TCP').toUpperCase()]),
          int(2, m.containerPort),
          int(3, m.hostPort),
          str(4, m.hostIp),
        ]),
      ),
    ),
    ...map(6, p.labels),
    ...map(7, p.annotations),
    // linux: cgroup_parent; security_context {namespace_options {network: POD, pid: CONTAINER, ipc: POD}}
    msg(8, encode([str(1, p.cgroupParent), msg(2, encode([msg(1, encode([int(2, 1)]))]))])),
  ]);
}

function containerConfig(c: CtrSpec): Buffer {
  return encode([
    msg(1, encode([str(1, c.name)])),
    msg(2, encode([str(1, c.image)])),
    ...strs(3, c.command),
    ...strs(4, c.args),
    str(5, c.workingDir),
    ...Object.entries(c.envs ?? {}).map(([k, v]) => msg(6, encode([str(1, k), str(2, v)]))),
    str(11, c.logPath),
    msg(15, encode([])),
  ]);
}

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

async function main(argv: string[]): Promise<number> {
  let socket = process.env.CRI_SOCKET ?? '/run/containerd/containerd.sock';
  if (argv[0] === '--socket') {
    socket = argv[1];
    argv = argv.slice(2);
  }
  const [cmd, ...args] = argv;
  const rpc = (m: string, body: Buffer) => call(socket, RT + m, body);
  switch (cmd) {
    case 'version': {
      const d = decode(await rpc('Version', encode([str(1, 'v1')])));
      console.log(
        JSON.stringify({
          version: dStr(d, 1),
          runtimeName: dStr(d, 2),
          runtimeVersion: dStr(d, 3),
          runtimeApiVersion: dStr(d, 4),
        }),
      );
      return 0;
    }
    case 'runp': {
      const d = decode(await rpc('RunPodSandbox', encode([msg(1, podSandboxConfig(readJson<PodSpec>(args[0])))])));
      console.log(dStr(d, 1));
      return 0;
    }
    case 'inspectp': {
      const d = decode(await rpc('PodSandboxStatus', encode([str(1, args[0]), int(2, 1)])));
      const st = dMsg(d, 1);
      const netw = dMsg(st, 5);
      const info = dMap(d, 2);
      console.log(
        JSON.stringify({
          id: dStr(st, 1),
          state: dInt(st, 3) === 0 ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
          ip: dStr(netw, 1),
          additionalIps: (netw.get(2) ?? []).map((b) => dStr(decode(b as Buffer), 1)),
          info: Object.fromEntries(
            Object.entries(info).map(([k, v]) => {
              try {
                return [k, JSON.parse(v)];
              } catch {
                return [k, v];
              }
            }),
          ),
        }),
      );
      return 0;
    }
    case 'create': {
      const [pod, ctrFile, podFile] = args;
      const body = encode([
        str(1, pod),
        msg(2, containerConfig(readJson<CtrSpec>(ctrFile))),
        msg(3, podSandboxConfig(readJson<PodSpec>(podFile))),
      ]);
      console.log(dStr(decode(await rpc('CreateContainer', body)), 1));
      return 0;
    }
    case 'start':
      await rpc('StartContainer', encode([str(1, args[0])]));
      return 0;
    case 'stop':
      await rpc('StopContainer', encode([str(1, args[0]), int(2, Number(process.env.CRI_STOP_TIMEOUT ?? 0))]));
      return 0;
    case 'rm':
      await rpc('RemoveContainer', encode([str(1, args[0])]));
      return 0;
    case 'exec': {
      const [id, ...command] = args;
      const d = decode(await rpc('ExecSync', encode([str(1, id), ...strs(2, command), int(3, 30)])));
      process.stdout.write((d.get(1)?.[0] as Buffer | undefined) ?? '');
      process.stderr.write((d.get(2)?.[0] as Buffer | undefined) ?? '');
      return dInt(d, 3);
    }
    case 'stopp':
      await rpc('StopPodSandbox', encode([str(1, args[0])]));
      return 0;
    case 'rmp':
      await rpc('RemovePodSandbox', encode([str(1, args[0])]));
      return 0;
    default:
      console.error('usage: cri-client [--socket PATH] version|runp|inspectp|create|start|stop|rm|exec|stopp|rmp ...');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    console.error(err.message);
    process.exitCode = 1;
  },
);
