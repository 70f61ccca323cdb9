// The image's content (conf/kubernetes/build-image.sh --stage-only): the binary and the libraries it
// links against, and nothing else, are enough to run it. Checked by chroot into the staged tree,
// without a writable /run: version, help, and a plain install. /proc is mounted, as every container
// runtime does (Bun aborts at start-up without it). The arm64 tree (build/image-arm64) likewise,
// under qemu-aarch64-static bind-mounted into the chroot for the command (no -L: the tree's own
// loader and libraries are what is tested).
import { SpawnSyncReturns, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, BIN_ARM64, ROOT } from '../helpers/paths';
import { requires, timeout } from '../helpers/test';

/** `sh -c script ...args` in a private mount namespace: its mounts go away with the command. */
const inPrivateMounts = (script: string, args: string[], timeoutMs?: number): SpawnSyncReturns<string> =>
  spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, ...args], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });

/** The image's tsbridge (run: it inside the tree at root) tells its version and installs into /tmp/host. */
function assertRunsAndInstalls(root: string, run: (...args: string[]) => SpawnSyncReturns<string>, pod: string): void {
  const v = run('--version');
  assert.is(v.status, 0, v.stderr);
  assert.match(v.stdout, /^tsbridge \d+\.\d+\.\d+/);
  const dirs = ['--cni-bin-dir', '/tmp/host/opt/cni/bin', '--cni-conf-dir', '/tmp/host/etc/cni/net.d'];
  const inst = run('install', '--pod-cidr', pod, ...dirs);
  assert.is(inst.status, 0, inst.stderr);
  const file = (f: string): string => path.join(root, f);
  assert.equal(fs.readFileSync(file('tmp/host/opt/cni/bin/tsbridge')), fs.readFileSync(file('usr/local/bin/tsbridge')));
  const conflist = fs.readFileSync(file('tmp/host/etc/cni/net.d/10-tsbridge.conflist'), 'utf8');
  assert.ok(conflist.includes(`"${pod}"`), conflist);
}

test('the staged image tree runs tsbridge by itself (chroot)', () => {
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-k8simage-'));
  try {
    const stage = spawnSync('bash', [path.join(ROOT, 'conf/kubernetes/build-image.sh'), '--stage-only'], {
      env: { ...process.env, TSBRIDGE_IMAGE_CONTEXT: ctx },
      encoding: 'utf8',
    });
    assert.is(stage.status, 0, stage.stderr);
    const top = fs.readdirSync(ctx).sort();
    assert.ok(
      top.every((d) => ['lib', 'lib64', 'licenses', 'run', 'tmp', 'usr'].includes(d)),
      top.join(' '),
    );
    assert.ok(
      fs.readFileSync(path.join(ctx, 'usr/local/bin/tsbridge')).equals(fs.readFileSync(BIN)),
      `the image carries ${BIN}`,
    );
    // notices: what the binary embeds, and the copyright of every Debian package a library came from
    const lic = fs.readdirSync(path.join(ctx, 'licenses')).sort();
    assert.ok(lic.includes('tsbridge-embedded.txt') && lic.includes('libc6.copyright'), lic.join(' '));
    assert.match(
      fs.readFileSync(path.join(ctx, 'licenses', 'tsbridge-embedded.txt'), 'utf8'),
      /==== Bun [\d.]+ \(MIT\) ====/,
    );
    fs.mkdirSync(path.join(ctx, 'proc'));
    const chroot = 'mount -t proc proc "$0/proc" && exec chroot "$0" /usr/local/bin/tsbridge "$@"';
    const run = (...args: string[]) => inPrivateMounts(chroot, [ctx, ...args]);
    assert.match(run('help').stdout, /tsbridge install/);
    assertRunsAndInstalls(ctx, run, '10.244.7.0/24');
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
    fs.rmSync(`${ctx}-arm64`, { recursive: true, force: true });
  }
});

const QEMU = '/usr/bin/qemu-aarch64-static';
requires(test, fs.existsSync(QEMU) ? undefined : 'qemu-user-static not installed (make deps)')(
  'the staged arm64 tree runs tsbridge-arm64 by itself (chroot, under qemu)',
  timeout(240_000, () => {
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-k8simage-'));
    const arm = `${ctx}-arm64`;
    try {
      const stage = spawnSync('bash', [path.join(ROOT, 'conf/kubernetes/build-image.sh'), '--stage-only'], {
        env: { ...process.env, TSBRIDGE_IMAGE_CONTEXT: ctx },
        encoding: 'utf8',
      });
      assert.is(stage.status, 0, stage.stderr);
      const files = (d: string): string[] => fs.readdirSync(path.join(arm, d)).sort();
      assert.equal(fs.readdirSync(arm).sort(), ['lib', 'licenses', 'run', 'tmp', 'usr']);
      assert.equal(files('lib'), ['aarch64-linux-gnu', 'ld-linux-aarch64.so.1']);
      assert.equal(files('lib/aarch64-linux-gnu'), ['libc.so.6', 'libdl.so.2', 'libm.so.6', 'libpthread.so.0']);
      assert.equal(files('licenses'), ['libc6-arm64-cross.copyright', 'tsbridge-embedded.txt']);
      assert.equal(fs.readFileSync(path.join(arm, 'usr/local/bin/tsbridge')), fs.readFileSync(BIN_ARM64));
      // mount points for the command only, in a private mount namespace; removed before the tree is
      fs.mkdirSync(path.join(arm, 'proc'));
      fs.writeFileSync(path.join(arm, 'qemu'), '');
      const chroot =
        'mount --bind "$1" "$0/qemu" && mount -t proc proc "$0/proc" && shift && exec chroot "$0" /qemu ' +
        '/usr/local/bin/tsbridge "$@"';
      const run = (...args: string[]) => inPrivateMounts(chroot, [arm, QEMU, ...args], 120_000);
      assertRunsAndInstalls(arm, run, '10.244.8.0/24');
    } finally {
      fs.rmSync(ctx, { recursive: true, force: true });
      fs.rmSync(arm, { recursive: true, force: true });
    }
  }),
);

test.run();
