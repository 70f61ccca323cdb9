// build/bin/tsbridge-arm64 (cross-built by `make build`) run under Debian's qemu-user-static, called
// directly (no binfmt): qemu-aarch64-static -L /usr/aarch64-linux-gnu (libc6-arm64-cross) for the
// dynamic loader and libc the Bun runtime needs (readelf -d: libc, libpthread, libdl, libm, ld).
// VERSION, --version and bad-input errors run, the arm64 addon loaded through a temporary verified
// cache; ADD in a namespace is refused under qemu, for the reason the namespace test names.
// -L also maps "/" itself to the sysroot, so a walk from an fd of "/" (the IPAM store's) would
// land in /usr/aarch64-linux-gnu: another reason not to run commands past the netns check here.
// The environment is given explicitly and holds no NODE_*/BUN_*: with one, the binary re-execs
// itself through /proc/self/exe, which qemu-user without binfmt cannot do (ENOEXEC).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RUN_ID, World, bridgeConf, cniEnv } from '../helpers/netns';
import { BIN_ARM64, ROOT } from '../helpers/paths';
import { missing, requires, skip, timeout } from '../helpers/test';

const ADDON = path.join(ROOT, 'build', 'native-arm64', 'tsb_sys.node');
const QEMU = 'qemu-aarch64-static';
const SYSROOT = '/usr/aarch64-linux-gnu';

const absent = missing.any(
  fs.existsSync(BIN_ARM64) ? undefined : `${BIN_ARM64} not built (make build)`,
  missing.tool(QEMU) && `${QEMU} not installed (apt-get install qemu-user-static; make deps)`,
  fs.existsSync(path.join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))
    ? undefined
    : `${SYSROOT} missing (apt-get install libc6-arm64-cross; make deps)`,
);
const armTest = requires(test, absent);
const rootTest = requires(armTest, missing.root());

interface Reply {
  status: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** The arm64 binary under qemu, in `ns` when given, with exactly `env` (plus a private addon cache). */
function run(env: Record<string, string>, input: string, cache: string, ns?: string): Reply {
  const argv = [QEMU, '-L', SYSROOT, BIN_ARM64];
  const r = ns
    ? spawnSync('ip', ['netns', 'exec', ns, ...argv], {
        env: { ...env, TSBRIDGE_CACHE_DIR: cache },
        input,
        encoding: 'utf8',
        timeout: 120_000,
      })
    : spawnSync(argv[0], argv.slice(1), {
        env: { ...env, TSBRIDGE_CACHE_DIR: cache },
        input,
        encoding: 'utf8',
        timeout: 120_000,
      });
  let json: any;
  try {
    json = r.stdout?.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return {
    status: r.status ?? -1,
    stdout: r.stdout ?? '',
    stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`,
    json,
  };
}

/** A root-owned 0700 parent for the cache the binary creates (the cache protocol refuses anything looser). */
function cacheBase(): { base: string; cache: string } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-arm64-${RUN_ID}-`));
  fs.chmodSync(base, 0o700);
  return { base, cache: path.join(base, 'native') };
}

const PATH_ONLY = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

armTest('the binary is an aarch64 executable and embeds the aarch64 addon (not the host one)', () => {
  const head = Buffer.alloc(20);
  for (const f of [BIN_ARM64, ADDON]) {
    const fd = fs.openSync(f, 'r');
    fs.readSync(fd, head, 0, 20, 0);
    fs.closeSync(fd);
    assert.is(head.toString('latin1', 0, 4), '\x7fELF', f);
    assert.is(head.readUInt16LE(18), 183, `${f}: e_machine is not EM_AARCH64`);
  }
  const addon = fs.readFileSync(ADDON);
  assert.ok(fs.readFileSync(BIN_ARM64).includes(addon), 'the aarch64 addon is not embedded in the arm64 binary');
  const host = fs.readFileSync(path.join(ROOT, 'build', 'native', 'tsb_sys.node'));
  assert.not.ok(fs.readFileSync(BIN_ARM64).includes(host), 'the x86-64 addon is embedded in the arm64 binary');
});

armTest(
  'VERSION, --version and bad input (malformed JSON: code 6; missing env: code 4) under qemu',
  timeout(240_000, () => {
    const { base, cache } = cacheBase();
    try {
      const v = run({ ...PATH_ONLY, CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}', cache);
      assert.is(v.status, 0, v.stderr);
      assert.equal(v.json, {
        cniVersion: '1.0.0',
        supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
      });

      const cli = spawnSync(QEMU, ['-L', SYSROOT, BIN_ARM64, '--version'], {
        env: PATH_ONLY,
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.is(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, /^tsbridge \d+\.\d+\.\d+ /);

      const bad = run(
        { ...PATH_ONLY, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' },
        '{"cniVersion":',
        cache,
      );
      assert.is(bad.status, 1, bad.stderr);
      assert.is(bad.json?.code, 6, bad.stdout + bad.stderr);

      const noEnv = run(
        { ...PATH_ONLY, CNI_COMMAND: 'ADD', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' },
        '{"cniVersion":"1.0.0","name":"n","type":"tsbridge"}',
        cache,
      );
      assert.is(noEnv.status, 1, noEnv.stderr);
      assert.equal(noEnv.json, {
        cniVersion: '1.0.0',
        code: 4,
        msg: 'required env variables [CNI_CONTAINERID] missing',
      });
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  }),
);

// What stops ADD/CHECK/DEL in a namespace under qemu-user (7.2, Debian 12): the netns check's ioctl
// NS_GET_NSTYPE (0xb703) is not emulated, so every command given a CNI_NETNS is refused as "not a
// network namespace" (qemu -d unimp: "Unsupported ioctl: cmd=0xb703"); NS_GET_USERNS (0xb701) is
// missing too. The check is not weakened for an emulator: real arm64 kernels answer it.
// This test asserts exactly that refusal and that nothing was made; if a newer qemu emulates the
// ioctl it fails, and the skipped test below should become a real ADD/CHECK/DEL.
const NETNS_IOCTL = 'Unsupported ioctl: cmd=0xb703';
rootTest(
  `ADD in a network namespace under qemu stops at ioctl NS_GET_NSTYPE (${NETNS_IOCTL}): code 4, nothing made`,
  timeout(240_000, () => {
    const world = new World('arm64');
    const { base, cache } = cacheBase();
    try {
      const pod = world.pod('pod');
      assert.ok(world.links(pod.name).includes('lo'), 'pod namespace not readable');
      const conf = bridgeConf(world, {
        name: 'tsbt-arm64',
        bridge: 'tsbarm0',
        ranges: [[{ subnet: '10.200.64.0/24' }]],
      });
      const env = cniEnv({ command: 'ADD', conf, containerId: `arm64-${RUN_ID}`, netns: pod.path });
      const r = spawnSync('ip', ['netns', 'exec', world.node, QEMU, '-d', 'unimp', '-L', SYSROOT, BIN_ARM64], {
        env: { ...env, TSBRIDGE_CACHE_DIR: cache },
        input: JSON.stringify(conf),
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.is(r.status, 1, r.stdout + r.stderr);
      const reply = JSON.parse(r.stdout);
      assert.is(reply.code, 4, r.stdout);
      assert.match(reply.msg, 'not a network namespace');
      assert.ok(r.stderr.includes(NETNS_IOCTL), `qemu did not report the missing ioctl:\n${r.stderr}`);
      // refused before any change: no bridge on the node, nothing new in the pod, no IPAM state
      assert.equal(world.links(world.node), ['lo']);
      assert.equal(world.links(pod.name), ['lo']);
      assert.not.ok(fs.existsSync(path.join(world.dataDir, 'tsbt-arm64')), 'IPAM directory made by a refused ADD');
    } finally {
      world.cleanup();
      fs.rmSync(base, { recursive: true, force: true });
    }
  }),
);

skip(
  test,
  'ADD/CHECK/DEL in a network namespace under qemu',
  'qemu-user 7.2 does not emulate ioctl NS_GET_NSTYPE ' +
    '(0xb703), which the netns check needs: see the test above; on real arm64 hardware the kernel suite covers it',
);

test.run();
