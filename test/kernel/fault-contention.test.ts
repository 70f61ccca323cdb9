// Another process holding a lock tsbridge needs: a bounded wait, then CNI error 11 ("try again
// later") well before a runtime's timeout, never a hang; nothing left half-made; the same call
// works once the lock is free.
//  - The IPAM lock (<dataDir>/<net>/lock, flock'd as the reference host-local does): ADD, DEL,
//    CHECK and GC at once while `flock` holds it.
//  - The xtables lock of legacy iptables: held by `flock` while ADD and DEL need iptables-restore.
//    iptables on PATH is iptables-nft here, which takes no lock, so the binary runs with a PATH
//    whose iptables* are the legacy tools, and XTABLES_LOCKFILE points them (and flock) at a
//    private lock file: the node's /run/xtables.lock, shared with everything else on the
//    machine, is never held.
// Each call runs with a 15 s bound: a call still running then counts as a hang.
// Subnet 10.220.7.0/24, bridge tsbct0.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { cniBounded, holdFlock, traces } from '../helpers/fuzz-state';
import { RUN_ID, World, bridgeConf, cni, withPrev } from '../helpers/netns';

const BRIDGE = 'tsbct0';
const NET = 'tsbt-ct';
const LIMIT_MS = 15_000;

const conf = (world: World) =>
  bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.220.7.0/24' }]] },
    { ipMasq: true, ipMasqBackend: 'iptables' },
  );

/**
 * A temp dir whose iptables* are the legacy tools, and the env that puts it first on PATH with a private xtables lock.
 */
function legacyIptables(): { shim: string; lockFile: string; env: Record<string, string> } {
  const shim = fs.mkdtempSync(path.join(os.tmpdir(), `tsbt-xt-${RUN_ID}-`));
  try {
    for (const fam of ['iptables', 'ip6tables']) {
      for (const suffix of ['', '-save', '-restore'])
        fs.symlinkSync(`/usr/sbin/${fam}-legacy${suffix}`, path.join(shim, `${fam}${suffix}`));
    }
  } catch (e) {
    fs.rmSync(shim, { recursive: true, force: true });
    throw e;
  }
  const lockFile = path.join(shim, 'xtables.lock');
  return { shim, lockFile, env: { PATH: `${shim}:${process.env.PATH}`, XTABLES_LOCKFILE: lockFile } };
}

test(
  'IPAM lock held by another process: ADD, DEL, CHECK, GC answer code 11 (STATUS 50) in bounded time; nothing ' +
    'half-made',
  async () => {
    const world = new World('ctipam');
    let hold: { release: () => void } | undefined;
    try {
      const c = conf(world);
      const podA = world.pod('a');
      const a = cni(world.node, { command: 'ADD', conf: c, containerId: `cta-${RUN_ID}`, netns: podA.path });
      assert.is(a.status, 0, a.stdout);
      const podB = world.pod('b');
      const cidA = `cta-${RUN_ID}`;
      const cidB = `ctb-${RUN_ID}`;

      hold = await holdFlock(path.join(world.dataDir, NET, 'lock'));
      const [addB, chkA, gc, status] = await Promise.all([
        cniBounded(world.node, { command: 'ADD', conf: c, containerId: cidB, netns: podB.path }, LIMIT_MS),
        cniBounded(
          world.node,
          { command: 'CHECK', conf: withPrev(c, a.json), containerId: cidA, netns: podA.path },
          LIMIT_MS,
        ),
        cniBounded(world.node, { command: 'GC', conf: { ...c, 'cni.dev/valid-attachments': [] } }, LIMIT_MS),
        cniBounded(world.node, { command: 'STATUS', conf: c }, LIMIT_MS),
      ]);
      for (const [name, r] of Object.entries({ addB, chkA, gc, status })) {
        assert.not.ok(r.timedOut, `${name} hung past ${LIMIT_MS / 1000} s`);
        assert.ok(r.json, `${name}: no error JSON: ${r.stdout} ${r.stderr}`);
        assert.not.match(r.stdout, /\n\s+at /, `${name}: stack trace on stdout`);
      }
      assert.is(addB.json.code, 11, addB.stdout);
      assert.match(addB.json.msg, 'is held by another process');
      assert.equal(traces(world, NET, cidB, 'eth0', podB), [], 'the refused ADD left traces');
      assert.is(chkA.json.code, 11, chkA.stdout);
      assert.is(gc.json.code, 11, gc.stdout);
      assert.match(gc.json.msg, 'is held by another process');
      assert.is(status.json.code, 50, status.stdout);
      assert.match(status.json.msg, 'is held by another process');
      assert.ok(world.ping(podA.name, '10.220.7.1'), 'A lost connectivity while the lock was held');

      // DEL under the lock: refused with 11; the address is not released behind the holder's back
      // (DEL reads the store before it removes rules, so today it has touched nothing at all);
      // whatever it left, its retry removes
      const delA = await cniBounded(
        world.node,
        { command: 'DEL', conf: c, containerId: cidA, netns: podA.path },
        LIMIT_MS,
      );
      assert.not.ok(delA.timedOut, 'DEL hung');
      assert.is(delA.json?.code, 11, delA.stdout);
      assert.ok(
        traces(world, NET, cidA, 'eth0', podA).includes('IPAM file 10.220.7.2'),
        'a DEL refused at the IPAM lock released the address',
      );

      hold.release();
      hold = undefined;
      const del2 = cni(world.node, { command: 'DEL', conf: c, containerId: cidA, netns: podA.path });
      assert.is(del2.status, 0, `DEL retried: ${del2.stdout}`);
      assert.equal(traces(world, NET, cidA, 'eth0', podA), []);
      const add2 = cni(world.node, { command: 'ADD', conf: c, containerId: cidB, netns: podB.path });
      assert.is(add2.status, 0, `ADD retried: ${add2.stdout}`);
      assert.ok(world.ping(podB.name, '10.220.7.1'));
    } finally {
      hold?.release();
      world.cleanup();
    }
  },
);

test(
  'xtables lock held by another process (legacy iptables): ADD and DEL answer code 11 in bounded time; nothing ' +
    'half-made',
  async () => {
    const { shim, lockFile, env } = legacyIptables();
    const world = new World('ctxt');
    let hold: { release: () => void } | undefined;
    try {
      const c = conf(world);
      const podA = world.pod('a');
      const podB = world.pod('b');
      const cidA = `ctxa-${RUN_ID}`;
      const cidB = `ctxb-${RUN_ID}`;
      const a = cni(world.node, { command: 'ADD', conf: c, containerId: cidA, netns: podA.path, env });
      assert.is(a.status, 0, `ADD A: ${a.stdout} ${a.stderr}`);
      const legacyDump = (): string => world.exec(world.node, 'iptables-legacy-save', ['-t', 'nat']);
      assert.match(legacyDump(), masqChainName(NET, cidA), 'the rules went to the legacy table');

      hold = await holdFlock(lockFile);
      const [addB, delA] = await Promise.all([
        cniBounded(world.node, { command: 'ADD', conf: c, containerId: cidB, netns: podB.path, env }, LIMIT_MS),
        cniBounded(world.node, { command: 'DEL', conf: c, containerId: cidA, netns: podA.path, env }, LIMIT_MS),
      ]);
      for (const [name, r] of Object.entries({ addB, delA })) {
        assert.not.ok(r.timedOut, `${name} hung past ${LIMIT_MS / 1000} s`);
        assert.ok(r.json, `${name}: no error JSON: ${r.stdout} ${r.stderr}`);
        assert.is(r.json.code, 11, `${name}: ${r.stdout}`);
        assert.match(r.json.msg, 'xtables lock');
      }
      assert.equal(traces(world, NET, cidB, 'eth0', podB), [], 'the refused ADD left traces');
      assert.not.match(legacyDump(), masqChainName(NET, cidB));
      // DEL removes the rules first: refused there, it has touched nothing yet
      const left = traces(world, NET, cidA, 'eth0', podA);
      assert.ok(
        left.some((t) => t.startsWith('host veth')) &&
          left.includes('eth0 in ' + podA.name) &&
          left.includes('IPAM file 10.220.7.2'),
        `A after the refused DEL: ${left}`,
      );
      assert.match(legacyDump(), masqChainName(NET, cidA), 'A lost its rules in a refused DEL');
      const chk = cni(world.node, {
        command: 'CHECK',
        conf: withPrev(c, a.json),
        containerId: cidA,
        netns: podA.path,
        env,
      });
      assert.is(chk.status, 0, `CHECK reads without the lock: ${chk.stdout}`);

      hold.release();
      hold = undefined;
      const del2 = cni(world.node, { command: 'DEL', conf: c, containerId: cidA, netns: podA.path, env });
      assert.is(del2.status, 0, `DEL retried: ${del2.stdout}`);
      assert.equal(traces(world, NET, cidA, 'eth0', podA), []);
      assert.not.match(legacyDump(), masqChainName(NET, cidA));
      const add2 = cni(world.node, { command: 'ADD', conf: c, containerId: cidB, netns: podB.path, env });
      assert.is(add2.status, 0, `ADD retried: ${add2.stdout}`);
      assert.match(legacyDump(), masqChainName(NET, cidB));
      assert.is(cni(world.node, { command: 'DEL', conf: c, containerId: cidB, netns: podB.path, env }).status, 0);
      assert.not.match(legacyDump(), /CNI-/);
    } finally {
      hold?.release();
      world.cleanup();
      fs.rmSync(shim, { recursive: true, force: true });
    }
  },
);

test(
  'GC while the xtables lock is held: a stale attachment loses IP and veth; the rule part answers code 11; GC ' +
    'again cleans',
  async () => {
    const { shim, lockFile, env } = legacyIptables();
    const world = new World('ctgc');
    let hold: { release: () => void } | undefined;
    try {
      const c = conf(world);
      const pod = world.pod('s');
      const cid = `ctgc-${RUN_ID}`;
      assert.is(cni(world.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path, env }).status, 0);
      const legacyDump = (): string => world.exec(world.node, 'iptables-legacy-save', ['-t', 'nat']);
      const gcConf = { ...c, 'cni.dev/valid-attachments': [] };

      hold = await holdFlock(lockFile);
      const gc = await cniBounded(world.node, { command: 'GC', conf: gcConf, env }, LIMIT_MS);
      assert.not.ok(gc.timedOut, 'GC hung');
      assert.ok(gc.json, `GC: no error JSON: ${gc.stdout} ${gc.stderr}`);
      assert.match(gc.json.msg, 'xtables lock');
      assert.equal(world.reservations(NET), [], 'GC kept the IP while the lock was held');
      assert.match(legacyDump(), masqChainName(NET, cid), 'rules went without the lock?');
      hold.release();
      hold = undefined;
      assert.is(cni(world.node, { command: 'GC', conf: gcConf, env }).status, 0);
      assert.not.match(legacyDump(), masqChainName(NET, cid));
      assert.equal(traces(world, NET, cid, 'eth0', pod), []);
      // last: the code. GC gathers its errors into one code 5 ("GC finished with errors"), which
      // hides that this one is "try again later".
      assert.is(gc.json.code, 11, gc.stdout);
    } finally {
      hold?.release();
      world.cleanup();
      fs.rmSync(shim, { recursive: true, force: true });
    }
  },
);

test.run();
