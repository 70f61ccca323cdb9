// Our synchronous NETLINK_ROUTE socket (native addon + src/netlink/socket.ts) against the real
// kernel, in a namespace of our own: multipart dumps, errno, the bounded wait, stale replies.
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RTM } from '../../src/netlink/constants';
import { listLinks } from '../../src/netlink/link';
import { encodeRequest, NetlinkError, Rtnl } from '../../src/netlink/socket';
import { rtnetlink } from '../../src/sys/native';
import { World, inWorld } from '../helpers/netns';

const ifinfo = (): Buffer => Buffer.alloc(16);
const fdOf = (nl: Rtnl): number => (nl as unknown as { fd: number }).fd;

test('a dump larger than one datagram arrives whole (300 links)', async () => {
  await inWorld('nldump', async (world) => {
    const batch = Array.from({ length: 300 }, (_, i) => `link add nld${i} type bridge`).join('\n') + '\n';
    const r = spawnSync('ip', ['-n', world.node, '-batch', '-'], { input: batch, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const viaIp = world.links(world.node).sort();
    assert.is(viaIp.length, 301);
    const nl = Rtnl.open(`/run/netns/${world.node}`);
    try {
      const raw = nl.requestSync(RTM.GETLINK, 0x300, ifinfo(), 'dump');
      assert.is(raw.length, 301);
      assert.equal((await listLinks(nl)).map((l) => l.name).sort(), viaIp);
    } finally {
      nl.close();
    }
  });
});

test('a kernel error is a NetlinkError with its errno; the socket stays usable', async () => {
  const world = new World('nlerr');
  const nl = Rtnl.open(`/run/netns/${world.node}`);
  try {
    assert.ok(world.links(world.node).includes('lo'));
    try {
      nl.requestSync(RTM.DELLINK, 0, Buffer.from(new Int32Array([0, 4242, 0, 0]).buffer), 'delete #4242');
      assert.unreachable('deleting a missing link succeeded');
    } catch (e) {
      assert.instance(e, NetlinkError);
      assert.is((e as NetlinkError).errno, 19);
    }
    assert.equal(
      (await listLinks(nl)).map((l) => l.name),
      ['lo'],
    );
  } finally {
    nl.close();
    world.cleanup();
  }
});

test('waiting for a reply that never comes ends with ETIMEDOUT, not a hang', () => {
  const world = new World('nltime');
  const nl = Rtnl.open(`/run/netns/${world.node}`);
  try {
    assert.ok(world.links(world.node).includes('lo'));
    const t0 = Date.now();
    try {
      rtnetlink().nlRecv(fdOf(nl), 200);
      assert.unreachable('received from a socket nobody wrote to');
    } catch (e) {
      assert.is((e as { errno?: number }).errno, 110);
    }
    assert.ok(Date.now() - t0 < 5000);
  } finally {
    nl.close();
    world.cleanup();
  }
});

test('a stale reply to an earlier request is skipped, not taken as the answer', async () => {
  const world = new World('nlstale');
  const nl = Rtnl.open(`/run/netns/${world.node}`);
  try {
    // an error ACK with a foreign sequence number waits in the socket before our request
    rtnetlink().nlSend(
      fdOf(nl),
      encodeRequest(RTM.DELLINK, 0x5, 0x7ffffff0, Buffer.from(new Int32Array([0, 4242, 0, 0]).buffer)),
    );
    assert.equal(
      (await listLinks(nl)).map((l) => l.name),
      ['lo'],
    );
    try {
      rtnetlink().nlRecv(fdOf(nl), 100);
      assert.unreachable('something was left in the socket');
    } catch (e) {
      assert.is((e as { errno?: number }).errno, 110);
    }
  } finally {
    nl.close();
    world.cleanup();
  }
});

test('the socket is close-on-exec: children (iptables, nft) do not inherit it', () => {
  const nl = Rtnl.open();
  try {
    const fd = fdOf(nl);
    assert.ok(fd > 2);
    const r = spawnSync('sh', ['-c', `ls -l /proc/self/fd/${fd}; readlink /proc/${process.pid}/fd/${fd}`], {
      encoding: 'utf8',
    });
    assert.match(r.stdout, /socket:/, 'the parent holds the socket');
    assert.match(r.stderr, /No such file/, 'the child has the fd');
  } finally {
    nl.close();
  }
});

test.run();
