// The route agent: keeps, in this node's main routing table, a route to every other node's pod
// CIDR(s) via that node's InternalIP. Nodes come from a list + watch of the API (changes arrive
// within a second, with one long-lived request instead of a list every few seconds); the watch is
// resumed from the last resourceVersion, and a full list is done again when the API says the
// version is too old (410) or the connection fails. Independently of events the table is
// re-checked every resync interval, so a route someone deleted by hand comes back.
import { listAddresses } from '../netlink/addr';
import { listLinks } from '../netlink/link';
import { listRoutes, delRoute, replaceRoute } from '../netlink/route';
import { RT_TABLE_MAIN } from '../netlink/constants';
import { Rtnl } from '../netlink/socket';
import { ApiClient, ApiError, WatchEvent } from './api';
import { Logger } from './install';
import { releaseMemory } from './memstats';
import { K8sList, K8sNode, nodeInfo } from './node';
import { desiredRoutes, KernelRoute, newProblems, planRoutes, RTPROT_TSBRIDGE, WantedRoute } from './routes-plan';
import { nextBackoff, Serial } from './serial';
import { HostAddr, TrustPolicy } from './trust';

export interface RouteAgentOptions {
  self: string;
  resyncMs: number;
  /** after each sync attempt: its error, or undefined when it succeeded (the probe's status file) */
  onSync?: (error?: string) => void;
  /** the cluster CIDR(s), one per family: no pod CIDR outside them is routed */
  clusterCidrs: string[];
  /** the API server's address(es): no pod CIDR may cover them */
  apiServer: string[];
  maxRoutes: number;
  /** server-side watch length; the request is renewed after it */
  watchSeconds?: number;
  /** Rtnl of the namespace to program ('' = ours) */
  netns?: string;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

async function kernelRoutes(nl: Rtnl): Promise<KernelRoute[]> {
  const all = [...(await listRoutes(nl, 4)), ...(await listRoutes(nl, 6))];
  return all.filter((r) => r.table === RT_TABLE_MAIN).map((r) => ({ dst: r.dst, gw: r.gw, protocol: r.protocol }));
}

/** This node's addresses with their interface names: what pod CIDRs and gateways are checked against. */
export async function hostAddrs(nl: Rtnl): Promise<HostAddr[]> {
  const names = new Map((await listLinks(nl)).map((l) => [l.index, l.name]));
  return (await listAddresses(nl)).map((a) => ({ address: a.address, prefix: a.prefix, ifname: names.get(a.index) }));
}

/**
 * Apply one plan; a failing route is reported and retried at the next resync, the others go on.
 * `report` gets the destinations left to another owner (default: logged).
 */
export async function syncRoutes(
  nl: Rtnl,
  want: WantedRoute[],
  log: Logger,
  report = (m: string): void => log.warn(m),
): Promise<{ set: number; del: number }> {
  const plan = planRoutes(want, await kernelRoutes(nl));
  for (const b of plan.blocked)
    report(`route to ${b.dst} (node ${b.node}) not programmed: another owner's route to it exists`);
  let set = 0;
  let del = 0;
  for (const r of plan.del) {
    try {
      await delRoute(nl, { dst: r.dst, gw: r.gw, protocol: RTPROT_TSBRIDGE });
      log.info(`removed route ${r.dst} via ${r.gw}`);
      del++;
    } catch (e) {
      log.warn((e as Error).message);
    }
  }
  for (const w of plan.set) {
    try {
      await replaceRoute(nl, { dst: w.dst, gw: w.gw, protocol: RTPROT_TSBRIDGE });
      log.info(`route ${w.dst} via ${w.gw} (node ${w.node})`);
      set++;
    } catch (e) {
      log.warn(`${(e as Error).message} (node ${w.node})`);
    }
  }
  return { set, del };
}

/** Delete every route carrying our protocol (uninstall). */
export async function removeAllRoutes(log: Logger, netns = ''): Promise<number> {
  const nl = Rtnl.open(netns);
  try {
    return (await syncRoutes(nl, [], log)).del;
  } finally {
    nl.close();
  }
}

export class RouteAgent {
  private readonly nodes = new Map<string, K8sNode>();
  private lastWanted = '';
  /** Events that do not change the wanted set cost one address dump; a sync reads the node map when it starts. */
  private readonly syncs = new Serial((force) => this.syncNow(force));
  /** refusals and blocked routes logged already: each is logged once while it lasts, not at every resync */
  private readonly refused = new Set<string>();
  private readonly blocked = new Set<string>();
  /** Until the first list succeeds we know nothing: an empty map must not delete every route. */
  private listed = false;
  /** Node events since the last resync: a resync period without any is idle (see releaseMemory) */
  private eventsSinceResync = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly o: RouteAgentOptions,
    private readonly log: Logger,
  ) {}

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const resync = setInterval(() => this.sync(true), this.o.resyncMs);
    let backoff = 1000;
    try {
      while (!signal.aborted) {
        try {
          let rv = await this.list(signal);
          backoff = 1000;
          for (;;) {
            const next = await this.watchOnce(rv, signal);
            if (next === undefined || signal.aborted) break; // too old: list again
            rv = next;
          }
        } catch (e) {
          if (signal.aborted) break;
          this.log.warn(`node watch: ${(e as Error).message}; retrying in ${backoff / 1000}s`);
          await sleep(backoff, signal);
          backoff = nextBackoff(backoff, this.o.resyncMs);
        }
      }
    } finally {
      clearInterval(resync);
      await this.syncs.idle;
    }
  }

  private async list(signal: AbortSignal): Promise<string> {
    const list = await this.api.get<K8sList<K8sNode>>('/api/v1/nodes', signal);
    this.nodes.clear();
    for (const n of list.items) this.nodes.set(n.metadata.name, n);
    this.listed = true;
    this.sync(false);
    return list.metadata.resourceVersion ?? '';
  }

  /** One watch request; the resourceVersion to resume from, or undefined when a new list is needed. */
  private async watchOnce(rv: string, signal: AbortSignal): Promise<string | undefined> {
    const secs = this.o.watchSeconds ?? 300;
    const q =
      `/api/v1/nodes?watch=1&allowWatchBookmarks=true&timeoutSeconds=${secs}` +
      `&resourceVersion=${encodeURIComponent(rv)}`;
    let gone = false;
    try {
      await this.api.watch<K8sNode & { code?: number }>(
        q,
        (secs + 30) * 1000,
        (ev: WatchEvent<K8sNode & { code?: number }>) => {
          if (ev.type === 'ERROR') {
            gone = ev.object.code === 410;
            if (!gone) throw new Error(`watch error: ${JSON.stringify(ev.object)}`);
            return;
          }
          const name = ev.object.metadata?.name;
          rv = ev.object.metadata?.resourceVersion ?? rv;
          if (ev.type === 'BOOKMARK' || !name) return;
          if (ev.type === 'DELETED') this.nodes.delete(name);
          else this.nodes.set(name, ev.object);
          this.eventsSinceResync++;
          this.sync(false);
        },
        signal,
      );
    } catch (e) {
      if (e instanceof ApiError && e.status === 410) return undefined;
      throw e;
    }
    return gone ? undefined : rv;
  }

  /** One netlink sync at a time, at most one more waiting (events during a sync fold into it, see Serial). */
  private sync(force: boolean): void {
    this.syncs.request(force);
  }

  private async syncNow(force: boolean): Promise<void> {
    if (!this.listed) {
      this.o.onSync?.('no list of the nodes from the API yet');
      return;
    }
    let nl: Rtnl | undefined;
    try {
      nl = Rtnl.open(this.o.netns ?? '');
      const policy: TrustPolicy = {
        clusterCidrs: this.o.clusterCidrs,
        apiServer: this.o.apiServer,
        hostAddrs: await hostAddrs(nl),
      };
      const want = desiredRoutes(this.o.self, [...this.nodes.values()].map(nodeInfo), policy, this.o.maxRoutes);
      for (const p of newProblems(this.refused, want.problems)) this.log.warn(p);
      const key = JSON.stringify(want.routes);
      if (!force && key === this.lastWanted) {
        this.o.onSync?.();
        return;
      }
      const blocked: string[] = [];
      await syncRoutes(nl, want.routes, this.log, (m) => blocked.push(m));
      for (const p of newProblems(this.blocked, blocked)) this.log.warn(p);
      this.lastWanted = key;
      this.o.onSync?.();
    } catch (e) {
      this.log.warn(`route sync: ${(e as Error).message}`);
      this.o.onSync?.((e as Error).message);
    } finally {
      nl?.close();
      // the resync is the agent's quiet beat: collect the garbage of the events since the last one
      // here, at most once per resync period, rather than let heap and allocator grow between; after
      // an idle period also shrink (costs recompiling, so not while events keep coming)
      if (force) {
        releaseMemory(this.eventsSinceResync === 0);
        this.eventsSinceResync = 0;
      }
    }
  }
}
