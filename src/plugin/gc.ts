// GC (spec 1.1): release everything of this network whose attachment is not in
// cni.dev/valid-attachments (the legacy key cni.dev/attachments is read too, as libcni sends
// both): IPAM reservations, firewall rules and host veths (tsbridge's by name, others by the
// address their container end holds: gc-veths.ts). Errors are collected, not fatal.
import { CniEnv } from '../cni/env';
import { CniError, ErrCode } from '../cni/errors';
import { getKey, isObject } from '../cni/json';
import { listFirewallContainers, NftablesBackend, removeAttachmentEverywhere } from '../firewall';
import * as hostLocal from '../ipam/host-local';
import { log } from '../log';
import { BridgeConfig } from '../attachment/config';
import { deleteHostVeth } from './del';
import { portsOfReleased, readBridgePorts } from './gc-veths';
import { openIpam } from './ipam';
import { isStaleSpoofChain, spoofNames } from '../firewall/nft/spoofcheck';
import { sweepSpoofChecks } from '../firewall/nft/backend';
import * as link from '../netlink/link';
import { Rtnl } from '../netlink/socket';
import { hostVethName } from '../attachment/names';

export interface Attachment {
  containerId: string;
  ifname: string;
}

export function validAttachments(raw: Record<string, unknown>): Attachment[] {
  const list = getKey(raw, 'cni.dev/valid-attachments') ?? getKey(raw, 'cni.dev/attachments') ?? [];
  if (!Array.isArray(list)) throw new CniError(ErrCode.InvalidConfig, 'cni.dev/valid-attachments must be a list');
  return list.map((a) => {
    if (!isObject(a) || typeof getKey(a, 'containerID') !== 'string' || typeof getKey(a, 'ifname') !== 'string') {
      throw new CniError(ErrCode.InvalidConfig, `invalid entry in cni.dev/valid-attachments: ${JSON.stringify(a)}`);
    }
    return { containerId: getKey(a, 'containerID') as string, ifname: getKey(a, 'ifname') as string };
  });
}

export async function cmdGc(cfg: BridgeConfig, env: CniEnv): Promise<void> {
  const valid = validAttachments(cfg.net.raw);
  const isValid = (cid: string, ifname?: string): boolean =>
    valid.some((v) => v.containerId === cid && (ifname === undefined || v.ifname === ifname));
  const errors: string[] = [];
  let busy = false; // a lock held elsewhere: the runtime should simply retry (GC is idempotent)
  const attempt = async (what: string, fn: () => unknown): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
      if (e instanceof CniError && e.code === ErrCode.TryAgainLater) busy = true;
    }
  };

  const ipam = openIpam(cfg.net, env);
  let stale: Attachment[] = [];
  if (ipam.local) {
    const local = ipam.local;
    // old-format records (container ID only, ifname '') name no veth we could have made
    const all = hostLocal.listAttachments(local, cfg.net.name);
    const released = all.filter((a) => a.ifname && !isValid(a.containerId, a.ifname));
    stale = released;
    for (const a of stale)
      await attempt(`delete host veth of ${a.containerId}/${a.ifname}`, () =>
        deleteHostVeth(hostVethName(a.containerId, a.ifname)),
      );
    // pairs with a host veth name not ours (the reference's pods): by their container end's address
    if (released.length && cfg.layer3) {
      await attempt('delete veth pairs of released addresses', async () => {
        const kept = all.filter((a) => !released.includes(a)).map((a) => a.ip);
        for (const p of portsOfReleased(await readBridgePorts(cfg.bridge), released, kept)) {
          log.info(
            `GC: deleting veth ${p.name} (its peer ${p.peerName} holds ${p.peerAddrs.join(', ')}, released now)`,
          );
          await deleteHostVeth(p.name);
        }
      });
    }
    await attempt('release IPAM reservations', () => {
      const freed = hostLocal.gc(local, cfg.net.name, valid);
      if (freed.length) log.info(`GC released ${freed.join(', ')}`);
    });
  }
  // a delegated IPAM plugin keeps its own state: GC is passed to it (spec), with the same valid list on stdin
  if (!ipam.local) await attempt(`GC of IPAM plugin ${ipam.type}`, () => ipam.gc());
  await attempt('remove firewall rules', () => {
    // rules are keyed by (network, container ID), like the reference's chain names
    for (const cid of listFirewallContainers(cfg.net.name)) {
      if (!isValid(cid)) removeAttachmentEverywhere(cfg.net.name, cid);
    }
  });
  await attempt("remove the upstream reference's nftables rules", () => {
    const subnets = (ipam.local?.ranges ?? []).flat().map((r) => r.subnet);
    new NftablesBackend().gcForeign(cfg.net.name, valid, subnets);
  });
  await attempt('remove macspoofchk chains', async () => {
    // swept whether or not macspoofchk is on now: the config may have changed since ADD
    const chain = (a: Attachment) => spoofNames(a.containerId, a.ifname).ifaceChain;
    const keep = new Set(valid.map(chain));
    const ours = new Set(stale.map(chain));
    const removed = await sweepSpoofChecks(linkNames, (c, live) => isStaleSpoofChain(c, keep, ours, live));
    if (removed.length) log.info(`GC removed macspoofchk chains ${removed.join(', ')}`);
  });
  if (errors.length)
    throw new CniError(
      busy ? ErrCode.TryAgainLater : ErrCode.IOFailure,
      `GC finished with errors: ${errors.join('; ')}`,
    );
}

/** Names of the node's links (for GC: a chain filtering a gone interface is dead). */
async function linkNames(): Promise<Set<string>> {
  const nl = Rtnl.open();
  try {
    return new Set((await link.listLinks(nl)).map((l) => l.name));
  } finally {
    nl.close();
  }
}
