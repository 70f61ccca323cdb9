// The bridge plugin's own keys (the reference `bridge` plugin's, so a conflist only changes
// "type"), read case-insensitively, with the reference defaults. Every key is either
// implemented or refused with a clear error: nothing is silently ignored.
import { CniArgs } from '../cni/args';
import { CniError, ErrCode } from '../cni/errors';
import { getKey, isObject, JsonObject, optBool, optInt, optObject, optString } from '../cni/json';
import { NetConf } from '../cni/netconf';
import { bareAddress } from '../ip/cidr';
import { parseVlanConfig, VlanConfig } from './vlan-config';

export interface BridgeConfig {
  net: NetConf;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  ipMasqBackend?: 'iptables' | 'nftables';
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  enableDad: boolean;
  disableContainerInterface: boolean;
  portIsolation: boolean;
  /** Drop frames from the container whose source MAC is not its interface's (nftables, bridge family). */
  macspoofchk: boolean;
  /** vlan / vlanTrunk / preserveDefaultVlan (see vlan-config.ts) */
  vlans: VlanConfig;
  /**
   * MAC for the container interface: runtimeConfig.mac, else args.cni.mac, else CNI_ARGS MAC= (the reference's order)
   */
  mac?: string;
  /** requested IPs: CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips together (as host-local), without prefix length */
  requestedIps: string[];
  /** `ipam` has a type: addresses are allocated. Without one the network is L2-only (the reference's isLayer3). */
  layer3: boolean;
}

const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

export function parseBridgeConfig(net: NetConf, args: CniArgs): BridgeConfig {
  const raw = net.raw;
  const bridge = optString(raw, 'bridge') || 'cni0';
  if (Buffer.byteLength(bridge) > 15 || /[/:\s]/.test(bridge) || bridge === '.' || bridge === '..') {
    throw new CniError(ErrCode.InvalidConfig, `invalid bridge name "${bridge}"`);
  }
  const isDefaultGateway = optBool(raw, 'isDefaultGateway') ?? false;
  const backend = optString(raw, 'ipMasqBackend');
  if (backend !== undefined && backend !== 'iptables' && backend !== 'nftables') {
    throw new CniError(ErrCode.InvalidConfig, `invalid ipMasqBackend "${backend}": want "iptables" or "nftables"`);
  }

  const cniArgs = optObject(optObject(raw, 'args') ?? {}, 'cni', 'args.') ?? {};
  // later sources win, as in the reference's loadNetConf; an empty string means "not set"
  const mac =
    optString(net.runtimeConfig, 'mac', 'runtimeConfig.') ||
    optString(cniArgs, 'mac', 'args.cni.') ||
    args.mac ||
    undefined;
  if (mac !== undefined && !MAC_RE.test(mac)) throw new CniError(ErrCode.InvalidConfig, `invalid MAC address "${mac}"`);
  const layer3 = hasIpam(net);
  const disableContainerInterface = optBool(raw, 'disableContainerInterface') ?? false;

  return {
    net,
    bridge,
    isDefaultGateway,
    // the reference turns isGateway on when isDefaultGateway is set
    isGateway: (optBool(raw, 'isGateway') ?? false) || isDefaultGateway,
    forceAddress: optBool(raw, 'forceAddress') ?? false,
    ipMasq: optBool(raw, 'ipMasq') ?? false,
    ipMasqBackend: backend as BridgeConfig['ipMasqBackend'],
    mtu: optInt(raw, 'mtu', '', 0, 65535) || undefined,
    hairpinMode: optBool(raw, 'hairpinMode') ?? false,
    promiscMode: optBool(raw, 'promiscMode') ?? false,
    enableDad: optBool(raw, 'enabledad') ?? false,
    disableContainerInterface,
    portIsolation: optBool(raw, 'portIsolation') ?? false,
    macspoofchk: optBool(raw, 'macspoofchk') ?? false,
    vlans: parseVlanConfig(raw),
    mac,
    requestedIps: [
      ...args.ips,
      ...ipList(cniArgs, 'ips', 'args.cni.'),
      ...ipList(net.runtimeConfig, 'ips', 'runtimeConfig.'),
    ],
    layer3,
  };
}

/** A list of requested IPs ("10.0.0.5" or "10.0.0.5/24"); the allocator wants the address only. */
function ipList(obj: JsonObject, key: string, where: string): string[] {
  const ips = getKey(obj, key);
  if (ips === undefined || ips === null) return [];
  if (!Array.isArray(ips) || !ips.every((x) => typeof x === 'string')) {
    throw new CniError(
      ErrCode.InvalidConfig,
      `invalid ${where}${key}: want a list of strings, got ${JSON.stringify(ips)}`,
    );
  }
  return (ips as string[]).map(bareAddress);
}

/** `ipam` with a non-empty type (the reference: IPAM.Type != ""); `"ipam": {}` or none is L2-only. */
export function hasIpam(net: NetConf): net is NetConf & { ipam: JsonObject } {
  if (!isObject(net.ipam)) return false;
  const type = optString(net.ipam, 'type', 'ipam.');
  return type !== undefined && type !== '';
}
