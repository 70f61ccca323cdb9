// Masquerade rules in a throwaway network namespace, through both backends (and both iptables
// variants). Nothing here touches the machine's own namespace: every backend call runs inside
// withNetns, every inspection through `ip netns exec`.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { missing, requires } from '../helpers/test';
import {
  AttachmentRules,
  IptablesBackend,
  MasqTarget,
  NftablesBackend,
  listFirewallContainers,
  removeAttachmentEverywhere,
  selectBackend,
} from '../../src/firewall';
import { masqChainName } from '../../src/firewall/tag';
import { withNetns } from '../../src/sys/netns';
import type { FirewallBackend } from '../../src/firewall';

const RUN = crypto.randomBytes(3).toString('hex');
const created: string[] = [];

function newNs(role: string): string {
  const name = `tsbt-fw-${RUN}-${role}`;
  execFileSync('ip', ['netns', 'add', name]);
  created.push(name);
  return name;
}

function delNs(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  const i = created.indexOf(name);
  if (i >= 0) created.splice(i, 1);
}

/** Runs fn with a fresh namespace that is deleted afterwards, whatever happens. */
function inFreshNs(role: string, fn: (ns: string) => void): void {
  const ns = newNs(role);
  try {
    fn(ns);
  } finally {
    delNs(ns);
  }
}

function inNs(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const nsPath = (ns: string) => `/run/netns/${ns}`;

const target: MasqTarget = {
  network: 'tsbt-net',
  containerId: `ctr-${RUN}-"quoted"`,
  ifname: 'eth0',
  ips: [
    { ip: '10.251.0.5', subnet: '10.251.0.5/24', family: 4 },
    { ip: 'fd00:251::5', subnet: 'fd00:251::5/64', family: 6 },
  ],
};
const CHAIN = masqChainName(target.network, target.containerId);
/** The attachment with masquerade and no port mappings: what CHECK compares with. */
const masqOnly = (t: MasqTarget): AttachmentRules => ({ ...t, masquerade: true, portMappings: [] });

interface Variant {
  label: string;
  backend: () => FirewallBackend;
  /** Everything of the nat state that could hold our rules. */
  dump: (ns: string) => string;
  /** What "someone flushed the nat table" means for this backend. */
  flush: (ns: string) => void;
  flushProblem: string;
}

const iptDump = (save: string, save6: string) => (ns: string) =>
  inNs(ns, save, '-t', 'nat') + inNs(ns, save6, '-t', 'nat');

const variants: Variant[] = [
  {
    label: 'iptables (on PATH)',
    backend: () => new IptablesBackend(),
    dump: iptDump('iptables-save', 'ip6tables-save'),
    flush: (ns) => {
      inNs(ns, 'iptables', '-t', 'nat', '-F');
      inNs(ns, 'ip6tables', '-t', 'nat', '-F');
    },
    flushProblem: 'MASQUERADE rule for 10.251.0.5 missing from iptables nat POSTROUTING (was the nat table flushed?)',
  },
  {
    label: 'iptables-legacy',
    backend: () =>
      new IptablesBackend({
        4: { save: 'iptables-legacy-save', restore: 'iptables-legacy-restore' },
        6: { save: 'ip6tables-legacy-save', restore: 'ip6tables-legacy-restore' },
      }),
    dump: iptDump('iptables-legacy-save', 'ip6tables-legacy-save'),
    flush: (ns) => {
      inNs(ns, 'iptables-legacy', '-t', 'nat', '-F');
      inNs(ns, 'ip6tables-legacy', '-t', 'nat', '-F');
    },
    flushProblem: 'MASQUERADE rule for fd00:251::5 missing from ip6tables nat POSTROUTING (was the nat table flushed?)',
  },
  {
    label: 'nftables',
    backend: () => new NftablesBackend(),
    dump: (ns) => inNs(ns, 'nft', 'list', 'ruleset'),
    flush: (ns) => inNs(ns, 'nft', 'flush', 'table', 'inet', 'tsbridge'),
    flushProblem:
      'MASQUERADE rule for 10.251.0.5 missing from nftables inet tsbridge postrouting (was the ruleset flushed?)',
  },
];

// as non-root, or without iptables-legacy, these are counted as skipped (a failure under CI=true)
const rootTest = requires(test, missing.root());

for (const v of variants) {
  const test = requires(
    rootTest,
    v.label === 'iptables-legacy' ? missing.tool('iptables-legacy', 'ip6tables-legacy') : undefined,
  );

  test(`${v.label}: add (twice), check, flush -> check reports it, del twice leaves nothing`, () => {
    inFreshNs('rules', (ns) => {
      const fw = v.backend();
      withNetns(nsPath(ns), () => {
        fw.addMasquerade(target);
        fw.addMasquerade(target); // a retried ADD must not duplicate anything
      });
      const dump = v.dump(ns);
      const count = (re: RegExp) => (dump.match(re) ?? []).length;
      if (fw.name === 'iptables') {
        assert.is(count(new RegExp(`-A POSTROUTING -s 10\\.251\\.0\\.5/32 .*-j ${CHAIN}`, 'g')), 1, dump);
        assert.is(count(new RegExp(`-A POSTROUTING -s fd00:251::5/128 .*-j ${CHAIN}`, 'g')), 1, dump);
        assert.is(count(new RegExp(`-A ${CHAIN} -d 10\\.251\\.0\\.0/24 .*-j ACCEPT`, 'g')), 1, dump);
        assert.is(count(new RegExp(`-A ${CHAIN} ! -d 224\\.0\\.0\\.0/4 .*-j MASQUERADE`, 'g')), 1, dump);
        assert.is(count(new RegExp(`-A ${CHAIN} ! -d ff00::/8 .*-j MASQUERADE`, 'g')), 1, dump);
        assert.ok(dump.includes(`--comment "name: \\"tsbt-net\\" id: \\"ctr-${RUN}-\\\\\\"quoted\\\\\\"\\""`), dump);
      } else {
        assert.is(count(new RegExp(`ip saddr 10\\.251\\.0\\.5 jump ${CHAIN} comment`, 'g')), 1, dump);
        assert.is(count(new RegExp(`ip6 saddr fd00:251::5 jump ${CHAIN} comment`, 'g')), 1, dump);
        assert.is(count(/ip daddr 10\.251\.0\.0\/24 accept/g), 1, dump);
        assert.is(count(/ip daddr != 224\.0\.0\.0\/4 masquerade/g), 1, dump);
        assert.is(count(/ip6 daddr != ff00::\/8 masquerade/g), 1, dump);
      }

      withNetns(nsPath(ns), () => {
        assert.equal(fw.checkAttachment(masqOnly(target)), []);
        assert.equal(fw.listContainers(target.network), [target.containerId]);
        assert.equal(fw.listContainers('another-net'), []);
      });

      v.flush(ns);
      withNetns(nsPath(ns), () => {
        const problems = fw.checkAttachment(masqOnly(target));
        assert.ok(problems.includes(v.flushProblem), problems.join('\n'));
        fw.removeAttachment(target.network, target.containerId);
        fw.removeAttachment(target.network, target.containerId);
        assert.equal(fw.listContainers(target.network), []);
      });
      assert.not.ok(v.dump(ns).includes(CHAIN), v.dump(ns));
    });
  });

  test(`${v.label}: del without flush removes everything; del where nothing ever was is fine`, () => {
    inFreshNs('del', (ns) => {
      const fw = v.backend();
      withNetns(nsPath(ns), () => {
        fw.removeAttachment(target.network, target.containerId); // fresh namespace, no table at all
        fw.addMasquerade(target);
        fw.addMasquerade({
          ...target,
          containerId: 'neighbour',
          ips: [{ ip: '10.251.0.6', subnet: '10.251.0.0/24', family: 4 }],
        });
        fw.removeAttachment(target.network, target.containerId);
        fw.removeAttachment(target.network, target.containerId);
        assert.equal(fw.listContainers(target.network), ['neighbour']);
        assert.equal(
          fw.checkAttachment(
            masqOnly({
              ...target,
              containerId: 'neighbour',
              ips: [{ ip: '10.251.0.6', subnet: '10.251.0.0/24', family: 4 }],
            }),
          ),
          [],
        );
      });
      const dump = v.dump(ns);
      assert.not.ok(dump.includes(CHAIN), dump);
      assert.ok(dump.includes(masqChainName(target.network, 'neighbour')), dump);
    });
  });
}

rootTest("rules made in a test namespace never show up in the machine's own namespace", () => {
  inFreshNs('leak', (ns) => {
    withNetns(nsPath(ns), () => new IptablesBackend().addMasquerade(target));
    const host = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
    assert.not.ok(host.includes(CHAIN));
  });
});

rootTest('selectBackend: explicit preference wins; auto picks iptables where it works', () => {
  inFreshNs('select', (ns) => {
    withNetns(nsPath(ns), () => {
      assert.is(selectBackend('nftables').name, 'nftables');
      assert.is(selectBackend('iptables').name, 'iptables');
      assert.is(selectBackend().name, 'iptables');
    });
  });
});

rootTest('removeAttachmentEverywhere removes an attachment whichever backend made it; GC listing sees both', () => {
  inFreshNs('both', (ns) => {
    const viaNft = { ...target, containerId: 'made-by-nft' };
    withNetns(nsPath(ns), () => {
      new IptablesBackend().addMasquerade(target);
      new NftablesBackend().addMasquerade(viaNft);
      assert.equal(listFirewallContainers(target.network).sort(), [target.containerId, 'made-by-nft'].sort());
      removeAttachmentEverywhere(target.network, 'made-by-nft');
      removeAttachmentEverywhere(target.network, target.containerId);
      removeAttachmentEverywhere(target.network, target.containerId);
      assert.equal(listFirewallContainers(target.network), []);
    });
  });
});

requires(rootTest, missing.refPlugins('bridge', 'host-local'))(
  'interop: rules the reference bridge plugin made are checked and deleted by tsbridge',
  () => {
    const node = newNs('refnode');
    const ctr = newNs('refctr');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-fw-ipam-'));
    try {
      const conf = {
        cniVersion: '0.4.0',
        name: 'ref-net.1',
        type: 'bridge',
        bridge: 'tsbtref0',
        isGateway: true,
        ipMasq: true,
        ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.252.0.0/24' }], [{ subnet: 'fd00:252::/64' }]] },
      };
      const cid = `ref-${RUN}`;
      const out = execFileSync('ip', ['netns', 'exec', node, '/usr/lib/cni/bridge'], {
        input: JSON.stringify(conf),
        encoding: 'utf8',
        env: {
          ...process.env,
          CNI_COMMAND: 'ADD',
          CNI_CONTAINERID: cid,
          CNI_NETNS: nsPath(ctr),
          CNI_IFNAME: 'eth0',
          CNI_PATH: '/usr/lib/cni',
        },
      });
      const ips = (JSON.parse(out).ips as { address: string }[]).map((i) => {
        const family = i.address.includes(':') ? 6 : 4;
        return { ip: i.address.split('/')[0], subnet: i.address, family: family as 4 | 6 };
      });
      const t: MasqTarget = { network: conf.name, containerId: cid, ifname: 'eth0', ips };
      const chain = masqChainName(conf.name, cid);
      assert.ok(inNs(node, 'iptables-save', '-t', 'nat').includes(chain), 'reference chain name differs from ours');
      withNetns(nsPath(node), () => {
        const fw = new IptablesBackend();
        assert.equal(fw.checkAttachment(masqOnly(t)), []);
        assert.equal(fw.listContainers(conf.name), [cid]);
        fw.removeAttachment(conf.name, cid);
      });
      assert.not.ok(
        (inNs(node, 'iptables-save', '-t', 'nat') + inNs(node, 'ip6tables-save', '-t', 'nat')).includes(chain),
      );
    } finally {
      delNs(ctr);
      delNs(node);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  },
);

test.after(() => {
  for (const ns of [...created]) delNs(ns);
});

test.run();
