// Finding a container's network namespace without the runtime: the IPAM store records the
// container ID, interface and IP, not the namespace. Candidates are every namespace under
// /run/netns and every process's /proc/PID/ns/net (each namespace read once per run, the node's own
// skipped); a container is the namespace holding the peer of its host veth, or else the one whose
// interface has its IP.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Addr, listAddresses } from '../netlink/addr';
import { LinkDetail, listLinkDetails, nsIdOf } from '../netlink/inspect';
import { Rtnl } from '../netlink/socket';

export interface NsView {
  path: string;
  /** Its id in the node's namespace (what the node's veths name as IFLA_LINK_NETNSID), if it has one. */
  nsid?: number;
  links: LinkDetail[];
  addrs: Addr[];
}

const NETNS_DIRS = ['/run/netns', '/var/run/netns'];

function nsKey(p: string): string | undefined {
  try {
    const st = fs.statSync(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Reads one namespace's links and addresses, and the id the node gives it. */
export async function readNs(nsPath: string): Promise<NsView> {
  let nsid: number | undefined;
  const node = Rtnl.open();
  const fd = fs.openSync(nsPath, 'r');
  try {
    nsid = await nsIdOf(node, fd);
  } catch {
    nsid = undefined;
  } finally {
    fs.closeSync(fd);
    node.close();
  }
  const nl = Rtnl.open(nsPath);
  try {
    return { path: nsPath, nsid, links: await listLinkDetails(nl), addrs: await listAddresses(nl) };
  } finally {
    nl.close();
  }
}

export class NetnsScanner {
  private views?: NsView[];
  private readonly byPath = new Map<string, NsView>();
  private readonly self = nsKey('/proc/self/ns/net');

  /** Every namespace but the node's own, read once. Unreadable ones are skipped. */
  async all(): Promise<NsView[]> {
    if (this.views) return this.views;
    const seen = new Set<string>(this.self ? [this.self] : []);
    const paths: string[] = [];
    const consider = (p: string): void => {
      const k = nsKey(p);
      if (k && !seen.has(k)) {
        seen.add(k);
        paths.push(p);
      }
    };
    for (const dir of NETNS_DIRS) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(dir).sort();
      } catch {
        continue;
      }
      for (const n of names) consider(path.join(dir, n));
    }
    let pids: string[] = [];
    try {
      pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(a) - Number(b));
    } catch {
      /* no /proc */
    }
    for (const pid of pids) consider(`/proc/${pid}/ns/net`);
    const views: NsView[] = [];
    for (const p of paths) {
      try {
        const v = await readNs(p);
        views.push(v);
        this.byPath.set(p, v);
      } catch {
        // gone meanwhile, or not enterable: not a candidate
      }
    }
    this.views = views;
    return views;
  }

  /** One namespace by path (--netns, the libcni cache), read once. */
  async get(nsPath: string): Promise<NsView> {
    const hit = this.byPath.get(nsPath);
    if (hit) return hit;
    const v = await readNs(nsPath);
    this.byPath.set(nsPath, v);
    return v;
  }

  /** True when nsPath is the node's own namespace. */
  isSelf(nsPath: string): boolean {
    return nsKey(nsPath) === this.self;
  }
}

/**
 * The link in `v` that is the peer of the node's veth `veth`: the veth names `v` by its nsid and
 * the link by its index, and the link points back (indices alone repeat across namespaces).
 */
export function peerIn(v: NsView, veth: LinkDetail): LinkDetail | undefined {
  if (veth.peerIndex === undefined || veth.linkNetnsId === undefined || v.nsid !== veth.linkNetnsId) return undefined;
  return v.links.find((l) => l.index === veth.peerIndex && l.peerIndex === veth.index && l.linkNetnsId !== undefined);
}

/** Namespaces with an interface holding one of `ips` (bare addresses); the ifname's own first. */
export function byAddress(views: NsView[], ips: string[], ifname: string): NsView[] {
  const hits = views.filter((v) => v.addrs.some((a) => ips.includes(a.address)));
  const named = (v: NsView): boolean => v.addrs.some((a) => ips.includes(a.address) && v.links.find((l) => l.index === a.index)?.name === ifname);
  return [...hits.filter(named), ...hits.filter((v) => !named(v))];
}
