// The one attachment the firewall unit tests render, for iptables and nft alike (masquerade and port
// mappings): network "ref-net.1", container "ctr-1_a.b", eth0, 10.99.0.2/24 + fd00:99::2/64, and the
// names and tags the backends derive from it (checked against the reference in firewall-tag).
import { parsePortMappings } from '../../src/firewall/portmap';
import type { AttachmentRules, MasqTarget } from '../../src/firewall/types';

/** masqChainName('ref-net.1', 'ctr-1_a.b'), as the reference bridge names it. */
export const MASQ_CHAIN = 'CNI-2ab0dbf414445eeb7e546f58';
/** dnatChainName('ref-net.1', 'ctr-1_a.b'), as the reference portmap names it; its hairpin twin. */
export const DNAT_CHAIN = 'CNI-DN-2ab0dbf414445eeb7e546';
export const HAIRPIN_CHAIN = 'CNI-HM-2ab0dbf414445eeb7e546';
/** The iptables comments (quoted as iptables-save prints them): masquerade, and DNAT. */
export const IPT_COMMENT = '"name: \\"ref-net.1\\" id: \\"ctr-1_a.b\\""';
export const IPT_DNAT_COMMENT = '"dnat name: \\"ref-net.1\\" id: \\"ctr-1_a.b\\""';
/** The nft rule comment. */
export const NFT_TAG = 'id=ctr-1_a.b if=eth0 net=ref-net.1';

/** The attachment's masquerade target; `v6` is its IPv6 address as given (a test may spell it non-canonically). */
export function masqTarget(v6 = 'fd00:99::2'): MasqTarget {
  return {
    network: 'ref-net.1',
    containerId: 'ctr-1_a.b',
    ifname: 'eth0',
    ips: [
      { ip: '10.99.0.2', subnet: '10.99.0.2/24', family: 4 },
      { ip: v6, subnet: 'fd00:99::2/64', family: 6 },
    ],
  };
}

/** The same with masquerade on and three port mappings: tcp 8080→80, tcp 8443→443 on 192.0.2.1 only, udp 53→5353. */
export function attachmentRules(v6?: string): AttachmentRules {
  return {
    ...masqTarget(v6),
    masquerade: true,
    portMappings: parsePortMappings([
      { hostPort: 8080, containerPort: 80 },
      { hostPort: 8443, containerPort: 443, hostIP: '192.0.2.1' },
      { hostPort: 53, containerPort: 5353, protocol: 'udp' },
    ]),
  };
}
