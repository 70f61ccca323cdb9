// Pure: the nftables state the upstream reference plugins (after 1.1.1) leave for a container, as
// read from their tables, so that tsbridge's DEL and GC remove it and its ADD sees the host ports
// they hold. Layout (upstream pkg/ip/ipmasq_nftables_linux.go, plugins/meta/portmap/portmap_nftables.go):
//   table inet cni_plugins_masquerade { chain masq_checks {
//     ip saddr == <podIP> ip daddr != <subnet> masquerade
//       comment "<hash16(net)>-<hash16(ifname:containerID)>, net: <net>, if: <ifname>, id: <containerID>" } }
//   table ip|ip6 cni_hostport {
//     chain hostports / hostip_hostports { [ip daddr <hostIP>] <proto> dport <HP> dnat to <podIP>:<CP> comment
// "<containerID>" }
//     chain masquerading { ... masquerade comment "<containerID>" } }
// The portmap comment names no network, so GC only takes rules that point into the network's subnets.
import { Family, parseIP } from '../../ip/addr';
import { contains, parseCidr } from '../../ip/cidr';
import { sha512Hex } from '../../sys/hash';
import { NftTable, parseNftList } from './rules';
import type { HeldPort } from '../portmap';
import type { PortProtocol } from '../types';

const MASQ_TABLE = 'inet cni_plugins_masquerade';
const MASQ_CHAIN = 'masq_checks';
const HOSTPORT_TABLES = ['ip cni_hostport', 'ip6 cni_hostport'] as const;
const HOSTPORT_CHAINS = ['hostports', 'hostip_hostports', 'masquerading'];
const DNAT_CHAINS = ['hostports', 'hostip_hostports'];
/** The tables this module reads, as `<family> <name>`. */
export const FOREIGN_TABLES: readonly string[] = [MASQ_TABLE, ...HOSTPORT_TABLES];

/** upstream utils.MustFormatHashWithPrefix(16, "", s): the first 16 hex digits of sha512(s). */
const hash16 = (s: string): string => sha512Hex(s).slice(0, 16);
const masqNetworkPrefix = (network: string): string => `${hash16(network)}-`;
export const masqInstancePrefix = (network: string, ifname: string, containerId: string): string =>
  `${hash16(network)}-${hash16(`${ifname}:${containerId}`)}`;

/** Table names (`<family> <name>`) from `nft list tables`. */
export function parseTableList(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^table (\S+) (\S+)$/.exec(line.trim());
    if (m) out.add(`${m[1]} ${m[2]}`);
  }
  return out;
}

export type ForeignTables = Map<string, NftTable>;

/** `nft -a list table` outputs, by table. */
export function parseForeign(listings: Map<string, string>): ForeignTables {
  const out: ForeignTables = new Map();
  for (const [t, text] of listings) out.set(t, parseNftList(text));
  return out;
}

/** `delete rule` lines for a DEL: the attachment's masquerade rules and the container's host-port rules. */
export function foreignDeletes(tables: ForeignTables, network: string, containerId: string, ifname: string): string[] {
  const out: string[] = [];
  const prefix = masqInstancePrefix(network, ifname, containerId);
  for (const r of tables.get(MASQ_TABLE)?.get(MASQ_CHAIN)?.rules ?? []) {
    if (r.comment?.startsWith(prefix)) out.push(`delete rule ${MASQ_TABLE} ${MASQ_CHAIN} handle ${r.handle}`);
  }
  for (const t of HOSTPORT_TABLES) {
    for (const chain of HOSTPORT_CHAINS) {
      for (const r of tables.get(t)?.get(chain)?.rules ?? []) {
        if (r.comment === containerId) out.push(`delete rule ${t} ${chain} handle ${r.handle}`);
      }
    }
  }
  return out;
}

/**
 * `delete rule` lines for a GC: masquerade rules of this network whose attachment is not valid,
 * and host-port rules of containers that are not valid whose rule names an address in `subnets`.
 */
export function foreignGcDeletes(
  tables: ForeignTables,
  network: string,
  valid: { containerId: string; ifname: string }[],
  subnets: string[],
): string[] {
  const out: string[] = [];
  const netPrefix = masqNetworkPrefix(network);
  const keep = new Set(valid.map((v) => masqInstancePrefix(network, v.ifname, v.containerId)));
  for (const r of tables.get(MASQ_TABLE)?.get(MASQ_CHAIN)?.rules ?? []) {
    const c = r.comment;
    if (c?.startsWith(netPrefix) && !keep.has(c.slice(0, 33)))
      out.push(`delete rule ${MASQ_TABLE} ${MASQ_CHAIN} handle ${r.handle}`);
  }
  const ids = new Set(valid.map((v) => v.containerId));
  const nets = subnets.map((s) => parseCidr(s));
  const inNetwork = (text: string) =>
    text.split(/\s+/).some((tok) => {
      // "10.1.0.5", "10.1.0.5:80", "[fd00::5]:80", "fd00::5"
      const addr = tok.startsWith('[')
        ? tok.slice(1, tok.indexOf(']'))
        : /^[\d.]+:\d+$/.test(tok)
          ? tok.split(':')[0]
          : tok;
      try {
        const ip = parseIP(addr);
        return nets.some((n) => n.ip.family === ip.family && contains(n, ip));
      } catch {
        return false;
      }
    });
  for (const t of HOSTPORT_TABLES) {
    for (const chain of HOSTPORT_CHAINS) {
      for (const r of tables.get(t)?.get(chain)?.rules ?? []) {
        if (r.comment !== undefined && !ids.has(r.comment) && inNetwork(r.text.replace(/\s+comment "[^"]*"$/, ''))) {
          out.push(`delete rule ${t} ${chain} handle ${r.handle}`);
        }
      }
    }
  }
  return out;
}

const DNAT_RE = /^(?:(ip6?) daddr (\S+) )?(tcp|udp|sctp) dport (\d+) dnat (?:ip6? )?to \S+$/;

/** Host ports the upstream nftables portmap maps (they count in the 103 check). */
export function foreignHeldPorts(tables: ForeignTables): HeldPort[] {
  const out: HeldPort[] = [];
  for (const t of HOSTPORT_TABLES) {
    const family: Family = t.startsWith('ip6') ? 6 : 4;
    for (const chain of DNAT_CHAINS) {
      for (const r of tables.get(t)?.get(chain)?.rules ?? []) {
        const m = DNAT_RE.exec(r.text.replace(/\s+comment "[^"]*"$/, ''));
        if (!m) continue;
        const h: HeldPort = {
          family,
          protocol: m[3] as PortProtocol,
          hostPort: Number(m[4]),
          chain: `${t} ${chain}`,
          containerId: r.comment ?? `unknown (${t} ${chain})`,
          network: null,
        };
        if (m[2] !== undefined) h.hostIP = m[2];
        out.push(h);
      }
    }
  }
  return out;
}
