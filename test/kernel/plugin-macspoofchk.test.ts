// macspoofchk through the binary, for real: a container that changes its MAC gets nothing through
// the bridge with it and gets through without it; CHECK names a missing piece; DEL (even with an
// empty CNI_NETNS) removes only its own chains; doctor names a broken check in one finding; GC removes the chains of
// attachments not valid;
// a failed ADD leaves none; the layout is the reference bridge 1.1.1's, side by side.
// Subnets 10.200.31.0/24 .. 10.200.36.0/24, bridges tsbms0 .. tsbms5.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spoofNames } from '../../src/firewall/nft/spoofcheck';
import { hostVethName } from '../../src/attachment/names';
import { BIN, RUN_ID, World, bridgeConf, cni, withPrev, inWorld } from '../helpers/netns';

const NET = 'tsbt-spoof';

/** `nft -a list table bridge nat` in `ns`; '' when the table does not exist; a failing nft fails the test. */
function bridgeNat(world: World, ns: string): string {
  const r = world.tryExec(ns, 'nft', ['-a', 'list', 'table', 'bridge', 'nat']);
  if (r.status === 0) return r.stdout;
  assert.match(r.stderr, /No such file or directory/, `nft list failed: ${r.stderr}`);
  return '';
}

function add(world: World, conf: object, tag: string, extra: { ifname?: string } = {}) {
  const pod = world.pod(tag);
  const cid = `spoof-${tag}-${RUN_ID}`;
  const r = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path, ...extra });
  assert.is(r.status, 0, `ADD ${tag}: ${r.stdout} ${r.stderr}`);
  return {
    pod,
    cid,
    ip: (r.json.ips[0].address as string).split('/')[0],
    mac: r.json.interfaces[2].mac as string,
    result: r.json,
  };
}

/** `tsbridge doctor --json` for one container, in the node namespace. */
function doctor(
  world: World,
  confFile: string,
  cid: string,
): { healthy: boolean; findings: { piece: string; message: string }[] } {
  const r = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      world.node,
      BIN,
      'doctor',
      '--config',
      confFile,
      '--cache-dir',
      world.dataDir,
      '--json',
      '--container',
      cid,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`doctor: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
}

/** The pod takes another MAC; both neighbour caches are flushed so the next ping resolves afresh. */
function spoof(world: World, pods: string[], pod: string): void {
  world.exec(pod, 'ip', ['link', 'set', 'eth0', 'address', '02:00:5e:00:53:99']);
  for (const p of pods) world.exec(p, 'ip', ['neigh', 'flush', 'all']);
}

for (const on of [true, false]) {
  test(
    `a container that changes its MAC ` +
      `${on ? 'gets nothing through with' : 'still gets through without'} macspoofchk`,
    () => {
      inWorld(`spoof-${on ? 'on' : 'off'}`, (world) => {
        const conf = bridgeConf(
          world,
          {
            name: NET,
            bridge: on ? 'tsbms0' : 'tsbms1',
            ranges: [[{ subnet: on ? '10.200.31.0/24' : '10.200.32.0/24' }]],
          },
          { macspoofchk: on },
        );
        const a = add(world, conf, 'a');
        const b = add(world, conf, 'b');
        assert.ok(world.ping(a.pod.name, b.ip), 'a cannot reach b before the MAC change');
        const nat = bridgeNat(world, world.node);
        if (on) {
          for (const p of [a, b])
            assert.ok(nat.includes(spoofNames(p.cid, 'eth0').macChain), `no chain of ${p.cid}:\n${nat}`);
          assert.ok(nat.includes(`ether saddr ${a.mac} return`), `a's MAC is not the allowed one:\n${nat}`);
        } else {
          assert.not.ok(nat.includes(a.cid), `a chain without macspoofchk:\n${nat}`);
        }
        const confFile = path.join(world.dataDir, 'spoof.conf');
        fs.writeFileSync(confFile, JSON.stringify(conf));
        if (on) {
          const d = doctor(world, confFile, a.cid);
          assert.ok(d.healthy, `doctor before the MAC change: ${JSON.stringify(d.findings)}`);
        }
        spoof(world, [a.pod.name, b.pod.name], a.pod.name);
        assert.is(
          world.ping(a.pod.name, b.ip),
          !on,
          `ping from a with a changed MAC ${on ? 'got through' : 'was dropped'}`,
        );
        assert.ok(world.ping(b.pod.name, on ? '10.200.31.1' : '10.200.32.1'), 'b lost its gateway');
        if (on) {
          const chk = cni(world.node, {
            command: 'CHECK',
            conf: withPrev(conf, a.result),
            containerId: a.cid,
            netns: a.pod.path,
          });
          assert.is(chk.status, 1);
          assert.match(chk.json?.msg ?? '', /02:00:5e:00:53:99/);
          // doctor: one finding, on the host veth, naming the MAC the chain lets through
          const d = doctor(world, confFile, a.cid);
          const mine = d.findings.filter((f) => f.piece === 'host-veth.macspoofchk');
          assert.is(mine.length, 1, JSON.stringify(d.findings));
          assert.match(mine[0].message, new RegExp(`lets only ${a.mac} through but eth0 has MAC 02:00:5e:00:53:99`));
        }
      });
    },
  );
}

test(
  'macspoofchk: CHECK names a missing chain; DEL with an empty CNI_NETNS removes only its own; a second pod keeps ' +
    'its own',
  () => {
    inWorld('spoof-del', (world) => {
      const conf = bridgeConf(
        world,
        { name: NET, bridge: 'tsbms2', ranges: [[{ subnet: '10.200.33.0/24' }]] },
        { macspoofchk: true },
      );
      const a = add(world, conf, 'a');
      const b = add(world, conf, 'b');
      for (const p of [a, b]) {
        const chk = cni(world.node, {
          command: 'CHECK',
          conf: withPrev(conf, p.result),
          containerId: p.cid,
          netns: p.pod.path,
        });
        assert.is(chk.status, 0, `CHECK ${p.cid}: ${chk.stdout}`);
      }
      const na = spoofNames(a.cid, 'eth0');
      // break a's: empty its mac chain (the drop rule goes): CHECK must say so
      world.exec(world.node, 'nft', ['flush', 'chain', 'bridge', 'nat', na.macChain]);
      const chk = cni(world.node, {
        command: 'CHECK',
        conf: withPrev(conf, a.result),
        containerId: a.cid,
        netns: a.pod.path,
      });
      assert.is(chk.status, 1, 'CHECK passed with an emptied spoof chain');
      assert.match(chk.json.msg, /macspoofchk: chain .* has no "ether saddr <MAC> return" rule/);
      assert.match(chk.json.msg, /does not end with "drop"/);

      const before = bridgeNat(world, world.node);
      assert.ok(before.includes(na.ifaceChain) && before.includes(`iifname "${hostVethName(a.cid, 'eth0')}"`), before);
      const del = cni(world.node, { command: 'DEL', conf, containerId: a.cid, netns: '' });
      assert.is(del.status, 0, `DEL: ${del.stdout} ${del.stderr}`);
      const after = bridgeNat(world, world.node);
      assert.not.ok(after.includes(a.cid), `a's chains or jump left after DEL:\n${after}`);
      const nb = spoofNames(b.cid, 'eth0');
      assert.ok(
        after.includes(nb.ifaceChain) &&
          after.includes(nb.macChain) &&
          after.includes(`iifname "${hostVethName(b.cid, 'eth0')}"`),
        `b lost its chains:\n${after}`,
      );
      const chkB = cni(world.node, {
        command: 'CHECK',
        conf: withPrev(conf, b.result),
        containerId: b.cid,
        netns: b.pod.path,
      });
      assert.is(chkB.status, 0, `CHECK b after a's DEL: ${chkB.stdout}`);
      // DEL again: idempotent
      assert.is(cni(world.node, { command: 'DEL', conf, containerId: a.cid, netns: '' }).status, 0);
    });
  },
);

test(
  'macspoofchk: GC removes the chains of attachments not ' + 'valid; a failed ADD and a refused ifname leave none',
  () => {
    inWorld('spoof-gc', (world) => {
      const conf = bridgeConf(
        world,
        { name: NET, bridge: 'tsbms3', ranges: [[{ subnet: '10.200.34.0/24' }]] },
        { macspoofchk: true, capabilities: { portMappings: true } },
      );
      const keep = add(world, conf, 'keep');
      const gone = add(world, conf, 'gone');
      const before = bridgeNat(world, world.node);
      for (const p of [keep, gone]) assert.ok(before.includes(spoofNames(p.cid, 'eth0').ifaceChain), before);
      const gc = cni(world.node, {
        command: 'GC',
        conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: keep.cid, ifname: 'eth0' }] },
      });
      assert.is(gc.status, 0, `GC: ${gc.stdout} ${gc.stderr}`);
      const after = bridgeNat(world, world.node);
      assert.not.ok(after.includes(gone.cid), `GC left the stale chains:\n${after}`);
      assert.ok(
        after.includes(spoofNames(keep.cid, 'eth0').macChain),
        `GC removed the valid attachment's chain:\n${after}`,
      );

      // a failed ADD (host port taken: code 103, after the spoof check was in place) rolls it back
      const withPort = (hostPort: number) => ({
        ...conf,
        runtimeConfig: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] },
      });
      const holder = add(world, withPort(18080), 'holder');
      assert.ok(bridgeNat(world, world.node).includes(holder.cid));
      const pod = world.pod('loser');
      const cid = `spoof-loser-${RUN_ID}`;
      const r = cni(world.node, { command: 'ADD', conf: withPort(18080), containerId: cid, netns: pod.path });
      assert.is(r.status, 1);
      assert.is(r.json?.code, 103, r.stdout);
      assert.not.ok(bridgeNat(world, world.node).includes(cid), 'the failed ADD left its spoof chains');

      // an interface name nft cannot carry: refused up front (code 4), nothing made
      const odd = world.pod('odd');
      const r2 = cni(world.node, {
        command: 'ADD',
        conf,
        containerId: `spoof-odd-${RUN_ID}`,
        netns: odd.path,
        ifname: 'e"th0',
      });
      assert.is(r2.json?.code, 4, r2.stdout);
      assert.not.ok(
        world.links(odd.name).some((l) => l !== 'lo'),
        'the refused ADD made an interface',
      );
    });
  },
);

test('macspoofchk: the same nftables layout as the reference bridge 1.1.1', () => {
  inWorld('spoof-ref', (world) => {
    const ours = bridgeConf(
      world,
      { name: NET, bridge: 'tsbms4', ranges: [[{ subnet: '10.200.35.0/24' }]], cniVersion: '1.0.0' },
      { macspoofchk: true },
    );
    const theirs = {
      ...ours,
      type: 'bridge',
      name: `${NET}-ref`,
      bridge: 'tsbms5',
      cniVersion: '0.4.0',
      ipam: { ...(ours.ipam as object), ranges: [[{ subnet: '10.200.36.0/24' }]] },
    };
    const a = add(world, ours, 'ours');
    const pod = world.pod('theirs');
    const cid = `spoof-theirs-${RUN_ID}`;
    const r = cni(world.node, {
      command: 'ADD',
      conf: theirs,
      containerId: cid,
      netns: pod.path,
      bin: '/usr/lib/cni/bridge',
    });
    assert.is(r.status, 0, `reference ADD: ${r.stdout} ${r.stderr}`);
    const refVeth = r.json.interfaces[1].name as string;
    const refMac = r.json.interfaces[2].mac as string;
    const nat = bridgeNat(world, world.node);
    // each attachment's rules, with its own names replaced by placeholders
    const shape = (cid: string, veth: string, mac: string): string[] =>
      nat
        .split('\n')
        .map((l) => l.replace(/\s+# handle \d+$/, '').trim())
        .filter((l) => l.includes(cid))
        .map((l) => l.split(cid).join('<ID>').split(veth).join('<VETH>').split(mac).join('<MAC>'));
    const mine = shape(a.cid, hostVethName(a.cid, 'eth0'), a.mac);
    const ref = shape(cid, refVeth, refMac);
    assert.ok(mine.length >= 6, nat);
    assert.equal(mine, ref, `layouts differ:\n${nat}`);
    assert.match(nat, /chain PREROUTING \{[^\n]*\n\s*type filter hook prerouting priority dstnat; policy accept;/);
    // a container the reference added is removed by tsbridge's DEL (same keys), and vice versa
    const del = cni(world.node, {
      command: 'DEL',
      conf: { ...theirs, type: 'tsbridge' },
      containerId: cid,
      netns: pod.path,
    });
    assert.is(del.status, 0, `tsbridge DEL of the reference's: ${del.stdout}`);
    const del2 = cni(world.node, {
      command: 'DEL',
      conf: { ...ours, type: 'bridge', cniVersion: '0.4.0' },
      containerId: a.cid,
      netns: a.pod.path,
      bin: '/usr/lib/cni/bridge',
    });
    assert.is(del2.status, 0, `reference DEL of tsbridge's: ${del2.stdout}`);
    const left = bridgeNat(world, world.node);
    assert.not.ok(left.includes(cid) || left.includes(a.cid), `chains left:\n${left}`);
  });
});

test.run();
