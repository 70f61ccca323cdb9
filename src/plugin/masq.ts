// What the firewall backend needs to masquerade one attachment.
import { CniEnv } from '../cni/env';
import { MasqTarget } from '../firewall';
import { cidrToString, networkOf, parseCidr } from '../ipam/ip';
import { BridgeConfig } from './config';

export function masqTarget(cfg: BridgeConfig, env: CniEnv, addresses: string[]): MasqTarget {
  return {
    network: cfg.net.name,
    containerId: env.containerId,
    ifname: env.ifname,
    ips: addresses.map((a) => {
      const c = parseCidr(a);
      return { ip: a.split('/')[0], subnet: cidrToString({ ip: networkOf(c), prefix: c.prefix }), family: c.ip.family };
    }),
  };
}
