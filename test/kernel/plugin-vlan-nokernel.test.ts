// On a kernel without bridge VLAN filtering (this machine's): `vlan`/`vlanTrunk` are refused with
// code 2 naming CONFIG_BRIDGE_VLAN_FILTERING, and nothing is left: no bridge, no veth, no
// reservation; an existing bridge stays as it was. (On a kernel with it, test/vm/guest/30-vlan.sh
// covers VLANs; this test then says so and checks nothing.)
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RUN_ID, World, bridgeConf, cni, inWorld } from '../helpers/netns';

function kernelHasVlanFiltering(world: World): boolean {
  const ns = world.addNs('vlprobe');
  const r = spawnSync('ip', ['-n', ns, 'link', 'add', 'vlprobe0', 'type', 'bridge', 'vlan_filtering', '1'], {
    encoding: 'utf8',
  });
  if (r.status === 0) return true;
  assert.match(r.stderr, /Operation not supported/, `probe failed otherwise: ${r.stderr}`);
  return false;
}

test('vlan / vlanTrunk on a kernel without VLAN filtering: code 2 naming the feature, nothing left behind', () => {
  inWorld('vlnok', (world) => {
    if (kernelHasVlanFiltering(world)) {
      console.log(
        '  (this kernel has bridge VLAN filtering: the refusal cannot happen here; VLANs are tested in the VM)',
      );
      return;
    }
    const NET = 'tsbt-vlnok';
    const plain = bridgeConf(world, { name: NET, bridge: 'tsbvl0', ranges: [[{ subnet: '10.200.37.0/24' }]] });
    // first what an ADD leaves when it succeeds (so the absence checks below can see it)
    const ok = world.pod('ok');
    const r0 = cni(world.node, { command: 'ADD', conf: plain, containerId: `vl-ok-${RUN_ID}`, netns: ok.path });
    assert.is(r0.status, 0, r0.stdout);
    const linksBefore = world.links(world.node);
    assert.ok(linksBefore.includes('tsbvl0') && linksBefore.some((l) => l.startsWith('veth')), linksBefore.join(' '));
    assert.is(world.reservations(NET).length, 1);

    for (const [key, bridge] of [
      [{ vlan: 10 }, 'tsbvl1'],
      [{ vlanTrunk: [{ id: 10 }] }, 'tsbvl1'],
      [{ vlan: 10 }, 'tsbvl0'],
    ] as const) {
      const pod = world.pod('vl');
      const r = cni(world.node, {
        command: 'ADD',
        conf: { ...plain, ...key, bridge },
        containerId: `vl-${RUN_ID}`,
        netns: pod.path,
      });
      const what = `${JSON.stringify(key)} on ${bridge === 'tsbvl0' ? 'the existing bridge' : 'a new bridge'}`;
      assert.is(r.status, 1, what);
      assert.is(r.json?.code, 2, `${what}: ${r.stdout}`);
      assert.match(r.json.msg, /CONFIG_BRIDGE_VLAN_FILTERING/);
      assert.equal(world.links(world.node), linksBefore, `${what}: links changed`);
      assert.equal(world.links(pod.name), ['lo'], `${what}: the pod got an interface`);
      assert.is(world.reservations(NET).length, 1, `${what}: reservation left`);
      const filt = world.link(world.node, 'tsbvl0') as unknown as {
        linkinfo?: { info_data?: { vlan_filtering?: number } };
      };
      assert.is(filt.linkinfo?.info_data?.vlan_filtering, 0, `${what}: the existing bridge changed`);
    }
  });
});

test.run();
