import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  NftScript,
  addMasqueradeNft,
  delMasqueradeNft,
  masqueradeContainersNft,
  masqueradeProblemsNft,
  parseNftList,
} from '../../src/firewall/nft/rules';
import { MASQ_CHAIN as CHAIN, NFT_TAG as TAG, masqTarget } from '../helpers/firewall-fixtures';

const target = masqTarget();

// As `nft -a list table inet tsbridge` (nftables 1.0.6) prints it after an ADD, plus a second container.
const LIST = `table inet tsbridge { # handle 5
	chain postrouting { # handle 1
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.99.0.2 jump ${CHAIN} comment "${TAG}" # handle 7
		ip6 saddr fd00:99::2 jump ${CHAIN} comment "${TAG}" # handle 8
		ip saddr 10.99.0.3 jump CNI-aaaaaaaaaaaaaaaaaaaaaaaa comment "id=forged if=eth0 net=ref-net.1" # handle 12
	}

	chain ${CHAIN} { # handle 2
		ip daddr 10.99.0.0/24 accept comment "${TAG}" # handle 3
		ip daddr != 224.0.0.0/4 masquerade comment "${TAG}" # handle 4
		ip6 daddr fd00:99::/64 accept comment "${TAG}" # handle 5
		ip6 daddr != ff00::/8 masquerade comment "${TAG}" # handle 6
	}

	chain CNI-aaaaaaaaaaaaaaaaaaaaaaaa { # handle 9
		masquerade # handle 10
	}
}
`;

test('parseNftList reads chains, hooks, rules, handles, jumps and comments', () => {
  const t = parseNftList(LIST);
  assert.equal([...t.keys()], ['postrouting', CHAIN, 'CNI-aaaaaaaaaaaaaaaaaaaaaaaa']);
  const post = t.get('postrouting')!;
  assert.is(post.hook, 'type nat hook postrouting priority srcnat;');
  assert.equal(post.rules[1], {
    text: `ip6 saddr fd00:99::2 jump ${CHAIN} comment "${TAG}"`,
    handle: 8,
    jump: CHAIN,
    comment: TAG,
  });
  assert.equal(t.get('CNI-aaaaaaaaaaaaaaaaaaaaaaaa')!.rules, [{ text: 'masquerade', handle: 10 }]);
});

test('ADD script on a missing table: exact nft -f input', () => {
  const s = new NftScript();
  addMasqueradeNft(s, target, null);
  assert.is(
    s.render(),
    [
      'add table inet tsbridge',
      'add chain inet tsbridge postrouting { type nat hook postrouting priority srcnat; }',
      `add chain inet tsbridge ${CHAIN}`,
      `flush chain inet tsbridge ${CHAIN}`,
      `add rule inet tsbridge ${CHAIN} ip daddr 10.99.0.0/24 accept comment "${TAG}"`,
      `add rule inet tsbridge ${CHAIN} ip daddr != 224.0.0.0/4 masquerade comment "${TAG}"`,
      `add rule inet tsbridge ${CHAIN} ip6 daddr fd00:99::/64 accept comment "${TAG}"`,
      `add rule inet tsbridge ${CHAIN} ip6 daddr != ff00::/8 masquerade comment "${TAG}"`,
      `add rule inet tsbridge postrouting ip saddr 10.99.0.2 jump ${CHAIN} comment "${TAG}"`,
      `add rule inet tsbridge postrouting ip6 saddr fd00:99::2 jump ${CHAIN} comment "${TAG}"`,
      '',
    ].join('\n'),
  );
});

test('repeated ADD deletes the existing jumps by handle in the same transaction', () => {
  const s = new NftScript();
  addMasqueradeNft(s, target, parseNftList(LIST));
  const lines = s.render().split('\n');
  assert.equal(
    lines.filter((l) => l.startsWith('delete')),
    ['delete rule inet tsbridge postrouting handle 7', 'delete rule inet tsbridge postrouting handle 8'],
  );
  assert.is(lines.filter((l) => l.includes(' jump ')).length, 2);
});

test('the rendered rules are exactly what nft prints back (so check compares text)', () => {
  const s = new NftScript();
  addMasqueradeNft(s, target, null);
  const printed = new Set(LIST.split('\n').map((l) => l.trim().replace(/ # handle \d+$/, '')));
  for (const l of s
    .render()
    .split('\n')
    .filter((x) => x.startsWith('add rule'))) {
    assert.ok(printed.has(l.replace(/^add rule inet tsbridge \S+ /, '')), l);
  }
});

test('DEL script from the listing: jumps by handle, then the chain', () => {
  const s = new NftScript();
  delMasqueradeNft(s, parseNftList(LIST), 'ref-net.1', 'ctr-1_a.b');
  assert.is(
    s.render(),
    [
      'delete rule inet tsbridge postrouting handle 7',
      'delete rule inet tsbridge postrouting handle 8',
      `flush chain inet tsbridge ${CHAIN}`,
      `delete chain inet tsbridge ${CHAIN}`,
      '',
    ].join('\n'),
  );
});

test('DEL of something absent is an empty script', () => {
  const s = new NftScript();
  delMasqueradeNft(s, parseNftList(LIST), 'ref-net.1', 'gone');
  assert.ok(s.empty);
});

test('check: complete -> []; missing table, flushed chains -> named problems', () => {
  assert.equal(masqueradeProblemsNft(parseNftList(LIST), target), []);
  assert.equal(masqueradeProblemsNft(null, target), [
    'nftables table inet tsbridge is missing (was the ruleset flushed?)',
  ]);
  const flushed = LIST.split('\n')
    .filter((l) => !/# handle \d+$/.test(l) || /chain /.test(l))
    .join('\n');
  assert.equal(masqueradeProblemsNft(parseNftList(flushed), target), [
    'MASQUERADE rule for 10.99.0.2 missing from nftables inet tsbridge postrouting (was the ruleset flushed?)',
    'MASQUERADE rule for fd00:99::2 missing from nftables inet tsbridge postrouting (was the ruleset flushed?)',
    `rule "ip daddr 10.99.0.0/24 accept" missing from nftables chain inet tsbridge ${CHAIN}`,
    `rule "ip daddr != 224.0.0.0/4 masquerade" missing from nftables chain inet tsbridge ${CHAIN}`,
    `rule "ip6 daddr fd00:99::/64 accept" missing from nftables chain inet tsbridge ${CHAIN}`,
    `rule "ip6 daddr != ff00::/8 masquerade" missing from nftables chain inet tsbridge ${CHAIN}`,
  ]);
  const noChain = LIST.replace(`chain ${CHAIN} {`, 'chain renamed {');
  assert.ok(
    masqueradeProblemsNft(parseNftList(noChain), target).includes(
      `nftables chain inet tsbridge ${CHAIN} of container ctr-1_a.b is missing`,
    ),
  );
});

test('listContainers: only IDs whose tag matches the chain hash of this network', () => {
  assert.equal(masqueradeContainersNft(parseNftList(LIST), 'ref-net.1'), ['ctr-1_a.b']);
  assert.equal(masqueradeContainersNft(parseNftList(LIST), 'other'), []);
});

test('tags with quotes in names stay valid nft strings', () => {
  const s = new NftScript();
  addMasqueradeNft(s, { ...target, network: 'n"1', containerId: 'c 2', ifname: 'e"' }, null);
  const line = s
    .render()
    .split('\n')
    .find((l) => l.includes('jump'))!;
  assert.ok(line.endsWith('comment "id=c%202 if=e%22 net=n%221"'), line);
});

test.run();
