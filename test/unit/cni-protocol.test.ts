import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorCode } from '../helpers/cni-error';
import { parseCniArgs } from '../../src/cni/args';
import { parseEnv, validateIfname } from '../../src/cni/env';
import { CniError, errorJson } from '../../src/cni/errors';
import { getKey, optInt } from '../../src/cni/json';
import { parseNetConf } from '../../src/cni/netconf';
import { parsePrevResult, Result, toVersion } from '../../src/cni/result';
import { compareVersions, requireSupported } from '../../src/cni/version';
import { peekVersion, versionReply } from '../../src/plugin/dispatch';

const full: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '00:11:22:33:44:55', mtu: 1500 },
    { name: 'veth1', mac: '00:11:22:33:44:66' },
    { name: 'eth0', mac: '00:11:22:33:44:77', sandbox: '/run/netns/x', mtu: 1500 },
  ],
  ips: [
    { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, priority: 10 }],
  dns: { nameservers: ['10.1.0.1'] },
};

test('toVersion 1.1.0 keeps every field', () => {
  const r = toVersion(full, '1.1.0') as any;
  assert.is(r.cniVersion, '1.1.0');
  assert.is(r.interfaces[0].mtu, 1500);
  assert.is(r.routes[0].mtu, 1400);
  assert.is(r.routes[0].priority, 10);
  assert.not.ok('version' in r.ips[0]);
  assert.equal(r.dns, { nameservers: ['10.1.0.1'] });
});

test('toVersion 1.0.0 drops the 1.1 fields and has no ips[].version', () => {
  const r = toVersion(full, '1.0.0') as any;
  assert.is(r.cniVersion, '1.0.0');
  assert.equal(r.interfaces[0], { name: 'cni0', mac: '00:11:22:33:44:55' });
  assert.equal(r.routes[0], { dst: '0.0.0.0/0', gw: '10.1.0.1' });
  assert.equal(r.ips[0], { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 });
});

for (const v of ['0.3.0', '0.3.1', '0.4.0']) {
  test(`toVersion ${v} adds ips[].version per family`, () => {
    const r = toVersion(full, v) as any;
    assert.is(r.cniVersion, v);
    assert.is(r.ips[0].version, '4');
    assert.is(r.ips[1].version, '6');
    assert.equal(r.interfaces[2], { name: 'eth0', mac: '00:11:22:33:44:77', sandbox: '/run/netns/x' });
  });
}

test('toVersion always prints dns, even empty (as the Go reference)', () => {
  assert.equal((toVersion({ cniVersion: '1.0.0' }, '1.0.0') as any).dns, {});
});

test('parsePrevResult round-trips every version and takes the config version when missing', () => {
  for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    const back = parsePrevResult(toVersion(full, v), '1.1.0');
    assert.is(back.cniVersion, v);
    assert.is(back.ips![1].address, 'fd00::5/64');
    assert.is(back.ips![0].interface, 2);
  }
  const noVersion = parsePrevResult({ ips: [{ address: '10.0.0.2/24' }] }, '0.4.0');
  assert.is(noVersion.cniVersion, '0.4.0');
});

test('parsePrevResult rejects garbage with code 6', () => {
  assert.is(
    errorCode(() => parsePrevResult('x', '1.0.0')),
    6,
  );
  assert.is(
    errorCode(() => parsePrevResult({ ips: [{}] }, '1.0.0')),
    6,
  );
  assert.is(
    errorCode(() => parsePrevResult({ ips: 'no' }, '1.0.0')),
    6,
  );
  assert.is(
    errorCode(() => parsePrevResult({ cniVersion: '0.2.0', ip4: 'x' }, '1.0.0')),
    6,
  );
  assert.is(
    errorCode(() => parsePrevResult({ cniVersion: '0.2.0', ip4: { gateway: '10.0.0.1' } }, '1.0.0')),
    6,
  );
});

// libcni's types020: what the reference 1.1.1 prints for a 0.1.0/0.2.0 config (checked side by side)
test('toVersion 0.2.0 / 0.1.0: the ip4/ip6 format of libcni types020, routes under their family', () => {
  for (const v of ['0.1.0', '0.2.0']) {
    const r = toVersion(
      {
        ...full,
        routes: [
          { dst: '10.99.0.0/16' },
          { dst: '0.0.0.0/0', gw: '10.1.0.1', priority: 5 },
          { dst: 'fd99::/64', gw: 'fd00::9' },
        ],
      },
      v,
    );
    assert.equal(r, {
      cniVersion: v,
      ip4: {
        ip: '10.1.0.5/24',
        gateway: '10.1.0.1',
        routes: [{ dst: '10.99.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.1.0.1' }],
      },
      ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: 'fd99::/64', gw: 'fd00::9' }] },
      dns: { nameservers: ['10.1.0.1'] },
    });
    assert.equal(Object.keys(r), ['cniVersion', 'ip4', 'ip6', 'dns']);
  }
  // only the first address per family; a route of a family without address is dropped
  const one = toVersion(
    {
      cniVersion: '1.1.0',
      ips: [{ address: '10.1.0.5/24' }, { address: '10.2.0.5/24' }],
      routes: [{ dst: 'fd99::/64' }],
    },
    '0.2.0',
  ) as any;
  assert.equal(one, { cniVersion: '0.2.0', ip4: { ip: '10.1.0.5/24' }, dns: {} });
  // no address: not expressible (libcni "cannot convert: no valid IP addresses")
  assert.is(
    errorCode(() => toVersion({ cniVersion: '1.1.0', interfaces: full.interfaces }, '0.2.0')),
    1,
  );
});

test('parsePrevResult reads a 0.2.0 result (a delegated IPAM plugin answering a 0.2.0 config)', () => {
  const r = parsePrevResult(
    {
      cniVersion: '0.2.0',
      ip4: { ip: '10.1.0.5/24', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      ip6: { ip: 'fd00::5/64' },
      dns: { domain: 'x' },
    },
    '0.2.0',
  );
  assert.equal(r.ips, [
    { address: '10.1.0.5/24', gateway: '10.1.0.1' },
    { address: 'fd00::5/64', gateway: undefined },
  ]);
  assert.equal(
    r.routes!.map((x) => x.dst),
    ['0.0.0.0/0'],
  );
  assert.is(r.dns!.domain, 'x');
  // missing cniVersion in the result: the config's (here 0.1.0) decides the format
  assert.is(parsePrevResult({ ip4: { ip: '10.1.0.5/24' } }, '0.1.0').ips![0].address, '10.1.0.5/24');
});

test('toVersion drops empty dns lists (Go omitempty)', () => {
  assert.equal(
    (toVersion({ cniVersion: '1.0.0', dns: { nameservers: [], domain: '', search: ['a'] } }, '1.0.0') as any).dns,
    { search: ['a'] },
  );
});

test('errorJson has cniVersion, code, msg and details', () => {
  assert.equal(errorJson(new CniError(7, 'bad', 'why'), '1.0.0'), {
    cniVersion: '1.0.0',
    code: 7,
    msg: 'bad',
    details: 'why',
  });
  assert.equal(errorJson(new CniError(4, 'env'), '0.4.0'), { cniVersion: '0.4.0', code: 4, msg: 'env' });
  const internal = errorJson(new Error('boom'), '1.1.0');
  assert.is(internal.code, 100);
  assert.match(internal.msg, /boom/);
});

test('versions: compare, supported, unknown is code 1', () => {
  assert.ok(compareVersions('0.4.0', '1.0.0') < 0);
  assert.ok(compareVersions('1.1.0', '1.0.0') > 0);
  assert.is(compareVersions('0.3.1', '0.3.1'), 0);
  requireSupported('0.3.1');
  requireSupported('0.2.0'); // the reference 1.1.1 accepts 0.1.0 and 0.2.0
  requireSupported('0.1.0');
  assert.is(
    errorCode(() => requireSupported('0.2.1')),
    1,
  );
  assert.is(
    errorCode(() => requireSupported('9.9.9')),
    1,
  );
});

test("early errors answer in the config's version; none given is 0.1.0 (libcni)", () => {
  assert.is(peekVersion(Buffer.from('{"cniVersion":"0.4.0","name":"x"}')), '0.4.0');
  assert.is(peekVersion(Buffer.from('{"name":"x"}')), '0.1.0');
  assert.is(peekVersion(Buffer.from('{"cniVersion":"","name":"x"}')), '0.1.0');
  assert.is(peekVersion(Buffer.from('{"cniVersion":"7.0.0"}')), undefined);
  assert.is(peekVersion(Buffer.from('nope')), undefined);
});

test('VERSION echoes the input version and lists the supported ones', () => {
  assert.equal(versionReply(Buffer.from('{"cniVersion":"0.4.0"}')), {
    cniVersion: '0.4.0',
    supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
  assert.is(versionReply(Buffer.alloc(0)).cniVersion, '1.1.0');
  assert.is(versionReply(Buffer.from('not json')).cniVersion, '1.1.0');
});

const env = (over: Record<string, string | undefined>) => ({
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'abc',
  CNI_NETNS: '/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  ...over,
});

test('env: ADD needs container id, netns and ifname (code 4, names them)', () => {
  const e = parseEnv(env({}));
  assert.is(e.command, 'ADD');
  assert.equal(e.path, ['/opt/cni/bin']);
  try {
    parseEnv(env({ CNI_CONTAINERID: undefined, CNI_NETNS: '' }));
    assert.unreachable();
  } catch (err) {
    assert.is((err as CniError).code, 4);
    assert.match((err as CniError).message, /CNI_CONTAINERID,CNI_NETNS/);
  }
});

test('env: DEL does not need CNI_NETNS; GC, STATUS and VERSION need nothing', () => {
  assert.is(parseEnv(env({ CNI_COMMAND: 'DEL', CNI_NETNS: '' })).netns, '');
  for (const c of ['GC', 'STATUS', 'VERSION']) parseEnv({ CNI_COMMAND: c });
});

test('env: unknown command, bad container id, bad ifname are code 4', () => {
  assert.is(
    errorCode(() => parseEnv(env({ CNI_COMMAND: 'FROB' }))),
    4,
  );
  assert.is(
    errorCode(() => parseEnv(env({ CNI_CONTAINERID: '../etc' }))),
    4,
  );
  assert.is(
    errorCode(() => parseEnv(env({ CNI_CONTAINERID: 'a"b' }))),
    4,
  );
  assert.is(
    errorCode(() => parseEnv(env({ CNI_IFNAME: 'a-very-long-ifname0' }))),
    4,
  );
  assert.is(
    errorCode(() => validateIfname('a/b')),
    4,
  );
  assert.is(
    errorCode(() => validateIfname('..')),
    4,
  );
  assert.is(
    errorCode(() => validateIfname('eth 0')),
    4,
  );
  // stricter than the kernel and libcni on purpose: a control character could not be stored in the IPAM record, and it
  // would reach terminals
  assert.is(
    errorCode(() => parseEnv(env({ CNI_IFNAME: '\x1b[2J' }))),
    4,
  );
  assert.is(
    errorCode(() => parseEnv(env({ CNI_COMMAND: 'DEL', CNI_IFNAME: 'a\x7f' }))),
    4,
  );
  assert.is(
    errorCode(() => parseEnv(env({ CNI_CONTAINERID: '$(reboot)' }))),
    4,
  );
  assert.is(
    errorCode(() => parseEnv(env({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'x;reboot' }))),
    4,
  );
  validateIfname('eth0');
  validateIfname('x;reboot'); // the kernel allows it: quoted wherever it is printed
  parseEnv(env({ CNI_CONTAINERID: '0123456789abcdef'.repeat(4) }));
});

test('CNI_ARGS: known keys, IgnoreUnknown, unknown keys refused without it', () => {
  const a = parseCniArgs(
    'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc;' +
      'K8S_POD_UID=u1;IP=10.1.0.9,10.1.0.10;FOO=bar',
  );
  assert.equal(a.ips, ['10.1.0.9', '10.1.0.10']);
  assert.is(a.podName, 'web');
  assert.is(a.podNamespace, 'default');
  assert.is(a.podUid, 'u1');
  assert.is(
    errorCode(() => parseCniArgs('FOO=bar')),
    4,
  );
  assert.is(
    errorCode(() => parseCniArgs('garbage')),
    4,
  );
  assert.is(parseCniArgs('MAC=00:11:22:33:44:55').mac, '00:11:22:33:44:55');
  assert.equal(parseCniArgs('').ips, []);
});

test('keys match case-insensitively like Go, exact match first', () => {
  const o = { HostPort: 80, hostport: 81, ContainerPort: 8080 };
  assert.is(getKey(o, 'hostPort'), 80);
  assert.is(getKey(o, 'hostport'), 81);
  assert.is(getKey(o, 'containerPort'), 8080);
  assert.is(optInt({ MTU: 1400 }, 'mtu'), 1400);
  assert.is(
    errorCode(() => optInt({ mtu: 'big' }, 'mtu')),
    7,
  );
  assert.is(
    errorCode(() => optInt({ mtu: 1e9 }, 'mtu', '', 0, 65535)),
    7,
  );
});

test('netconf: malformed JSON is code 6, bad name 7, unknown version 1', () => {
  assert.is(
    errorCode(() => parseNetConf('{')),
    6,
  );
  assert.is(
    errorCode(() => parseNetConf('[]')),
    6,
  );
  assert.is(
    errorCode(() => parseNetConf('{"cniVersion":"1.0.0","name":"a/b","type":"tsbridge"}')),
    7,
  );
  assert.is(
    errorCode(() => parseNetConf('{"cniVersion":"7.0.0","name":"n","type":"tsbridge"}')),
    1,
  );
  // missing (or empty) cniVersion means 0.1.0, as libcni's DecodeVersion and the reference
  assert.is(parseNetConf('{"name":"n","type":"tsbridge"}').cniVersion, '0.1.0');
  assert.is(parseNetConf('{"cniVersion":"","name":"n","type":"tsbridge"}').cniVersion, '0.1.0');
  const n = parseNetConf(
    '{"CNIVersion":"1.0.0","Name":"net1","type":"tsbridge","RuntimeConfig":{"mac":"x"},' +
      '"prevResult":{"ips":[{"address":"10.0.0.2/24"}]}}',
  );
  assert.is(n.cniVersion, '1.0.0');
  assert.is(n.name, 'net1');
  assert.is(n.runtimeConfig.mac, 'x');
  assert.is(n.prevResult!.ips![0].address, '10.0.0.2/24');
});

test.run();
