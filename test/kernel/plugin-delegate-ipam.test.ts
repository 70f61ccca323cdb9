// IPAM types other than host-local are exec'd from CNI_PATH, as the spec says (here the reference
// `static` plugin from /usr/lib/cni).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cni, withPrev, inWorld } from '../helpers/netns';

const conf = (ipam: object) => ({
  cniVersion: '1.0.0',
  name: 'deleg',
  type: 'tsbridge',
  bridge: 'tsbdeleg0',
  isGateway: true,
  isDefaultGateway: true,
  ipam,
});

test("ipam.type static is exec'd from CNI_PATH: its address and gateway are used; CHECK and DEL pass", () => {
  inWorld('deleg', (world) => {
    const c = conf({ type: 'static', addresses: [{ address: '10.200.20.5/24', gateway: '10.200.20.1' }] });
    const pod = world.pod('p');
    const add = cni(world.node, { command: 'ADD', conf: c, containerId: 'deleg1', netns: pod.path });
    assert.is(add.status, 0, add.stdout + add.stderr);
    assert.is(add.json.ips[0].address, '10.200.20.5/24');
    assert.is(add.json.ips[0].gateway, '10.200.20.1');
    assert.equal(world.addrs(pod.name, 'eth0'), ['10.200.20.5/24']);
    assert.ok(world.ping(pod.name, '10.200.20.1'));
    const check = cni(world.node, {
      command: 'CHECK',
      conf: withPrev(c, add.json),
      containerId: 'deleg1',
      netns: pod.path,
    });
    assert.is(check.status, 0, check.stdout);
    assert.is(cni(world.node, { command: 'DEL', conf: c, containerId: 'deleg1', netns: pod.path }).status, 0);
    assert.equal(
      world.links(pod.name).filter((l) => l !== 'lo'),
      [],
    );
  });
});

test('an IPAM type missing from CNI_PATH is code 7 naming it, and nothing is made', () => {
  inWorld('delegx', (world) => {
    const pod = world.pod('p');
    const add = cni(world.node, {
      command: 'ADD',
      conf: conf({ type: 'no-such-ipam' }),
      containerId: 'deleg2',
      netns: pod.path,
    });
    assert.is(add.status, 1);
    assert.is(add.json.code, 7);
    assert.match(add.json.msg, /no-such-ipam/);
    assert.equal(
      world.links(pod.name).filter((l) => l !== 'lo'),
      [],
    );
  });
});

test.run();
