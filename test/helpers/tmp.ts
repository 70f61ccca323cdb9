// Temporary directories for tests that need files: made fresh, removed when the test is done,
// also when it fails.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** `fn` with a new directory under the system temp dir (named `<prefix>XXXXXX`), removed afterwards. */
export function withTmpDir<T>(prefix: string, fn: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `fn` with a fresh IPAM data directory and the path of its network "net1" (not created). */
export function withIpamDir(fn: (dataDir: string, netDir: string) => void): void {
  withTmpDir('tsb-ipam-', (dataDir) => fn(dataDir, path.join(dataDir, 'net1')));
}
