import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorCode } from '../helpers/cni-error';
import { parseCniArgs } from '../../src/cni/args';
import { parseNetConf } from '../../src/cni/netconf';
import { parseBridgeConfig } from '../../src/attachment/config';
import { hostVethName } from '../../src/attachment/names';

const conf = (extra: object, args = '') =>
  parseBridgeConfig(
    parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n1', type: 'tsbridge', ...extra })),
    parseCniArgs(args),
  );
test('defaults are the reference bridge defaults', () => {
  const c = conf({});
  assert.is(c.bridge, 'cni0');
  assert.is(c.isGateway, false);
  assert.is(c.ipMasq, false);
  assert.is(c.mtu, undefined);
  assert.is(c.hairpinMode, false);
  assert.is(c.enableDad, false);
});

test('isDefaultGateway implies isGateway; keys are case-insensitive', () => {
  const c = conf({
    Bridge: 'br9',
    ISDEFAULTGATEWAY: true,
    ipmasq: true,
    MTU: 1400,
    HairpinMode: true,
    promiscMode: true,
    portIsolation: true,
  });
  assert.is(c.bridge, 'br9');
  assert.ok(c.isGateway && c.isDefaultGateway && c.ipMasq && c.hairpinMode && c.promiscMode && c.portIsolation);
  assert.is(c.mtu, 1400);
});

test('mac: runtimeConfig.mac, else args.cni.mac, else CNI_ARGS MAC (the reference loadNetConf order)', () => {
  const M = (n: number) => `0a:00:00:00:00:0${n}`;
  assert.is(conf({}, `MAC=${M(1)}`).mac, M(1));
  assert.is(conf({ args: { cni: { mac: M(3) } } }, `MAC=${M(1)}`).mac, M(3));
  assert.is(conf({ args: { cni: { mac: M(3) } }, runtimeConfig: { mac: M(2) } }, `MAC=${M(1)}`).mac, M(2));
  assert.is(conf({ runtimeConfig: { mac: '' }, args: { cni: { mac: M(3) } } }).mac, M(3)); // "" is unset, as in Go
  assert.is(
    errorCode(() => conf({ runtimeConfig: { mac: 'zz' } })),
    7,
  );
  assert.is(
    errorCode(() => conf({ args: { cni: { mac: 'zz' } } })),
    7,
  );
});

test("requested IPs: CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips together, in host-local's order", () => {
  assert.equal(conf({}, 'IP=10.0.0.9').requestedIps, ['10.0.0.9']);
  assert.equal(
    conf({ runtimeConfig: { ips: ['10.0.0.7/24'] }, args: { cni: { ips: ['fd00::7/64'] } } }, 'IP=10.0.0.9')
      .requestedIps,
    ['10.0.0.9', 'fd00::7', '10.0.0.7'],
  );
  assert.is(
    errorCode(() => conf({ args: { cni: { ips: '10.0.0.1' } } })),
    7,
  );
});

test(
  'L2-only: no ipam, "ipam": {} or an empty type (ipam ' + 'with disableContainerInterface is refused by ADD only)',
  () => {
    assert.is(conf({}).layer3, false);
    assert.is(conf({ ipam: {} }).layer3, false);
    assert.is(conf({ ipam: { type: '' } }).layer3, false);
    assert.is(conf({ ipam: { type: 'host-local' } }).layer3, true);
    assert.is(conf({ ipam: {}, disableContainerInterface: true }).disableContainerInterface, true);
    // DEL of an old attachment still parses
    assert.is(conf({ ipam: { type: 'static' }, disableContainerInterface: true }).layer3, true);
    assert.is(
      errorCode(() => conf({ ipam: { type: 5 } })),
      7,
    );
  },
);

test('macspoofchk is a boolean, off by default', () => {
  assert.is(conf({}).macspoofchk, false);
  assert.is(conf({ MacSpoofChk: true }).macspoofchk, true);
  assert.is(
    errorCode(() => conf({ macspoofchk: 'yes' })),
    7,
  );
});

test('bad values are code 7', () => {
  assert.is(
    errorCode(() => conf({ bridge: 'a-bridge-name-too-long' })),
    7,
  );
  assert.is(
    errorCode(() => conf({ bridge: 'a/b' })),
    7,
  );
  assert.is(
    errorCode(() => conf({ ipMasqBackend: 'pf' })),
    7,
  );
  assert.is(
    errorCode(() => conf({ mtu: -1 })),
    7,
  );
  assert.is(
    errorCode(() => conf({ isGateway: 'yes' })),
    7,
  );
});

test('host veth names are pinned: DEL and GC after an upgrade find the host end by this name', () => {
  // literal values computed once (sha256 of "containerID\0ifname"): never change them
  assert.is(hostVethName('c1', 'eth0'), 'vethec43057c');
  assert.is(hostVethName('c1', 'eth1'), 'vethef3e0578');
  assert.is(hostVethName('c2', 'eth0'), 'vethf61abc13');
  assert.is(hostVethName('0123456789abcdef'.repeat(4), 'net1'), 'veth6e22c345');
});

test.run();
