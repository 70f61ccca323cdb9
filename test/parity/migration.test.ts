// Switching a node between the reference plugins and the plugin under test, with pods running:
// what one side made, the other must CHECK, DEL and GC, and nothing of the pod may be left.
// A difference from "ok / nothing left" fails unless allowlist.ts lists it (case = scenario name).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ALLOWED, matches, PENDING_ISSUE_12 } from './allowlist';
import { Attachment, Chain } from './chain';
import { REF_DIR, Side } from './exec';
import {
  Case,
  containerId,
  Diff,
  formatDiffs,
  oursConflist,
  oursResolver,
  refConflist,
  refResolver,
  snapshot,
} from './harness';

const ports = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
const ipam = { type: 'host-local', ranges: [[{ subnet: '10.22.0.0/24' }], [{ subnet: 'fd22::/64' }]] };
const base = { bridge: 'br-par', isDefaultGateway: true, ipMasq: true, ipam };

const att = (side: Side, c: Case, netns?: string): Attachment => ({
  nodeNs: side.node,
  netns: netns ?? side.netnsPath(0),
  containerId: containerId(c, 0),
  ifname: 'eth0',
  cniPath: REF_DIR,
});

function judge(name: string, diffs: Diff[], notes: string[]): void {
  const left = diffs.filter((d) => ![...ALLOWED, ...PENDING_ISSUE_12].some((e) => matches(e, name, d)));
  if (process.env.PARITY_DUMP)
    console.log(JSON.stringify({ case: name, diffs: process.env.PARITY_DUMP === 'all' ? diffs : left, notes }));
  const stale = ALLOWED.filter((e) => e.cases.includes(name) && !diffs.some((d) => matches(e, name, d)));
  if (left.length || stale.length) {
    assert.unreachable(
      `${name}: ${left.length} difference(s) not in allowlist.ts\n${formatDiffs(left, name)}` +
        (stale.length
          ? `\n  allowlist entries that no longer match:\n${stale.map((e) => `    ${e.path}`).join('\n')}`
          : '') +
        `\n  notes:\n    ${notes.join('\n    ')}`,
    );
  }
}

const outcome = (o: { ok: boolean; code?: number }): string => (o.ok ? 'ok' : `error ${o.code ?? '?'}`);

/** reference ADD, then the plugin under test CHECKs, DELs (netns given or empty) and GCs: nothing may stay. */
async function refToOurs(
  name: string,
  conf: Record<string, unknown>,
  opts: { delNetns?: string; gcOnly?: boolean },
): Promise<void> {
  const c: Case = { name, conf, caps: { portMappings: ports } };
  const side = new Side('ref', 1);
  try {
    const ref = new Chain(refConflist(c, side.dataDir), refResolver, c.caps!);
    const added = await ref.add(att(side, c));
    assert.ok(added.ok, `reference ADD failed: ${added.msg}`);
    const before = await snapshot(side, c);
    // presence first: the pod's host veth, reservations and rules exist
    for (const kind of ['node.links.', 'ipam.', 'node.firewall.iptables', 'node.firewall.ip6tables']) {
      assert.ok(
        before.owned.some((x) => x.startsWith(kind)),
        `reference ADD made no ${kind}: ${before.owned.join(', ')}`,
      );
    }
    const ours = new Chain(oursConflist({ ...c, cniVersion: '1.1.0' }, side.dataDir), oursResolver, c.caps!);
    ours.cached = added.result;
    const diffs: Diff[] = [];
    const notes: string[] = [];
    const step = (label: string, o: { ok: boolean; code?: number; msg?: string }): void => {
      if (!o.ok) {
        diffs.push({ path: `${label}.outcome`, ref: 'ok', ours: outcome(o) });
        notes.push(`${label}: ${o.msg}`);
      }
    };
    if (!opts.gcOnly) {
      step('check', await ours.check(att(side, c)));
      step('del', await ours.del(att(side, c, opts.delNetns)));
    }
    step('gc', await ours.gc(att(side, c), []));
    const after = await snapshot(side, c);
    if (after.owned.length) diffs.push({ path: 'leftover', ref: [], ours: after.owned });
    judge(name, diffs, notes);
  } finally {
    side.cleanup();
  }
}

/** the plugin under test ADDs, then the reference CHECKs and DELs: what it leaves is recorded in the allowlist. */
async function oursToRef(name: string, conf: Record<string, unknown>): Promise<void> {
  const c: Case = { name, conf, caps: { portMappings: ports } };
  const side = new Side('ours', 1);
  try {
    const ours = new Chain(oursConflist(c, side.dataDir), oursResolver, c.caps!);
    const added = await ours.add(att(side, c));
    assert.ok(added.ok, `ADD failed: ${added.msg}`);
    const before = await snapshot(side, c);
    for (const kind of ['node.links.', 'ipam.', 'node.firewall.']) {
      assert.ok(
        before.owned.some((x) => x.startsWith(kind)),
        `ADD made no ${kind}: ${before.owned.join(', ')}`,
      );
    }
    const ref = new Chain(refConflist(c, side.dataDir), refResolver, c.caps!);
    ref.cached = added.result;
    const diffs: Diff[] = [];
    const notes: string[] = [];
    for (const [label, o] of [
      ['reference-check', await ref.check(att(side, c))],
      ['reference-del', await ref.del(att(side, c))],
    ] as const) {
      if (!o.ok) {
        diffs.push({ path: `${label}.outcome`, ref: 'ok', ours: outcome(o) });
        notes.push(`${label}: ${o.failedPlugin}: ${o.msg}`);
      }
    }
    const after = await snapshot(side, c);
    if (after.owned.length) diffs.push({ path: 'leftover', ref: [], ours: after.owned });
    judge(name, diffs, notes);
  } finally {
    side.cleanup();
  }
}

/** PARITY_CASES (a regular expression) chooses scenarios as it chooses matrix cases. */
const only = process.env.PARITY_CASES ? new RegExp(process.env.PARITY_CASES) : undefined;
const scenario = (name: string, fn: () => Promise<void>): void => {
  if (!only || only.test(name)) test(name, fn);
};

scenario('migrate-ref-to-ours', () => refToOurs('migrate-ref-to-ours', { ...base, ipMasqBackend: 'iptables' }, {}));
scenario('migrate-ref-to-ours-empty-netns-del', () =>
  refToOurs('migrate-ref-to-ours-empty-netns-del', { ...base, ipMasqBackend: 'iptables' }, { delNetns: '' }),
);
scenario('migrate-ref-to-ours-gc-only', () =>
  refToOurs('migrate-ref-to-ours-gc-only', { ...base, ipMasqBackend: 'iptables' }, { gcOnly: true }),
);
scenario('migrate-ref-to-ours-nftables', () =>
  refToOurs('migrate-ref-to-ours-nftables', { ...base, ipMasqBackend: 'nftables' }, {}),
);
scenario('migrate-ours-to-ref-iptables', () =>
  oursToRef('migrate-ours-to-ref-iptables', { ...base, ipMasqBackend: 'iptables' }),
);
scenario('migrate-ours-to-ref-nftables', () =>
  oursToRef('migrate-ours-to-ref-nftables', { ...base, ipMasqBackend: 'nftables' }),
);

test.run();
