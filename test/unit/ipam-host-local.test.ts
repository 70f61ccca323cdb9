import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, ErrCode } from '../../src/cni/errors';
import { JsonObject } from '../../src/cni/json';
import { HostLocalConfig, parseHostLocalConfig } from '../../src/ipam/config';
import * as hostLocal from '../../src/ipam/host-local';
import { parseResolvConf } from '../../src/ipam/resolv-conf';
import { withIpamDir } from '../helpers/tmp';

function withTmp(
  fn: (cfgOf: (ipam: JsonObject, ipArgs?: string[]) => HostLocalConfig, dir: string, tmp: string) => void,
): void {
  withIpamDir((tmp, dir) => {
    const cfgOf = (ipam: JsonObject, ipArgs: string[] = []): HostLocalConfig =>
      parseHostLocalConfig({ type: 'host-local', dataDir: tmp, ...ipam }, 'net1', { ipArgs });
    fn(cfgOf, dir, tmp);
  });
}

test('allocate: dual-stack result with prefixes, gateways, versions, routes; release frees all', () => {
  withTmp((cfgOf, dir) => {
    const cfg = cfgOf({
      ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]],
      routes: [{ dst: '0.0.0.0/0' }],
    });
    const r = hostLocal.allocate(cfg, 'net1', 'c1', 'eth0', []);
    assert.equal(r, {
      ips: [
        { address: '10.1.0.2/24', gateway: '10.1.0.1', version: '4' },
        { address: 'fd00::2/64', gateway: 'fd00::1', version: '6' },
      ],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
    });
    assert.equal(hostLocal.findByAttachment(cfg, 'net1', 'c1', 'eth0').sort(), ['10.1.0.2', 'fd00::2']);
    assert.equal(hostLocal.release(cfg, 'net1', 'c1', 'eth0').sort(), ['10.1.0.2', 'fd00::2']);
    assert.equal(hostLocal.release(cfg, 'net1', 'c1', 'eth0'), []); // DEL twice is fine
    assert.equal(fs.readdirSync(dir).sort(), ['last_reserved_ip.0', 'last_reserved_ip.1', 'lock', 'tsbridge-boot']);
  });
});

test("allocate uses the config's requested IPs by default", () => {
  withTmp((cfgOf) => {
    const cfg = cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, ['10.1.0.42/24']);
    assert.is(hostLocal.allocate(cfg, 'net1', 'c1', 'eth0').ips[0].address, '10.1.0.42/24');
  });
});

test('resolvConf becomes dns; an unreadable one fails before anything is reserved', () => {
  withTmp((cfgOf, dir, tmp) => {
    const rc = path.join(tmp, 'resolv.conf');
    fs.writeFileSync(
      rc,
      '# comment\n; other\nnameserver 10.0.0.53\nnameserver fd00::53 extra\ndomain example.org\n' +
        'search a.example b.example\nsearch c.example\noptions ndots:5 rotate\nnameserver\nsortlist 1.2.3.4\n',
    );
    const r = hostLocal.allocate(
      cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }]], resolvConf: rc }),
      'net1',
      'c1',
      'eth0',
      [],
    );
    assert.equal(r.dns, {
      nameservers: ['10.0.0.53', 'fd00::53'],
      domain: 'example.org',
      search: ['a.example', 'b.example', 'c.example'],
      options: ['ndots:5', 'rotate'],
    });
    const bad = cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }]], resolvConf: path.join(tmp, 'missing') });
    assert.throws(
      () => hostLocal.allocate(bad, 'net1', 'c2', 'eth0', []),
      (e: CniError) => e.code === ErrCode.IOFailure,
    );
    assert.equal(hostLocal.findByAttachment(bad, 'net1', 'c2', 'eth0'), []);
    assert.ok(fs.existsSync(dir));
  });
});

test('parseResolvConf tolerates CRLF and tabs', () => {
  assert.equal(parseResolvConf('nameserver\t1.1.1.1\r\nsearch x\r\n'), { nameservers: ['1.1.1.1'], search: ['x'] });
});

test('a failure in the second range set leaves nothing reserved on disk', () => {
  withTmp((cfgOf, dir) => {
    const cfg = cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/30' }]] });
    hostLocal.allocate(cfg, 'net1', 'c1', 'eth0', []);
    assert.throws(
      () => hostLocal.allocate(cfg, 'net1', 'c2', 'eth0', []),
      (e: CniError) => e.code === ErrCode.RangeExhausted && /^failed to allocate for range 1: /.test(e.message),
    );
    assert.equal(hostLocal.findByAttachment(cfg, 'net1', 'c2', 'eth0'), []);
    assert.not.ok(fs.existsSync(path.join(dir, '10.1.0.3')));
  });
});

test('exhaustedRangeSets names the full sets', () => {
  withTmp((cfgOf) => {
    const cfg = cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/30' }]] });
    assert.equal(hostLocal.exhaustedRangeSets(cfg, 'net1'), []);
    hostLocal.allocate(cfg, 'net1', 'c1', 'eth0', []);
    assert.equal(hostLocal.exhaustedRangeSets(cfg, 'net1'), [1]);
  });
});

test(
  'gc releases what no valid attachment holds; keeps ' + 'old-format records of valid containers and foreign files',
  () => {
    withTmp((cfgOf, dir) => {
      const cfg = cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }]] });
      for (const [c, i] of [
        ['c1', 'eth0'],
        ['c1', 'eth1'],
        ['c2', 'eth0'],
        ['c3', 'eth0'],
      ])
        hostLocal.allocate(cfg, 'net1', c, i, []);
      fs.writeFileSync(path.join(dir, '10.1.0.100'), 'c2'); // old format, container still valid
      fs.writeFileSync(path.join(dir, '10.1.0.101'), 'c9'); // old format, gone
      fs.writeFileSync(path.join(dir, '10.1.0.102'), 'not ours at all');
      const before = hostLocal.listAttachments(cfg, 'net1').length;
      assert.is(before, 6);
      const freed = hostLocal.gc(cfg, 'net1', [
        { containerId: 'c1', ifname: 'eth0' },
        { containerId: 'c2', ifname: 'eth0' },
      ]);
      assert.equal(freed.sort(), ['10.1.0.101', '10.1.0.3', '10.1.0.5']);
      assert.equal(
        hostLocal
          .listAttachments(cfg, 'net1')
          .map((a) => `${a.ip} ${a.containerId} ${a.ifname}`)
          .sort(),
        ['10.1.0.100 c2 ', '10.1.0.2 c1 eth0', '10.1.0.4 c2 eth0'],
      );
      assert.ok(fs.existsSync(path.join(dir, '10.1.0.102')));
      assert.equal(hostLocal.gc(cfg, 'net1', []).sort(), ['10.1.0.100', '10.1.0.2', '10.1.0.4']);
    });
  },
);

test('an invalid network name never reaches the file system', () => {
  withTmp((cfgOf, _dir, tmp) => {
    const cfg = cfgOf({ ranges: [[{ subnet: '10.1.0.0/24' }]] });
    assert.throws(
      () => hostLocal.allocate(cfg, '../evil', 'c1', 'eth0', []),
      (e: CniError) => e.code === ErrCode.InvalidConfig,
    );
    assert.equal(fs.readdirSync(tmp), []);
  });
});

test.run();
