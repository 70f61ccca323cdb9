// Finding a container's network namespace without the runtime: the IPAM store records the
// container ID, interface and IP, not the namespace. Candidates are every namespace under
// /run/netns and every process's /proc/PID/ns/net (each namespace read once per run, the node's own
// skipped); a container is the namespace holding the peer of its host veth, or else the one whose
// interface has its IP (never one owned by another user namespace: anyone may make one with any IP).
// Each namespace is opened once (sys/netns: never blocks, only network namespaces) and that handle
// serves every later use in the run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Addr, listAddresses } from '../netlink/addr';
import { LinkDetail, listLinkDetails, nsIdOf } from '../netlink/inspect';
import { Rtnl } from '../netlink/socket';
import { Netns } from '../sys/netns';

export interface NsView {
  path: string;
  /** The namespace as opened when read: every later use (container state, --fix, --probe) goes through it. */
  ns: Netns;
  /** Its id in the node's namespace (what the node's veths name as IFLA_LINK_NETNSID), if it has one. */
  nsid?: number;
  /**
   * Owned by another user namespace (e.g. an unprivileged `unshare -Urn`): whoever made it chose
   * its addresses, so it is never taken for a container by address; only the kernel's veth pairing
   * (which such a user cannot make with the node's links) identifies a container in it.
   */
  foreign: boolean;
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

/** Reads one namespace's links, addresses, owner and the id the node gives it, all through one fd. */
export async function readNs(ns: Netns): Promise<NsView> {
  let nsid: number | undefined;
  const node = Rtnl.open();
  try {
    nsid = await nsIdOf(node, ns.fd);
  } catch {
    nsid = undefined;
  } finally {
    node.close();
  }
  const nl = Rtnl.open(ns);
  try {
    return {
      path: ns.path,
      ns,
      nsid,
      foreign: !ns.ownedByOurUserns(),
      links: await listLinkDetails(nl),
      addrs: await listAddresses(nl),
    };
  } finally {
    nl.close();
  }
}

export class NetnsScanner {
  private views?: NsView[];
  private readonly byPath = new Map<string, NsView>();
  private readonly opened: Netns[] = [];
  private readonly self = nsKey('/proc/self/ns/net');

  /** Opens a namespace once; the handle lives until close(). */
  private async read(p: string): Promise<NsView> {
    const ns = Netns.open(p);
    this.opened.push(ns);
    return readNs(ns);
  }

  /**
   * Every namespace but the node's own, read once. Unreadable ones (and anything that is not a namespace) are skipped.
   */
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
      pids = fs
        .readdirSync('/proc')
        .filter((n) => /^\d+$/.test(n))
        .sort((a, b) => Number(a) - Number(b));
    } catch {
      /* no /proc */
    }
    for (const pid of pids) consider(`/proc/${pid}/ns/net`);
    const views: NsView[] = [];
    const inos = new Set<number>();
    const selfIno = Number(this.self?.split(':')[1]);
    for (const p of paths) {
      try {
        const v = this.byPath.get(p) ?? (await this.read(p));
        // what was opened may differ from what was stat'ed (a PID reused): judge by the handle
        if (v.ns.ino === selfIno || inos.has(v.ns.ino)) continue;
        inos.add(v.ns.ino);
        views.push(v);
        this.byPath.set(p, v);
      } catch {
        // gone meanwhile, not a namespace, or not enterable: not a candidate
      }
    }
    this.views = views;
    return views;
  }

  /** One namespace by path (--netns, the libcni cache), read once. */
  async get(nsPath: string): Promise<NsView> {
    const hit = this.byPath.get(nsPath);
    if (hit) return hit;
    const v = await this.read(nsPath);
    this.byPath.set(nsPath, v);
    return v;
  }

  close(): void {
    for (const ns of this.opened) ns.close();
    this.opened.length = 0;
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

/** Namespaces of our user namespace with an interface holding one of `ips` (bare addresses); the ifname's own first. */
export function byAddress(views: NsView[], ips: string[], ifname: string): NsView[] {
  const hits = views.filter((v) => !v.foreign && v.addrs.some((a) => ips.includes(a.address)));
  const named = (v: NsView): boolean =>
    v.addrs.some((a) => ips.includes(a.address) && v.links.find((l) => l.index === a.index)?.name === ifname);
  return [...hits.filter(named), ...hits.filter((v) => !named(v))];
}
