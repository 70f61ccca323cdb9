// The configs of the differential suite. Each runs through the reference chain and the plugin under
// test in twin namespaces (harness.ts); the test is named after it. Both sides are in their own
// namespaces, so every case may use the same subnets.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RUN_ID } from './exec';
import { Case } from './harness';

/** A fixture directory shared by both sides (same paths in both configs), removed by removeFixtures(). */
const FIXTURES = fs.mkdtempSync(path.join(os.tmpdir(), `parity-${RUN_ID}-fix-`));
export function removeFixtures(): void {
  fs.rmSync(FIXTURES, { recursive: true, force: true });
}

const V4 = '10.22.0.0/24';
const V6 = 'fd22::/64';
const hl = (ranges: object[][], extra: object = {}): object => ({ type: 'host-local', ranges, ...extra });
const v4 = hl([[{ subnet: V4 }]]);
const v6 = hl([[{ subnet: V6 }]]);
const dual = hl([[{ subnet: V4 }], [{ subnet: V6 }]]);
const gw = { bridge: 'br-par', isGateway: true };
const dgw = { bridge: 'br-par', isDefaultGateway: true };
const ports = [
  { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
  { hostPort: 5353, containerPort: 53, protocol: 'udp' },
];

/** A resolv.conf for the resolvConf cases (same path on both sides). */
export const RESOLV = path.join(FIXTURES, 'resolv.conf');
fs.writeFileSync(
  RESOLV,
  'nameserver 10.22.0.53\nnameserver fd22::53\nsearch svc.parity.test parity.test\noptions ndots:5\n',
);
const dns = { nameservers: ['10.22.0.10'], domain: 'parity.test', search: ['parity.test'], options: ['ndots:2'] };

export const CASES: Case[] = [
  // addressing and gateways
  { name: 'v4-plain', conf: { bridge: 'br-par', ipam: v4 } },
  { name: 'v4-isGateway', conf: { ...gw, ipam: v4 } },
  { name: 'v4-isDefaultGateway', conf: { ...dgw, ipam: v4 } },
  { name: 'v6-isGateway', conf: { ...gw, ipam: v6 } },
  { name: 'v6-isDefaultGateway', conf: { ...dgw, ipam: v6 } },
  { name: 'dual-isDefaultGateway', conf: { ...dgw, ipam: dual } },
  { name: 'dual-two-pods', pods: 2, conf: { ...dgw, ipam: dual } },
  { name: 'v6-enabledad', conf: { ...dgw, enabledad: true, ipam: v6 } },
  {
    name: 'v4-forceAddress-replaces',
    conf: { ...dgw, forceAddress: true, ipam: v4 },
    setup: [
      ['link', 'add', 'br-par', 'type', 'bridge'],
      ['addr', 'add', '10.22.0.99/24', 'dev', 'br-par'],
    ],
  },
  {
    name: 'v4-foreign-bridge-address',
    conf: { ...dgw, ipam: v4 },
    setup: [
      ['link', 'add', 'br-par', 'type', 'bridge'],
      ['addr', 'add', '10.22.0.99/24', 'dev', 'br-par'],
    ],
  },
  {
    name: 'v4-existing-bridge',
    conf: { ...dgw, ipam: v4 },
    setup: [
      ['link', 'add', 'br-par', 'mtu', '1450', 'type', 'bridge'],
      ['link', 'set', 'br-par', 'up'],
    ],
  },
  { name: 'default-bridge-name', conf: { isDefaultGateway: true, ipam: v4 } },
  // link options
  { name: 'hairpin', conf: { ...dgw, hairpinMode: true, ipam: v4 } },
  { name: 'promisc', conf: { ...dgw, promiscMode: true, ipam: v4 } },
  { name: 'hairpin-and-promisc', conf: { ...dgw, hairpinMode: true, promiscMode: true, ipam: v4 } },
  { name: 'mtu-1400', conf: { ...dgw, mtu: 1400, ipam: dual } },
  { name: 'mac-runtimeConfig', conf: { ...dgw, ipam: v4 }, caps: { mac: '02:11:22:33:44:55' } },
  { name: 'mac-CNI_ARGS', conf: { ...dgw, ipam: v4 }, args: 'IgnoreUnknown=1;MAC=02:11:22:33:44:66' },
  { name: 'mac-args-cni', conf: { ...dgw, ipam: v4, args: { cni: { mac: '02:11:22:33:44:77' } } } },
  { name: 'vlan-100', conf: { ...dgw, vlan: 100, ipam: v4 } },
  { name: 'macspoofchk', conf: { ...dgw, macspoofchk: true, ipam: v4 } },
  { name: 'disableContainerInterface-with-ipam', conf: { ...dgw, disableContainerInterface: true, ipam: v4 } },
  { name: 'portIsolation', conf: { ...dgw, portIsolation: true, ipam: v4 } },
  // masquerade
  { name: 'ipMasq-iptables-v4', conf: { ...dgw, ipMasq: true, ipMasqBackend: 'iptables', ipam: v4 } },
  { name: 'ipMasq-iptables-v6', conf: { ...dgw, ipMasq: true, ipMasqBackend: 'iptables', ipam: v6 } },
  { name: 'ipMasq-iptables-dual', conf: { ...dgw, ipMasq: true, ipMasqBackend: 'iptables', ipam: dual } },
  { name: 'ipMasq-default-backend-dual', conf: { ...dgw, ipMasq: true, ipam: dual } },
  { name: 'ipMasq-nftables-v4', conf: { ...dgw, ipMasq: true, ipMasqBackend: 'nftables', ipam: v4 } },
  { name: 'ipMasq-nftables-dual', conf: { ...dgw, ipMasq: true, ipMasqBackend: 'nftables', ipam: dual } },
  {
    name: 'ipMasq-del-without-netns',
    delWithoutNetns: true,
    conf: { ...dgw, ipMasq: true, ipMasqBackend: 'iptables', ipam: dual },
  },
  {
    name: 'portmap-del-without-netns',
    delWithoutNetns: true,
    conf: { ...dgw, ipMasq: true, ipMasqBackend: 'iptables', ipam: v4 },
    caps: { portMappings: ports },
  },
  { name: 'ipMasq-no-gateway', conf: { bridge: 'br-par', ipMasq: true, ipMasqBackend: 'iptables', ipam: v4 } },
  // port mappings
  {
    name: 'portmap-iptables-v4',
    conf: { ...dgw, ipMasq: true, ipMasqBackend: 'iptables', ipam: v4 },
    caps: { portMappings: ports },
  },
  {
    name: 'portmap-iptables-dual',
    conf: { ...dgw, ipMasq: true, ipMasqBackend: 'iptables', ipam: dual },
    caps: { portMappings: ports },
  },
  {
    name: 'portmap-hostIP',
    conf: { ...dgw, ipMasqBackend: 'iptables', ipam: v4 },
    caps: { portMappings: [{ hostPort: 8443, containerPort: 443, protocol: 'tcp', hostIP: '127.0.0.1' }] },
  },
  { name: 'portmap-no-masq', conf: { ...dgw, ipMasqBackend: 'iptables', ipam: v4 }, caps: { portMappings: ports } },
  {
    name: 'portmap-nftables-dual',
    conf: { ...dgw, ipMasq: true, ipMasqBackend: 'nftables', ipam: dual },
    caps: { portMappings: ports },
  },
  {
    name: 'portmap-two-pods',
    pods: 2,
    conf: { ...dgw, ipMasqBackend: 'iptables', ipam: v4 },
    caps: { portMappings: ports },
  },
  // IPAM
  { name: 'l2-only', conf: { bridge: 'br-par', ipam: {} } },
  { name: 'l2-only-no-ipam-key', conf: { bridge: 'br-par' } },
  {
    name: 'static-ipam',
    conf: { ...gw, ipam: { type: 'static', addresses: [{ address: '10.22.0.40/24', gateway: '10.22.0.1' }] } },
  },
  {
    name: 'static-ipam-no-gateway-defaultgw',
    conf: { ...dgw, ipam: { type: 'static', addresses: [{ address: '10.22.0.41/24' }] } },
  },
  {
    name: 'host-local-legacy-subnet',
    conf: {
      ...dgw,
      ipam: {
        type: 'host-local',
        subnet: V4,
        rangeStart: '10.22.0.100',
        rangeEnd: '10.22.0.110',
        gateway: '10.22.0.254',
      },
    },
  },
  {
    name: 'host-local-two-ranges-one-set',
    conf: { ...dgw, ipam: hl([[{ subnet: '10.22.0.0/30' }, { subnet: '10.23.0.0/24' }]]) },
  },
  {
    name: 'runtime-ipRanges',
    conf: { bridge: 'br-par', ipam: hl([[{ subnet: '10.201.0.0/24' }]]) },
    caps: { ipRanges: [[{ subnet: '10.207.0.0/24' }]] },
  },
  {
    name: 'runtime-ipRanges-gateway',
    conf: { ...dgw, ipam: hl([[{ subnet: '10.201.0.0/24' }]]) },
    caps: { ipRanges: [[{ subnet: '10.207.0.0/24' }]] },
  },
  { name: 'requested-ip-runtimeConfig', conf: { ...dgw, ipam: dual }, caps: { ips: ['10.22.0.77/24', 'fd22::77/64'] } },
  { name: 'requested-ip-CNI_ARGS', conf: { ...dgw, ipam: v4 }, args: 'IgnoreUnknown=1;IP=10.22.0.78' },
  { name: 'requested-ip-args-cni', conf: { ...dgw, ipam: v4, args: { cni: { ips: ['10.22.0.79'] } } } },
  {
    name: 'requested-ip-all-routes',
    conf: { ...dgw, ipam: dual, args: { cni: { ips: ['fd22::80'] } } },
    caps: { ips: ['10.22.0.80/24'] },
  },
  // dns and routes
  { name: 'dns-config', conf: { ...dgw, dns, ipam: v4 } },
  { name: 'dns-resolvConf', conf: { ...dgw, ipam: hl([[{ subnet: V4 }]], { resolvConf: RESOLV }) } },
  { name: 'dns-config-and-resolvConf', conf: { ...dgw, dns, ipam: hl([[{ subnet: V4 }]], { resolvConf: RESOLV }) } },
  {
    name: 'routes-plain',
    conf: {
      ...gw,
      ipam: hl([[{ subnet: V4 }]], { routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.50.0/24', gw: '10.22.0.254' }] }),
    },
  },
  {
    name: 'routes-priority-table',
    conf: {
      ...gw,
      ipam: hl([[{ subnet: V4 }], [{ subnet: V6 }]], {
        routes: [
          { dst: '192.168.60.0/24', priority: 300 },
          { dst: '192.168.61.0/24', table: 100 },
          { dst: 'fd99::/64', priority: 400 },
        ],
      }),
    },
  },
  // versions
  {
    name: 'cniVersion-0.3.1',
    cniVersion: '0.3.1',
    conf: { ...dgw, ipMasq: true, ipMasqBackend: 'iptables', ipam: dual },
  },
  {
    name: 'cniVersion-0.4.0',
    cniVersion: '0.4.0',
    conf: { ...dgw, ipMasq: true, ipMasqBackend: 'iptables', ipam: dual },
  },
  { name: 'cniVersion-0.3.0', cniVersion: '0.3.0', conf: { ...dgw, ipam: v4 } },
  { name: 'cniVersion-0.2.0', cniVersion: '0.2.0', conf: { ...dgw, ipam: v4 } },
  { name: 'cniVersion-missing', cniVersion: null, conf: { ...dgw, ipam: v4 } },
  { name: 'cniVersion-1.1.0', cniVersion: '1.1.0', conf: { ...dgw, ipam: v4 } },
  // the node's own namespace as CNI_NETNS
  { name: 'netns-is-node', ownNetns: true, conf: { ...dgw, ipam: v4 } },
];
