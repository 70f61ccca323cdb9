// GC and STATUS (cniVersion 1.1.0) through the binary. GC: three attachments, one listed as
// valid (cni.dev/valid-attachments, or the legacy cni.dev/attachments): the other two lose their
// reservation, host veth and rules; the valid one keeps everything and still passes CHECK.
// STATUS: success while ADD can succeed, and also on an exhausted range (logged, not an error).
// Subnet 10.200.9.0/24 (a /30 of it for STATUS), bridge tsbgc0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { hostVethName } from '../../src/attachment/names';
import { RUN_ID, bridgeConf, cni, cniOk, withPrev, inWorld, World } from '../helpers/netns';

const BRIDGE = 'tsbgc0';
const NET = 'tsbt-gc';

const cases = [
  { key: 'cni.dev/valid-attachments', backend: 'iptables' },
  { key: 'cni.dev/attachments', backend: 'nftables' },
] as const;

/** The test network on BRIDGE over one IPv4 subnet, masquerading through backend. */
const netConf = (world: World, subnet: string, backend: string): object =>
  bridgeConf(world, { name: NET, bridge: BRIDGE, ranges: [[{ subnet }]] }, { ipMasq: true, ipMasqBackend: backend });

for (const { key, backend } of cases) {
  test(
    `GC with ${key} (${backend}): stale attachments lose ` + `IP, host veth and rules; the valid one is untouched`,
    () => {
      inWorld(`gc-${backend.slice(0, 3)}`, (world) => {
        const conf = netConf(world, '10.200.9.0/24', backend);
        const att = ['a', 'b', 'c'].map((t) => {
          const pod = world.pod(t);
          const cid = `gc-${backend}-${t}-${RUN_ID}`;
          const r = cniOk(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path }, `ADD ${t}`);
          return {
            pod,
            cid,
            ip: (r.json.ips[0].address as string).split('/')[0],
            veth: hostVethName(cid, 'eth0'),
            result: r.json,
          };
        });
        const [keep, ...stale] = att;
        const dump0 = world.natDump(world.node);
        for (const a of att) assert.ok(dump0.includes(masqChainName(NET, a.cid)), `no rules for ${a.cid} after ADD`);
        assert.equal(world.reservations(NET), att.map((a) => a.ip).sort());

        const gc = cni(world.node, {
          command: 'GC',
          conf: { ...conf, [key]: [{ containerID: keep.cid, ifname: 'eth0' }] },
        });
        assert.is(gc.status, 0, `GC failed: ${gc.stdout} ${gc.stderr}`);
        assert.is(gc.stdout.trim(), '');

        assert.equal(world.reservations(NET), [keep.ip], 'reservations after GC');
        const links = world.links(world.node);
        const dump = world.natDump(world.node);
        for (const a of stale) {
          assert.not.ok(links.includes(a.veth), `host veth of ${a.cid} left behind`);
          assert.not.ok(
            dump.includes(masqChainName(NET, a.cid)) || dump.includes(a.cid),
            `rules of ${a.cid} left behind:\n${dump}`,
          );
          assert.not.ok(world.links(a.pod.name).includes('eth0'), `${a.cid} still has its interface`);
        }
        assert.ok(links.includes(keep.veth), 'the valid attachment lost its host veth');
        assert.ok(dump.includes(masqChainName(NET, keep.cid)), 'the valid attachment lost its rules');
        assert.ok(world.ping(keep.pod.name, '10.200.9.1'), 'the valid attachment lost connectivity');
        const chk = cni(world.node, {
          command: 'CHECK',
          conf: withPrev(conf, keep.result),
          containerId: keep.cid,
          netns: keep.pod.path,
        });
        assert.is(chk.status, 0, `CHECK of the valid attachment after GC: ${chk.stdout}`);

        // GC again: nothing more to do, still success
        assert.is(
          cni(world.node, { command: 'GC', conf: { ...conf, [key]: [{ containerID: keep.cid, ifname: 'eth0' }] } })
            .status,
          0,
        );
        assert.equal(world.reservations(NET), [keep.ip]);
      });
    },
  );
}

test('GC with an empty valid-attachments list releases everything of the network', () => {
  inWorld('gcall', (world) => {
    const conf = netConf(world, '10.200.9.0/24', 'iptables');
    const pod = world.pod('a');
    const cid = `gcall-${RUN_ID}`;
    assert.is(cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path }).status, 0);
    const gc = cni(world.node, { command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [] } });
    assert.is(gc.status, 0, gc.stdout);
    assert.equal(world.reservations(NET), []);
    assert.not.ok(world.links(world.node).includes(hostVethName(cid, 'eth0')));
    assert.not.ok(world.natDump(world.node).includes(masqChainName(NET, cid)));
  });
});

test(
  'GC removes a stale pair whose host veth has a foreign name (a reference pod) by its container end; pairs ' +
    'holding kept addresses stay (12.4)',
  () => {
    inWorld('gcref', (world) => {
      const conf = bridgeConf(world, { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.200.9.0/24' }]] });
      const add = (t: string) => {
        const pod = world.pod(t);
        const cid = `gcref-${t}-${RUN_ID}`;
        const r = cniOk(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path }, `ADD ${t}`);
        return { pod, cid, ip: (r.json.ips[0].address as string).split('/')[0], veth: hostVethName(cid, 'eth0') };
      };
      const [keep, gone] = [add('k'), add('g')];
      // the reference names host veths at random: GC cannot find this one by name
      const foreign = `veth${RUN_ID}g`;
      world.exec(world.node, 'ip', ['link', 'set', gone.veth, 'down']);
      world.exec(world.node, 'ip', ['link', 'set', gone.veth, 'name', foreign, 'up']);
      // the valid pod also carries the stale address: holding a kept one, its pair must stay
      world.exec(keep.pod.name, 'ip', ['addr', 'add', `${gone.ip}/32`, 'dev', 'eth0']);
      // a pair on the bridge whose container end holds an address nobody reserved: not GC's
      const other = world.pod('o');
      const otherVeth = `veth${RUN_ID}o`;
      world.exec(world.node, 'ip', [
        'link',
        'add',
        otherVeth,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        other.name,
      ]);
      world.exec(world.node, 'ip', ['link', 'set', otherVeth, 'master', BRIDGE, 'up']);
      world.exec(other.name, 'ip', ['addr', 'add', '10.200.9.250/24', 'dev', 'eth0']);
      const before = world.links(world.node);
      for (const l of [foreign, keep.veth, otherVeth])
        assert.ok(before.includes(l), `${l} missing before GC: ${before.join(' ')}`);
      assert.ok(world.links(gone.pod.name).includes('eth0'));

      const gc = cni(world.node, {
        command: 'GC',
        conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: keep.cid, ifname: 'eth0' }] },
      });
      assert.is(gc.status, 0, `GC failed: ${gc.stdout} ${gc.stderr}`);
      assert.equal(world.reservations(NET), [keep.ip]);
      const after = world.links(world.node);
      assert.not.ok(after.includes(foreign), 'the stale pair with a foreign host veth name was left');
      assert.not.ok(world.links(gone.pod.name).includes('eth0'), 'the stale pod still has its interface');
      assert.ok(after.includes(keep.veth), 'the valid pod lost its pair (it holds a kept address)');
      assert.ok(after.includes(otherVeth), 'a pair whose address GC did not release was deleted');
    });
  },
);

test('STATUS: success on a usable config, and still success (a warning on stderr) once the range is exhausted', () => {
  inWorld('status', (world) => {
    // a /30: .1 is the gateway, .2 the only address to hand out
    const conf = netConf(world, '10.200.9.0/30', 'iptables');
    const ok = cni(world.node, { command: 'STATUS', conf });
    assert.is(ok.status, 0, `STATUS failed: ${ok.stdout} ${ok.stderr}`);
    assert.is(ok.stdout.trim(), '');

    const pod = world.pod('a');
    const cid = `status-${RUN_ID}`;
    const add = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
    assert.is(add.status, 0, add.stdout);
    assert.is(add.json.ips[0].address, '10.200.9.2/30');

    // containerd 2.x marks the node NotReady on a STATUS error: a full range must not be one
    const full = cni(world.node, { command: 'STATUS', conf, env: { TSBRIDGE_LOG_LEVEL: 'warn' } });
    assert.is(full.status, 0, `STATUS failed on an exhausted range: ${full.stdout}`);
    assert.is(full.stdout.trim(), '');
    assert.match(full.stderr, 'exhausted');

    assert.is(cni(world.node, { command: 'DEL', conf, containerId: cid, netns: pod.path }).status, 0);
    assert.is(cni(world.node, { command: 'STATUS', conf }).status, 0, 'STATUS after DEL');
  });
});

test.run();
