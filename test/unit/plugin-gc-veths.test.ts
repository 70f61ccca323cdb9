import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BridgePort, portsOfReleased } from '../../src/plugin/gc-veths';

const port = (name: string, peerName: string, ...peerAddrs: string[]): BridgePort => ({ name, peerName, peerAddrs });

test("portsOfReleased: the pair whose container end holds a released address under the reservation's ifname", () => {
  const ports = [port('veth1a2b3c4d', 'eth0', '10.22.0.5', 'fe80::1'), port('vethlive', 'eth0', '10.22.0.6')];
  assert.equal(
    portsOfReleased(ports, [{ ip: '10.22.0.5', ifname: 'eth0' }], ['10.22.0.6']).map((p) => p.name),
    ['veth1a2b3c4d'],
  );
  // address spelling does not matter
  assert.equal(
    portsOfReleased([port('v6', 'eth0', 'fd22::5')], [{ ip: 'fd22:0:0::5', ifname: 'eth0' }], []).map((p) => p.name),
    ['v6'],
  );
});

test('portsOfReleased: nothing else — other ifname, no released address, a kept address, old-format records', () => {
  const released = [{ ip: '10.22.0.5', ifname: 'eth0' }];
  assert.equal(portsOfReleased([port('a', 'net1', '10.22.0.5')], released, []), []);
  assert.equal(portsOfReleased([port('b', 'eth0', '10.22.0.9')], released, []), []);
  assert.equal(portsOfReleased([port('c', 'eth0')], released, []), []);
  // a live pod that also carries the stale address keeps its pair
  assert.equal(portsOfReleased([port('d', 'eth0', '10.22.0.6', '10.22.0.5')], released, ['10.22.0.6']), []);
  // a record without ifname (host-local's old format) names no interface
  assert.equal(portsOfReleased([port('e', 'eth0', '10.22.0.5')], [{ ip: '10.22.0.5', ifname: '' }], []), []);
});

test.run();
