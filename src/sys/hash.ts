// SHA-2 digests and random bytes without node:crypto: under Bun, node:crypto is a JavaScript
// polyfill whose loading costs each invocation ~5 ms of CPU and ~3 MB of RSS, while
// Bun's SHA256/SHA512 and the Web Crypto getRandomValues are native (BoringSSL, the same digests).
// Outside Bun (test code run by Node) node:crypto is loaded on first use.
type Algo = 'sha256' | 'sha512';
/** Bun's one-shot digest classes (Bun.SHA256.hash): fewer pages touched than a CryptoHasher instance. */
interface BunDigest {
  hash(data: string | Uint8Array, enc: 'hex'): string;
}
const bun = (globalThis as { Bun?: { SHA256?: BunDigest; SHA512?: BunDigest } }).Bun;
const bunDigest: Record<Algo, BunDigest | undefined> = { sha256: bun?.SHA256, sha512: bun?.SHA512 };

/** Hex digest of a string (as UTF-8) or of bytes. */
export function hashHex(algo: Algo, data: string | Uint8Array): string {
  const d = bunDigest[algo];
  if (d) return d.hash(data, 'hex');
  return nodeCrypto().createHash(algo).update(data).digest('hex');
}

export const sha256Hex = (data: string | Uint8Array): string => hashHex('sha256', data);
export const sha512Hex = (data: string | Uint8Array): string => hashHex('sha512', data);

/** n cryptographically random bytes, as hex. */
export function randomHex(n: number): string {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return Buffer.from(b).toString('hex');
}

function nodeCrypto(): typeof import('node:crypto') {
  return require('node:crypto') as typeof import('node:crypto');
}
