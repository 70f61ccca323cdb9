// What the firewall backend must hold for one attachment: its masquerade (ipMasq) and its port
// mappings (runtimeConfig.portMappings, the `portMappings` capability).
import { getKey } from '../cni/json';
import { AttachmentRules, parsePortMappings } from '../firewall';
import { bareAddress, cidrToString, parseCidr, subnetOf } from '../ip/cidr';
import { BridgeConfig } from './config';

/** The rules of the attachment (containerId, ifname) holding `addresses` ("10.0.0.5/24"). */
export function attachmentRules(
  cfg: BridgeConfig,
  containerId: string,
  ifname: string,
  addresses: string[],
): AttachmentRules {
  return {
    network: cfg.net.name,
    containerId,
    ifname,
    ips: addresses.map((a) => {
      const c = parseCidr(a);
      return { ip: bareAddress(a), subnet: cidrToString(subnetOf(c)), family: c.ip.family };
    }),
    masquerade: cfg.ipMasq,
    portMappings: parsePortMappings(getKey(cfg.net.runtimeConfig, 'portMappings') ?? []),
    bridge: cfg.bridge,
  };
}

/** Whether tsbridge publishes ports on this network: the capability declared, or port mappings passed. */
export function doesPortMappings(cfg: BridgeConfig): boolean {
  const caps = getKey(cfg.net.raw, 'capabilities');
  const declared =
    typeof caps === 'object' && caps !== null && getKey(caps as Record<string, unknown>, 'portMappings') === true;
  return declared || getKey(cfg.net.runtimeConfig, 'portMappings') !== undefined;
}

/** Whether this network may hold rules of ours: ipMasq, or port mappings asked for now or declared. */
export function mayHaveRules(cfg: BridgeConfig): boolean {
  return cfg.ipMasq || doesPortMappings(cfg);
}

export const needsRules = (r: AttachmentRules): boolean => r.masquerade || r.portMappings.length > 0;
