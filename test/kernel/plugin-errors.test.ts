// Errors through the binary, as a runtime sees them: CNI error JSON on stdout (in the config's
// version when it is known), non-zero exit, and nothing left behind by a failed ADD.
// Subnet 10.200.10.0/24, bridge tsberr0.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { hostVethName } from '../../src/attachment/names';
import { assertTracesSeen, cniBounded, traces } from '../helpers/fuzz-state';
import { RUN_ID, World, bridgeConf, cni, sh, inWorld, assertCniError } from '../helpers/netns';

const BRIDGE = 'tsberr0';
const NET = 'tsbt-err';

const conf = (world: World, extra: object = {}, cniVersion = '1.1.0') =>
  bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, cniVersion, ranges: [[{ subnet: '10.200.10.0/24' }]] },
    { ipMasq: true, ipMasqBackend: 'iptables', ...extra },
  );

/** Only lo in the node, or lo and the bridge (made before the failing step); no reservation, no rule. */
function assertNothingLeft(world: World, cid: string): void {
  assertTracesSeen(world, NET); // the presence check: these readers would see a leftover
  if (cid !== '') assert.equal(traces(world, NET, cid), [], 'traces left behind');
  const extra = world.links(world.node).filter((l) => l !== 'lo' && l !== BRIDGE);
  assert.equal(extra, [], 'links left in the node');
  assert.not.ok(world.links(world.node).includes(hostVethName(cid, 'eth0')));
  assert.equal(world.reservations(NET), [], 'IP reservation left behind');
  const dump = world.natDump(world.node);
  assert.not.ok(
    dump.includes(masqChainName(NET, cid)) || (cid !== '' && dump.includes(cid)),
    `rules left behind:\n${dump}`,
  );
  assert.not.ok(/MASQUERADE|masquerade/.test(dump), `masquerade rules in the node:\n${dump}`);
}

test('malformed JSON: code 6', () => {
  inWorld('errjson', (world) => {
    const pod = world.pod('pod');
    const r = cni(world.node, {
      command: 'ADD',
      conf: '{"cniVersion": "1.1.0", "name": ',
      containerId: `errjson-${RUN_ID}`,
      netns: pod.path,
    });
    assertCniError(r, 6);
    assertNothingLeft(world, `errjson-${RUN_ID}`);
  });
});

test('missing CNI_CONTAINERID on ADD: code 4 naming the variable, answered in the config version', () => {
  inWorld('errenv', (world) => {
    const pod = world.pod('pod');
    const r = cni(world.node, { command: 'ADD', conf: conf(world, {}, '1.0.0'), containerId: '', netns: pod.path });
    assertCniError(r, 4, 'CNI_CONTAINERID');
    assert.is(r.json.cniVersion, '1.0.0');
    assertNothingLeft(world, '');
  });
});

test('unknown cniVersion: code 1', () => {
  inWorld('errver', (world) => {
    const pod = world.pod('pod');
    const r = cni(world.node, {
      command: 'ADD',
      conf: conf(world, {}, '9.9.9'),
      containerId: `errver-${RUN_ID}`,
      netns: pod.path,
    });
    assertCniError(r, 1, '9.9.9');
    assertNothingLeft(world, `errver-${RUN_ID}`);
  });
});

test('CHECK with cniVersion 0.3.1 is refused (code 1); GC and STATUS with 1.0.0 likewise', () => {
  inWorld('errchk', (world) => {
    const pod = world.pod('pod');
    const cid = `errchk-${RUN_ID}`;
    const c = conf(world, {}, '0.3.1');
    const add = cni(world.node, { command: 'ADD', conf: c, containerId: cid, netns: pod.path });
    assert.is(add.status, 0, `ADD 0.3.1 failed: ${add.stdout}`);
    const chk = cni(world.node, {
      command: 'CHECK',
      conf: { ...c, prevResult: add.json },
      containerId: cid,
      netns: pod.path,
    });
    assertCniError(chk, 1, 'CHECK');
    assert.is(chk.json.cniVersion, '0.3.1');
    for (const command of ['GC', 'STATUS'] as const) {
      assertCniError(cni(world.node, { command, conf: conf(world, {}, '1.0.0') }), 1, command);
    }
    // none of the refused commands touched the attachment
    assert.equal(world.reservations(NET), ['10.200.10.2']);
  });
});

test('bad CIDR in the IPAM ranges: code 7, nothing made', () => {
  inWorld('errcidr', (world) => {
    const pod = world.pod('pod');
    for (const subnet of ['10.200.10.0/33', 'not-a-cidr', '10.200.10.5/24']) {
      const c = bridgeConf(world, { name: NET, bridge: BRIDGE, ranges: [[{ subnet }]] });
      const r = cni(world.node, { command: 'ADD', conf: c, containerId: `errcidr-${RUN_ID}`, netns: pod.path });
      assertCniError(r, 7);
      assert.not.ok(
        world.links(world.node).includes(BRIDGE),
        `${subnet}: bridge created before the config was refused`,
      );
      assertNothingLeft(world, `errcidr-${RUN_ID}`);
      assert.equal(world.links(pod.name), ['lo']);
    }
  });
});

test('vanished netns on ADD: error JSON naming it, IP released, nothing left behind', () => {
  inWorld('errgone', (world) => {
    const pod = world.pod('pod');
    sh('ip', ['netns', 'del', pod.name]);
    const cid = `errgone-${RUN_ID}`;
    const r = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: pod.path });
    assert.is.not(r.status, 0);
    assert.ok(r.json, `no JSON on stdout: ${r.stdout} ${r.stderr}`);
    assert.type(r.json.code, 'number');
    assert.ok(r.json.msg.includes(pod.path), `msg does not name the netns: ${r.json.msg}`);
    assertNothingLeft(world, cid);
  });
});

test('CNI_NETNS naming a file that is not a network namespace: error JSON, nothing left behind', () => {
  const world = new World('errnotns');
  const file = path.join(world.dataDir, 'not-a-netns');
  try {
    fs.writeFileSync(file, '');
    const cid = `errnotns-${RUN_ID}`;
    const r = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: file });
    assertCniError(r, 4, 'failed to open netns');
    assertNothingLeft(world, cid);
  } finally {
    world.cleanup();
  }
});

test(
  'CNI_NETNS a FIFO or a mount namespace: code 4 without ' + 'blocking, nothing made; DEL ends too; a real netns works',
  async () => {
    const world = new World('errfifo');
    const fifo = path.join(world.dataDir, 'fifo');
    try {
      spawnSync('mkfifo', [fifo]);
      assert.ok(fs.statSync(fifo).isFIFO());
      const cid = `errfifo-${RUN_ID}`;
      const r = await cniBounded(
        world.node,
        { command: 'ADD', conf: conf(world), containerId: cid, netns: fifo },
        15_000,
      );
      assert.not.ok(r.timedOut, 'ADD blocked opening the FIFO (killed after 15 s)');
      assertCniError(r, 4, `failed to open netns ${JSON.stringify(fifo)}: not a network namespace`);
      assertNothingLeft(world, cid);
      const d = await cniBounded(
        world.node,
        { command: 'DEL', conf: conf(world), containerId: cid, netns: fifo },
        15_000,
      );
      assert.not.ok(d.timedOut, 'DEL blocked opening the FIFO');
      assert.is(d.status, 0, `DEL: ${d.stdout}`);
      const m = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: '/proc/self/ns/mnt' });
      assertCniError(m, 4, 'not a network namespace');
      assertNothingLeft(world, cid);
      // positive control: the same call with a network namespace succeeds
      const pod = world.pod('pod');
      const ok = cni(world.node, { command: 'ADD', conf: conf(world), containerId: cid, netns: pod.path });
      assert.is(ok.status, 0, ok.stdout);
      assert.equal(world.reservations(NET), ['10.200.10.2']);
      assert.is(cni(world.node, { command: 'DEL', conf: conf(world), containerId: cid, netns: pod.path }).status, 0);
    } finally {
      world.cleanup();
    }
  },
);

test.run();
