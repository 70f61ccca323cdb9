import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseNftList } from '../../src/firewall/nft/rules';
import {
  addSpoofScript,
  delSpoofScript,
  isStaleSpoofChain,
  spoofChains,
  spoofNameProblem,
  spoofNames,
  spoofProblems,
} from '../../src/firewall/nft/spoofcheck';

// As `nft -a list table bridge nat` prints the reference bridge 1.1.1's layout (two attachments).
const LISTING = `table bridge nat { # handle 1
	chain PREROUTING { # handle 1
		type filter hook prerouting priority dstnat; policy accept;
		iifname "veth1" jump cni-br-iface-c1-eth0 comment "macspoofchk-c1-eth0" # handle 4
		iifname "veth2" jump cni-br-iface-c2-eth0 comment "macspoofchk-c2-eth0" # handle 8
	}

	chain cni-br-iface-c1-eth0 { # handle 2
		jump cni-br-iface-c1-eth0-mac comment "macspoofchk-c1-eth0" # handle 5
	}

	chain cni-br-iface-c1-eth0-mac { # handle 3
		ether saddr 0a:58:0a:00:00:05 return comment "macspoofchk-c1-eth0" # handle 6
		drop comment "macspoofchk-c1-eth0" # handle 7
	}

	chain cni-br-iface-c2-eth0 { # handle 9
		jump cni-br-iface-c2-eth0-mac comment "macspoofchk-c2-eth0" # handle 11
	}

	chain cni-br-iface-c2-eth0-mac { # handle 10
		ether saddr 0a:58:0a:00:00:06 return comment "macspoofchk-c2-eth0" # handle 12
		drop comment "macspoofchk-c2-eth0" # handle 13
	}
}
`;

test("names are the reference's: keyed by container ID and ifname", () => {
  assert.equal(spoofNames('c1', 'eth0'), {
    ifaceChain: 'cni-br-iface-c1-eth0',
    macChain: 'cni-br-iface-c1-eth0-mac',
    comment: 'macspoofchk-c1-eth0',
  });
  assert.is(spoofNameProblem('abc.1_x-y', 'eth0'), '');
  assert.match(spoofNameProblem('c1', 'e"th0'), /cannot carry/);
  assert.match(spoofNameProblem('c1', 'e;th0'), /cannot carry/);
});

test('ADD script: table and base chain ensured, own chains emptied, four rules, one transaction', () => {
  const s = addSpoofScript('veth1', '0A:58:0A:00:00:05', 'c1', 'eth0');
  assert.equal(s.trim().split('\n'), [
    'add table bridge nat',
    'add chain bridge nat PREROUTING { type filter hook prerouting priority -300; policy accept; }',
    'add chain bridge nat cni-br-iface-c1-eth0',
    'flush chain bridge nat cni-br-iface-c1-eth0',
    'add chain bridge nat cni-br-iface-c1-eth0-mac',
    'flush chain bridge nat cni-br-iface-c1-eth0-mac',
    'add rule bridge nat PREROUTING iifname "veth1" jump cni-br-iface-c1-eth0 comment "macspoofchk-c1-eth0"',
    'add rule bridge nat cni-br-iface-c1-eth0 jump cni-br-iface-c1-eth0-mac comment "macspoofchk-c1-eth0"',
    'add rule bridge nat cni-br-iface-c1-eth0-mac ether saddr 0a:58:0a:00:00:05 return comment "macspoofchk-c1-eth0"',
    'add rule bridge nat cni-br-iface-c1-eth0-mac drop comment "macspoofchk-c1-eth0"',
  ]);
  assert.throws(() => addSpoofScript('veth1', 'zz', 'c1', 'eth0'));
  assert.throws(() => addSpoofScript('ve"th1', '0a:58:0a:00:00:05', 'c1', 'eth0'));
});

test('DEL script: its jump by handle and its two chains, nothing of the other attachment; empty when gone', () => {
  const t = parseNftList(LISTING);
  assert.equal(delSpoofScript(t, 'c1', 'eth0').trim().split('\n'), [
    'delete rule bridge nat PREROUTING handle 4',
    'flush chain bridge nat cni-br-iface-c1-eth0',
    'delete chain bridge nat cni-br-iface-c1-eth0',
    'flush chain bridge nat cni-br-iface-c1-eth0-mac',
    'delete chain bridge nat cni-br-iface-c1-eth0-mac',
  ]);
  assert.is(delSpoofScript(t, 'c3', 'eth0'), '');
});

test('CHECK: intact is clean; a changed MAC, a lost jump, a lost drop and a missing table are named', () => {
  const t = parseNftList(LISTING);
  assert.equal(spoofProblems(t, 'veth1', '0A:58:0A:00:00:05', 'c1', 'eth0'), []);
  assert.match(
    spoofProblems(t, 'veth1', '02:00:00:00:00:01', 'c1', 'eth0').join(),
    /lets only 0a:58:0a:00:00:05 through but eth0 has MAC 02:00:00:00:00:01/,
  );
  assert.match(spoofProblems(t, 'veth9', undefined, 'c1', 'eth0').join(), /no rule .* sends frames from veth9/);
  const noDrop = parseNftList(LISTING.replace(/\t\tdrop comment "macspoofchk-c1-eth0" # handle 7\n/, ''));
  assert.match(spoofProblems(noDrop, 'veth1', undefined, 'c1', 'eth0').join(), /does not end with "drop"/);
  assert.match(spoofProblems(null, 'veth1', undefined, 'c1', 'eth0').join(), /table bridge nat is missing/);
  assert.match(spoofProblems(t, 'veth3', undefined, 'c3', 'eth0').join(), /cni-br-iface-c3-eth0 is missing/);
});

test(
  "GC: attachment chains and their interfaces; stale = not kept and (this network's stale record or interface " +
    'gone)',
  () => {
    const t = parseNftList(LISTING);
    const chains = spoofChains(t);
    assert.equal(chains, [
      { ifaceChain: 'cni-br-iface-c1-eth0', iifname: 'veth1' },
      { ifaceChain: 'cni-br-iface-c2-eth0', iifname: 'veth2' },
    ]);
    const live = new Set(['veth1', 'veth2']);
    const none = new Set<string>();
    assert.is(isStaleSpoofChain(chains[0], none, none, live), false, 'a live interface of another network is kept');
    assert.is(isStaleSpoofChain(chains[0], none, new Set(['cni-br-iface-c1-eth0']), live), true);
    assert.is(isStaleSpoofChain(chains[0], none, none, new Set(['veth2'])), true, 'the interface is gone: dead chain');
    assert.is(
      isStaleSpoofChain(chains[0], new Set(['cni-br-iface-c1-eth0']), new Set(['cni-br-iface-c1-eth0']), none),
      false,
      'valid wins',
    );
    assert.is(
      isStaleSpoofChain({ ifaceChain: 'cni-br-iface-x-eth0' }, none, none, none),
      false,
      'no jump yet: maybe a reference ADD half-way',
    );
  },
);

test.run();
