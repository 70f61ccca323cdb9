// Reads everything one namespace holds that a bridge plugin could have touched, in one `ip netns exec`
// per namespace (links, addresses, routes of every table, sysctls, sysfs, firewall), and turns it into
// a plain keyed tree with nothing that differs by chance (ifindexes, timers, lifetimes, counters).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { must } from './exec';

const V4_KEYS = [
  'forwarding',
  'route_localnet',
  'rp_filter',
  'arp_notify',
  'proxy_arp',
  'accept_local',
  'send_redirects',
];
const V6_KEYS = ['accept_ra', 'forwarding', 'accept_dad', 'disable_ipv6', 'autoconf'];
const GLOBAL = [
  'ipv4/ip_forward',
  'ipv4/conf/all/forwarding',
  'ipv6/conf/all/forwarding',
  'ipv6/conf/all/accept_ra',
  'ipv6/conf/default/accept_ra',
  'ipv4/conf/all/route_localnet',
  'bridge/bridge-nf-call-iptables',
];
const SYSFS = [
  'addr_assign_type',
  'brport/hairpin_mode',
  'brport/isolated',
  'brport/learning',
  'brport/unicast_flood',
  'bridge/stp_state',
  'bridge/vlan_filtering',
];

/** The bash script run inside the namespace; each section starts with "@@name", a failed tool prints "@@FAIL". */
function script(firewall: boolean): string {
  const tool = (sec: string, cmd: string): string => `echo '@@${sec}'; ${cmd} || echo "@@FAIL ${sec} $?"`;
  const lines = [
    // Read the settled state: IPv6 DAD of an address that has it (the bridge's gateway) ends after
    // ~1-2 s, and the local route of an IPv6 address (even nodad) comes only once the kernel has seen
    // carrier, which it reports asynchronously (linkwatch)
    'for i in $(seq 50); do ok=1; [ -n "$(ip -6 addr show tentative)" ] && ok=;' +
      " for a in $(ip -6 -o addr show scope global up | awk '{print $4}' | cut -d/ -f1); do" +
      ' [ -n "$(ip -6 route show table local $a)" ] || ok=; done; [ -n "$ok" ] && break; sleep 0.1; done',
    tool('links', 'ip -d -j link show'),
    tool('addrs', 'ip -j addr show'),
    tool('route4', 'ip -d -j -4 route show table all'),
    tool('route6', 'ip -d -j -6 route show table all'),
    `echo '@@sysctl'`,
    `rd() { [ -e "$2" ] && read -r v < "$2" && echo "$1=$v"; }`,
    `for k in ${GLOBAL.join(' ')}; do rd $k /proc/sys/net/$k; done`,
    `for d in /sys/class/net/*; do i=\${d##*/}; [ "$i" = lo ] && continue;` +
      ` for k in ${V4_KEYS.join(' ')}; do rd ipv4/$i/$k /proc/sys/net/ipv4/conf/$i/$k; done;` +
      ` for k in ${V6_KEYS.join(' ')}; do rd ipv6/$i/$k /proc/sys/net/ipv6/conf/$i/$k; done;` +
      ` for k in ${SYSFS.join(' ')}; do rd sysfs/$i/$k $d/$k; done; done`,
  ];
  if (firewall) {
    lines.push(tool('iptables', 'iptables-save'), tool('ip6tables', 'ip6tables-save'), tool('nft', 'nft list ruleset'));
  }
  return lines.join('\n');
}

export type Raw = Record<string, string>;

/** Raw sections of one namespace; throws when a tool failed to read. */
export async function captureNs(ns: string, firewall: boolean): Promise<Raw> {
  const out = await must('ip', ['netns', 'exec', ns, 'bash', '-c', script(firewall)]);
  const raw: Raw = {};
  let cur = '';
  for (const line of out.split('\n')) {
    if (line.startsWith('@@FAIL')) throw new Error(`reading ${ns}: ${line}`);
    if (line.startsWith('@@')) {
      cur = line.slice(2);
      raw[cur] = '';
      continue;
    }
    raw[cur] += line + '\n';
  }
  return raw;
}

/** IPAM store of a dataDir: every file with its mode and content (recursive). */
export function captureIpam(dataDir: string): Record<string, { mode: string; content: string }> {
  const out: Record<string, { mode: string; content: string }> = {};
  const walk = (dir: string, rel: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const mode = (fs.statSync(p).mode & 0o7777).toString(8).padStart(4, '0');
      if (e.isDirectory()) {
        out[r + '/'] = { mode, content: '' };
        walk(p, r);
        continue;
      }
      const content = fs.readFileSync(p, 'utf8');
      out[r] = { mode, content: e.name === 'tsbridge-boot' ? bootMark(content) : content };
    }
  };
  walk(dataDir, '');
  return out;
}

/**
 * tsbridge's boot mark (`<boot id>` then `<ip> <record's inode> <mtime ns>` lines) with the parts that
 * differ by run replaced: which addresses it lists is what the comparison keeps.
 */
export function bootMark(content: string): string {
  const [boot, ...lines] = content.split('\n');
  return [boot ? '<boot-id>' : '', ...lines.map((l) => l.split(' ')[0])].join('\n');
}

// ---- normalisation of the parsed sections -------------------------------------------------------

const LINK_DROP = new Set([
  'ifindex',
  'link_index',
  'link_netnsid',
  'operstate',
  'qdisc',
  'stats',
  'stats64',
  'linkinfo',
  'altnames',
  'parentbus',
  'parentdev',
  'event',
  'proto_down',
]);
// carrier follows the ports asynchronously; offload limits are derived from the ports by the kernel
const FLAG_DROP = new Set(['LOWER_UP', 'NO-CARRIER', 'M-DOWN', 'linkdown']);
const OFFLOAD = /^(tso|gso|gro|gso_ipv4|gro_ipv4)_max_(size|segs)$/;
const TIMER = new RegExp(
  ['_timer', '^bridge_id$', '^root_id$', '^root_port$', '^root_path_cost$', '^designated_', '^id$', '^no$']
    .concat(['^topology_change', '^port_id$', '^port_no$', '^bridge_id$'])
    .join('|'),
);

function dropKeys(o: Record<string, unknown> | undefined, re: RegExp): Record<string, unknown> | undefined {
  if (!o) return undefined;
  return Object.fromEntries(Object.entries(o).filter(([k]) => !re.test(k)));
}

export function links(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const l of JSON.parse(text) as any[]) {
    if (l.ifname === 'lo') continue;
    const v: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(l)) if (!LINK_DROP.has(k) && !OFFLOAD.test(k)) v[k] = val;
    v.flags = (l.flags as string[]).filter((f) => !FLAG_DROP.has(f));
    const li = l.linkinfo ?? {};
    v.kind = li.info_kind;
    if (li.info_data) v.info = dropKeys(li.info_data, TIMER);
    if (li.info_slave_kind) v.port = { kind: li.info_slave_kind, ...dropKeys(li.info_slave_data, TIMER) };
    if (typeof v.link === 'string') v.link = (v.link as string).replace(/^if\d+$/, 'if<peer>');
    out[l.ifname] = v;
  }
  return out;
}

const ADDR_DROP = new Set([
  'family',
  'local',
  'prefixlen',
  'valid_life_time',
  'preferred_life_time',
  'label',
  'tentative',
]);

export function addrs(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const l of JSON.parse(text) as any[]) {
    for (const a of l.addr_info ?? []) {
      if (a.scope === 'host' && l.ifname === 'lo') continue;
      if (a.family === 'inet6' && String(a.local).startsWith('fe80:')) continue; // EUI-64 of a random MAC
      const v: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(a)) if (!ADDR_DROP.has(k)) v[k] = val;
      out[`${l.ifname} ${a.local}/${a.prefixlen}`] = v;
    }
  }
  return out;
}

export function routes(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of JSON.parse(text) as any[]) {
    if (r.dev === 'lo' && (r.table === 'local' || r.type === 'local') && /^(127\.|::1$)/.test(String(r.dst))) continue;
    // link-local addresses (and their routes) appear when the kernel sees carrier, asynchronously
    if (/^fe80::/.test(String(r.dst))) continue;
    if (r.dev === 'lo' && r.table === 'local' && r.type === 'multicast') continue;
    const key = `${r.table ?? 'main'} ${r.type ?? 'unicast'} ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}`;
    const v: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(r))
      if (!['dst', 'dev', 'table', 'type', 'expires', 'cache'].includes(k)) v[k] = val;
    if (Array.isArray(v.flags)) v.flags = (v.flags as string[]).filter((f) => !FLAG_DROP.has(f));
    out[key] = v;
  }
  return out;
}

export function sysctl(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * iptables-save without comments and counters, one line per chain/rule, grouped by table. The
 * `-m comment` match is moved to the end of a rule's matches: where it sits does not change what
 * the rule does (the reference puts it first in some rules, last in others).
 */
export function iptables(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''))
    .map((l) => {
      const m = / -m comment --comment ("(?:[^"\\]|\\.)*"|\S+)/.exec(l);
      if (!m || !l.startsWith('-A ')) return l;
      const rest = l.slice(0, m.index) + l.slice(m.index + m[0].length);
      const j = rest.search(/ -j /);
      return j < 0 ? rest + m[0] : rest.slice(0, j) + m[0] + rest.slice(j);
    });
}

const IPTABLES_NFT = /^table (ip|ip6) (nat|filter|mangle|raw|security) \{$/;

/** nft ruleset without the tables iptables-nft owns (those are read through iptables-save). */
export function nft(text: string): string[] {
  const out: string[] = [];
  let skip = false;
  for (const l of text.split('\n')) {
    if (l.startsWith('table ')) skip = IPTABLES_NFT.test(l);
    if (!skip && l.trim()) out.push(l.replace(/^\t+/, (t) => '  '.repeat(t.length)).replace(/ # handle \d+$/, ''));
    if (l === '}') skip = false;
  }
  return out;
}
