// The kernel side changed under a running container, and what brings it back:
//  - the bridge deleted by an operator: CHECK names it; the next ADD (another container)
//    recreates it with its gateway; the old container stays detached until its DEL+ADD;
//  - the container's netns deleted: CHECK names it; DEL cleans up everything with the stale path;
//  - the nat table flushed (iptables -t nat -F, nft flush ruleset): CHECK names the missing
//    masquerade; an ADD of another container does not restore the first one's rules, DEL+ADD of
//    that container does (and its traffic is masqueraded again);
//  - ip_forward reset to 0: CHECK names it; the next ADD switches it back on, and the first
//    container's CHECK passes again.
// Subnet 10.220.6.0/24, bridge tsbkn0, outside host 192.168.220.0/24.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { masqChainName } from '../../src/firewall/tag';
import { traces } from '../helpers/fuzz-state';
import { CniReply, RUN_ID, World, bridgeConf, cni, sh, withPrev, inWorld } from '../helpers/netns';

const BRIDGE = 'tsbkn0';
const NET = 'tsbt-kn';
const GW = '10.220.6.1';

interface Att {
  cid: string;
  pod: { name: string; path: string };
  result: any;
}

const conf = (world: World, backend = 'iptables') =>
  bridgeConf(
    world,
    { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.220.6.0/24' }]] },
    { ipMasq: true, ipMasqBackend: backend },
  );

function add(
  world: World,
  c: object,
  tag: string,
  pod?: { name: string; path: string },
  cid = `kn-${tag}-${RUN_ID}`,
): Att {
  const p = pod ?? world.pod(tag);
  const r = cni(world.node, { command: 'ADD', conf: c, containerId: cid, netns: p.path });
  assert.is(r.status, 0, `ADD ${tag}: ${r.stdout} ${r.stderr}`);
  return { cid, pod: p, result: r.json };
}

const check = (world: World, c: object, a: Att): CniReply =>
  cni(world.node, { command: 'CHECK', conf: withPrev(c, a.result), containerId: a.cid, netns: a.pod.path });

function checkFails(world: World, c: object, a: Att, ...expect: string[]): string {
  const r = check(world, c, a);
  assert.is.not(r.status, 0, 'CHECK passed on a broken container');
  assert.ok(r.json, `no error JSON: ${r.stdout} ${r.stderr}`);
  assert.is(r.json.code, 104, r.stdout);
  for (const s of expect) assert.ok(r.json.msg.includes(s), `CHECK msg lacks "${s}": ${r.json.msg}`);
  return r.json.msg;
}

function checkOk(world: World, c: object, a: Att, what: string): void {
  const r = check(world, c, a);
  assert.is(r.status, 0, `CHECK ${what}: ${r.stdout}`);
}

function delAdd(world: World, c: object, a: Att): Att {
  const d = cni(world.node, { command: 'DEL', conf: c, containerId: a.cid, netns: a.pod.path });
  assert.is(d.status, 0, `DEL: ${d.stdout}`);
  return add(world, c, 'again', a.pod, a.cid);
}

test(
  'bridge deleted by an operator: CHECK names it; the next ' + 'ADD recreates it; the old container needs DEL+ADD',
  () => {
    inWorld('knbr', (world) => {
      const c = conf(world);
      const a = add(world, c, 'a');
      world.exec(world.node, 'ip', ['link', 'del', BRIDGE]);
      checkFails(world, c, a, `bridge ${BRIDGE} does not exist`);

      const b = add(world, c, 'b');
      assert.is(world.link(world.node, BRIDGE)?.linkinfo?.info_kind, 'bridge', 'the bridge was not recreated');
      assert.equal(world.addrs(world.node, BRIDGE), [`${GW}/24`], 'the gateway is back on the bridge');
      assert.ok(world.ping(b.pod.name, GW), 'the new container cannot reach the gateway');
      checkOk(world, c, b, 'of the new container');
      // the old host veth survived, detached: not repaired by someone else's ADD
      checkFails(world, c, a, 'not attached to bridge');
      assert.not.ok(world.ping(a.pod.name, GW), 'the detached container should not reach the gateway');

      const a2 = delAdd(world, c, a);
      checkOk(world, c, a2, 'after DEL+ADD');
      assert.ok(world.ping(a2.pod.name, GW));
      assert.ok(
        world.ping(a2.pod.name, b.result.ips[0].address.split('/')[0]),
        'the two containers cannot reach each other',
      );
    });
  },
);

test('netns deleted mid-life: CHECK names it; DEL with the stale path removes veth, IP and rules', () => {
  inWorld('knns', (world) => {
    const c = conf(world);
    const a = add(world, c, 'a');
    sh('ip', ['netns', 'del', a.pod.name]);
    checkFails(world, c, a, `container network namespace ${a.pod.path} cannot be entered`);
    const d = cni(world.node, { command: 'DEL', conf: c, containerId: a.cid, netns: a.pod.path });
    assert.is(d.status, 0, `DEL with a vanished netns: ${d.stdout}`);
    assert.equal(traces(world, NET, a.cid), [], 'DEL left traces');
    assert.equal(world.reservations(NET), []);
    // and again: DEL stays idempotent
    assert.is(cni(world.node, { command: 'DEL', conf: c, containerId: a.cid, netns: a.pod.path }).status, 0);
  });
});

const flushes = [
  { backend: 'iptables', cmd: ['iptables', '-t', 'nat', '-F'], expect: 'MASQUERADE rule for 10.220.6.2 missing' },
  { backend: 'nftables', cmd: ['nft', 'flush', 'ruleset'], expect: 'nftables table inet tsbridge is missing' },
] as const;

for (const f of flushes) {
  test(
    `nat table flushed (${f.cmd.join(' ')}): CHECK names ` + `it; another ADD does not repair it; DEL+ADD does`,
    async () => {
      await inWorld(`knfl${f.backend.slice(0, 3)}`, async (world) => {
        const c = conf(world, f.backend);
        const out = world.outside('out', '192.168.220.1/24', '192.168.220.2/24');
        await world.serveTcp(out, 8080);
        const a = add(world, c, 'a');
        assert.is(world.tcpPeer(a.pod.name, '192.168.220.2', 8080), '192.168.220.1', 'masquerade before the flush');
        world.exec(world.node, f.cmd[0], [...f.cmd.slice(1)]);
        checkFails(world, c, a, f.expect);

        const b = add(world, c, 'b');
        checkOk(world, c, b, 'of a container added after the flush');
        const msg = checkFails(world, c, a);
        assert.ok(
          msg.includes('10.220.6.2') ||
            msg.includes(masqChainName(NET, a.cid)) ||
            msg.includes('masquerade') ||
            msg.includes('MASQUERADE'),
          msg,
        );

        const a2 = delAdd(world, c, a);
        checkOk(world, c, a2, 'after DEL+ADD');
        assert.is(world.tcpPeer(a2.pod.name, '192.168.220.2', 8080), '192.168.220.1', 'masquerade after the repair');
      });
    },
  );
}

test(
  'ip_forward reset to 0: CHECK names it; the next ADD switches it back on; the first container passes CHECK ' +
    'again',
  () => {
    inWorld('knfw', (world) => {
      const c = conf(world);
      const a = add(world, c, 'a');
      assert.is(world.sysctl(world.node, 'net.ipv4.ip_forward'), '1');
      world.exec(world.node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
      checkFails(world, c, a, 'net.ipv4.ip_forward=0');
      const b = add(world, c, 'b');
      assert.is(world.sysctl(world.node, 'net.ipv4.ip_forward'), '1', 'ADD did not re-enable forwarding');
      checkOk(world, c, a, 'of the first container once forwarding is back');
      checkOk(world, c, b, 'of the second');
    });
  },
);

test.run();
