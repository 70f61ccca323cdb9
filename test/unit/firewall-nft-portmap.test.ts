import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NftScript, addMasqueradeNft, parseNftList } from '../../src/firewall/nft/rules';
import {
  addPortmapNft,
  delPortmapNft,
  heldPortsNft,
  portmapContainersNft,
  portmapProblemsNft,
  udpHostPortsNft,
} from '../../src/firewall/nft/portmap';
import { dnatEntries, findConflicts, parsePortMappings } from '../../src/firewall/portmap';
import type { AttachmentRules } from '../../src/firewall/types';
import {
  DNAT_CHAIN as DN,
  HAIRPIN_CHAIN as HM,
  MASQ_CHAIN as MASQ,
  NFT_TAG as TAG,
  attachmentRules,
} from '../helpers/firewall-fixtures';

const T = 'inet tsbridge';

const r = attachmentRules();

test('ADD script on a missing table: masquerade and port mappings in one transaction, exact nft -f input', () => {
  const s = new NftScript();
  addMasqueradeNft(s, r, null);
  addPortmapNft(s, r, null);
  assert.is(
    s.render(),
    [
      `add table ${T}`,
      `add chain ${T} postrouting { type nat hook postrouting priority srcnat; }`,
      `add chain ${T} ${MASQ}`,
      `flush chain ${T} ${MASQ}`,
      `add rule ${T} ${MASQ} ip daddr 10.99.0.0/24 accept comment "${TAG}"`,
      `add rule ${T} ${MASQ} ip daddr != 224.0.0.0/4 masquerade comment "${TAG}"`,
      `add rule ${T} ${MASQ} ip6 daddr fd00:99::/64 accept comment "${TAG}"`,
      `add rule ${T} ${MASQ} ip6 daddr != ff00::/8 masquerade comment "${TAG}"`,
      `add rule ${T} postrouting ip saddr 10.99.0.2 jump ${MASQ} comment "${TAG}"`,
      `add rule ${T} postrouting ip6 saddr fd00:99::2 jump ${MASQ} comment "${TAG}"`,
      `add chain ${T} prerouting { type nat hook prerouting priority dstnat; }`,
      `add chain ${T} output { type nat hook output priority -100; }`,
      `create chain ${T} hostports`,
      `add rule ${T} prerouting fib daddr type local jump hostports`,
      `add rule ${T} output fib daddr type local jump hostports`,
      `add chain ${T} ${DN}`,
      `flush chain ${T} ${DN}`,
      `add chain ${T} ${HM}`,
      `flush chain ${T} ${HM}`,
      `add rule ${T} hostports tcp dport { 8080, 8443 } jump ${DN} comment "${TAG}"`,
      `add rule ${T} hostports udp dport 53 jump ${DN} comment "${TAG}"`,
      `add rule ${T} ${DN} ip saddr 127.0.0.0/8 tcp dport 8080 meta mark set meta mark | 0x00002000 comment "${TAG}"`,
      `add rule ${T} ${DN} ip saddr 10.99.0.0/24 tcp dport 8080 meta mark set meta mark | 0x00002000 comment "${TAG}"`,
      `add rule ${T} ${DN} meta nfproto ipv4 tcp dport 8080 dnat ip to 10.99.0.2:80 comment "${TAG}"`,
      `add rule ${T} ${DN} ip daddr 192.0.2.1 ip saddr 127.0.0.0/8 tcp dport 8443 meta mark set meta mark | ` +
        `0x00002000 ` +
        `comment "${TAG}"`,
      `add rule ${T} ${DN} ip daddr 192.0.2.1 ip saddr 10.99.0.0/24 tcp dport 8443 meta mark set meta mark | ` +
        `0x00002000 comment "${TAG}"`,
      `add rule ${T} ${DN} ip daddr 192.0.2.1 tcp dport 8443 dnat ip to 10.99.0.2:443 comment "${TAG}"`,
      `add rule ${T} ${DN} ip saddr 127.0.0.0/8 udp dport 53 meta mark set meta mark | 0x00002000 comment "${TAG}"`,
      `add rule ${T} ${DN} ip saddr 10.99.0.0/24 udp dport 53 meta mark set meta mark | 0x00002000 comment "${TAG}"`,
      `add rule ${T} ${DN} meta nfproto ipv4 udp dport 53 dnat ip to 10.99.0.2:5353 comment "${TAG}"`,
      `add rule ${T} ${DN} ip6 saddr fd00:99::/64 tcp dport 8080 meta mark set meta mark | 0x00002000 comment "${TAG}"`,
      `add rule ${T} ${DN} meta nfproto ipv6 tcp dport 8080 dnat ip6 to [fd00:99::2]:80 comment "${TAG}"`,
      `add rule ${T} ${DN} ip6 saddr fd00:99::/64 udp dport 53 meta mark set meta mark | 0x00002000 comment "${TAG}"`,
      `add rule ${T} ${DN} meta nfproto ipv6 udp dport 53 dnat ip6 to [fd00:99::2]:5353 comment "${TAG}"`,
      `insert rule ${T} postrouting ip6 saddr fd00:99::/64 ip6 daddr fd00:99::2 ct status dnat jump ${HM} comment ` +
        `"${TAG}"`,
      `insert rule ${T} postrouting ip saddr 10.99.0.0/24 ip daddr 10.99.0.2 ct status dnat jump ${HM} comment ` +
        `"${TAG}"`,
      `insert rule ${T} postrouting ip saddr 127.0.0.0/8 ip daddr 10.99.0.2 ct status dnat jump ${HM} comment "${TAG}"`,
      `add rule ${T} ${HM} meta mark & 0x00002000 == 0x00002000 masquerade comment "${TAG}"`,
      '',
    ].join('\n'),
  );
});

// As `nft -a list table inet tsbridge` (nftables 1.0.6) printed it after the ADD above, plus the
// port mappings of container "other".
const OTHER = 'CNI-DN-5c62342448f0d1d129679'; // dnatChainName('ref-net.1', 'other')
const LIST =
  `table inet tsbridge { # handle 9
	chain postrouting { # handle 1
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 127.0.0.0/8 ip daddr 10.99.0.2 ct status dnat jump ${HM} comment "${TAG}" # handle 30
		ip saddr 10.99.0.0/24 ip daddr 10.99.0.2 ct status dnat jump ${HM} comment "${TAG}" # handle 29
		ip6 saddr fd00:99::/64 ip6 daddr fd00:99::2 ct status dnat jump ${HM} comment "${TAG}" # handle 28
		ip saddr 10.99.0.2 jump ${MASQ} comment "${TAG}" # handle 7
		ip6 saddr fd00:99::2 jump ${MASQ} comment "${TAG}" # handle 8
	}

	chain ${MASQ} { # handle 2
		ip daddr 10.99.0.0/24 accept comment "${TAG}" # handle 3
		ip daddr != 224.0.0.0/4 masquerade comment "${TAG}" # handle 4
		ip6 daddr fd00:99::/64 accept comment "${TAG}" # handle 5
		ip6 daddr != ff00::/8 masquerade comment "${TAG}" # handle 6
	}

	chain prerouting { # handle 10
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump hostports # handle 14
	}

	chain output { # handle 11
		type nat hook output priority -100; policy accept;
		fib daddr type local jump hostports # handle 15
	}

	chain hostports { # handle 12
		tcp dport { 8080, 8443 } jump ${DN} comment "${TAG}" # handle 18
		udp dport 53 jump ${DN} comment "${TAG}" # handle 19
		tcp dport 9090 jump ${OTHER} comment "id=other if=eth0 net=ref-net.1" # handle 40
	}

	chain ${DN} { # handle 16
		ip saddr 127.0.0.0/8 tcp dport 8080 meta mark set meta mark | 0x00002000 comment "${TAG}" # handle 60
		ip saddr 10.99.0.0/24 tcp dport 8080 meta mark set meta mark | 0x00002000 comment "${TAG}" # handle 61
		meta nfproto ipv4 tcp dport 8080 dnat ip to 10.99.0.2:80 comment "${TAG}" # handle 20
		ip daddr 192.0.2.1 ip saddr 127.0.0.0/8 tcp dport 8443 meta mark set meta mark | 0x00002000 comment "${TAG}" # ` +
  `handle 62
		ip daddr 192.0.2.1 ip saddr 10.99.0.0/24 tcp dport 8443 meta mark set meta mark | 0x00002000 comment "${TAG}" # ` +
  `handle 63
		ip daddr 192.0.2.1 tcp dport 8443 dnat ip to 10.99.0.2:443 comment "${TAG}" # handle 21
		ip saddr 127.0.0.0/8 udp dport 53 meta mark set meta mark | 0x00002000 comment "${TAG}" # handle 64
		ip saddr 10.99.0.0/24 udp dport 53 meta mark set meta mark | 0x00002000 comment "${TAG}" # handle 65
		meta nfproto ipv4 udp dport 53 dnat ip to 10.99.0.2:5353 comment "${TAG}" # handle 22
		ip6 saddr fd00:99::/64 tcp dport 8080 meta mark set meta mark | 0x00002000 comment "${TAG}" # handle 66
		meta nfproto ipv6 tcp dport 8080 dnat ip6 to [fd00:99::2]:80 comment "${TAG}" # handle 23
		ip6 saddr fd00:99::/64 udp dport 53 meta mark set meta mark | 0x00002000 comment "${TAG}" # handle 67
		meta nfproto ipv6 udp dport 53 dnat ip6 to [fd00:99::2]:5353 comment "${TAG}" # handle 24
	}

	chain ${HM} { # handle 17
		meta mark & 0x00002000 == 0x00002000 masquerade comment "${TAG}" # handle 25
	}

	chain ${OTHER} { # handle 41
		ip6 daddr 2001:db8::1 tcp dport 9090 dnat ip6 to [fd00:99::3]:90 comment "id=other if=eth0 net=ref-net.1" # handle 42
	}
}
`;

test('a repeated ADD deletes old jumps by handle and flushes the chains; shared chains exist already', () => {
  const s = new NftScript();
  addPortmapNft(s, r, parseNftList(LIST));
  const lines = s.render().split('\n');
  assert.not.ok(lines.some((l) => l.startsWith('create chain') || l.includes('jump hostports')));
  assert.equal(
    lines.filter((l) => l.startsWith('delete rule')),
    [
      `delete rule ${T} hostports handle 18`,
      `delete rule ${T} hostports handle 19`,
      `delete rule ${T} postrouting handle 30`,
      `delete rule ${T} postrouting handle 29`,
      `delete rule ${T} postrouting handle 28`,
    ],
  );
  assert.ok(lines.includes(`flush chain ${T} ${DN}`) && lines.includes(`flush chain ${T} ${HM}`));
  assert.not.ok(s.render().includes(OTHER));
});

test('DEL: jumps by handle, then both chains; the other container stays; nothing to do -> empty script', () => {
  const s = new NftScript();
  delPortmapNft(s, parseNftList(LIST), r.network, r.containerId);
  assert.is(
    s.render(),
    [
      `delete rule ${T} hostports handle 18`,
      `delete rule ${T} hostports handle 19`,
      `delete rule ${T} postrouting handle 30`,
      `delete rule ${T} postrouting handle 29`,
      `delete rule ${T} postrouting handle 28`,
      `flush chain ${T} ${DN}`,
      `delete chain ${T} ${DN}`,
      `flush chain ${T} ${HM}`,
      `delete chain ${T} ${HM}`,
      '',
    ].join('\n'),
  );
  const none = new NftScript();
  delPortmapNft(none, parseNftList(LIST), r.network, 'never-added');
  assert.ok(none.empty);
  // an ADD without mappings removes what an earlier ADD left
  const s2 = new NftScript();
  addPortmapNft(s2, { ...r, portMappings: [] }, parseNftList(LIST));
  assert.is(s2.render(), s.render());
});

test('heldPortsNft and conflicts: owners from the jump tags', () => {
  const held = heldPortsNft(parseNftList(LIST));
  assert.equal(
    held.filter((h) => h.chain === OTHER),
    [
      {
        family: 6,
        protocol: 'tcp',
        hostPort: 9090,
        hostIP: '2001:db8::1',
        chain: OTHER,
        containerId: 'other',
        network: 'ref-net.1',
      },
    ],
  );
  assert.is(held.filter((h) => h.chain === DN).length, 5);
  const other: AttachmentRules = {
    ...r,
    containerId: 'third',
    portMappings: parsePortMappings([{ hostPort: 9090, containerPort: 1 }]),
  };
  const wanted = (x: AttachmentRules) => [...dnatEntries(x, 4), ...dnatEntries(x, 6)];
  const c = findConflicts(held, wanted(other), 'CNI-DN-none');
  assert.equal(
    c.map((x) => [x.family, x.holder.containerId, x.holder.hostIP]),
    [[6, 'other', '2001:db8::1']],
  );
  const onOtherAddress = {
    ...other,
    portMappings: parsePortMappings([{ hostPort: 9090, containerPort: 1, hostIP: '2001:db8::2' }]),
  };
  assert.equal(findConflicts(held, wanted(onOtherAddress), 'CNI-DN-none'), []);
  const udp = { ...other, portMappings: parsePortMappings([{ hostPort: 9090, containerPort: 1, protocol: 'udp' }]) };
  assert.equal(findConflicts(held, wanted(udp), 'CNI-DN-none'), []);
});

test('udpHostPortsNft: per family, for the conntrack flush after DEL', () => {
  assert.equal(udpHostPortsNft(parseNftList(LIST), r.network, r.containerId), [
    { family: 4, hostPort: 53 },
    { family: 6, hostPort: 53 },
  ]);
});

test('CHECK: complete -> []; a missing DNAT rule, jump or hook is named', () => {
  assert.equal(portmapProblemsNft(parseNftList(LIST), r), []);
  const without = (re: RegExp) =>
    parseNftList(
      LIST.split('\n')
        .filter((l) => !re.test(l))
        .join('\n'),
    );
  assert.equal(portmapProblemsNft(without(/handle 21$/), r), [
    `rule "ip daddr 192.0.2.1 tcp dport 8443 dnat ip to 10.99.0.2:443" missing from nftables chain ${T} ${DN}`,
  ]);
  assert.equal(portmapProblemsNft(without(/handle 15$/), r), [
    `rule "fib daddr type local jump hostports" missing from nftables chain ${T} output`,
  ]);
  assert.equal(portmapProblemsNft(without(/handle 30$/), r), [
    `rule "ip saddr 127.0.0.0/8 ip daddr 10.99.0.2 ct status dnat jump ${HM}" missing from nftables chain ` +
      `${T} postrouting`,
  ]);
  assert.equal(portmapProblemsNft(without(/handle 60$/), r), [
    `rule "ip saddr 127.0.0.0/8 tcp dport 8080 meta mark set meta mark | 0x00002000" missing from nftables chain ` +
      `${T} ${DN}`,
  ]);
  assert.equal(portmapProblemsNft(without(/handle 25$/), r), [
    `rule "meta mark & 0x00002000 == 0x00002000 masquerade" missing from nftables chain ${T} ${HM}`,
  ]);
  assert.equal(portmapProblemsNft(null, r), [`nftables table ${T} is missing (was the ruleset flushed?)`]);
  // an IPv4-only container is never asked for IPv6 rules (plugins#819)
  const v4 = { ...r, ips: [r.ips[0]] };
  const v4only = without(/ip6 /);
  assert.equal(portmapProblemsNft(v4only, v4), []);
  assert.equal(portmapProblemsNft(null, { ...r, portMappings: [] }), []);
});

test('portmapContainersNft: tags trusted only where the chain is their hash', () => {
  assert.equal(portmapContainersNft(parseNftList(LIST), 'ref-net.1').sort(), ['ctr-1_a.b', 'other']);
  assert.equal(portmapContainersNft(parseNftList(LIST), 'x'), []);
  assert.equal(portmapContainersNft(parseNftList(LIST.replace(/id=other/g, 'id=forged')), 'ref-net.1'), ['ctr-1_a.b']);
});

test('localnet guard: with a bridge named and IPv4 mappings, one raw-priority drop rule, added once', () => {
  const withBridge = { ...r, bridge: 'cni0' };
  const s = new NftScript();
  addPortmapNft(s, withBridge, parseNftList(LIST));
  const lines = s.render().trim().split('\n');
  assert.equal(lines.slice(-2), [
    `add chain ${T} localnet-guard { type filter hook prerouting priority raw; }`,
    `add rule ${T} localnet-guard iifname "cni0" ip daddr 127.0.0.0/8 drop comment "tsbridge localnet guard"`,
  ]);
  assert.ok(
    portmapProblemsNft(parseNftList(LIST), withBridge).includes(`nftables chain ${T} localnet-guard is missing`),
  );
  const guarded = LIST.replace(
    /\n}\n$/,
    `
	chain localnet-guard { # handle 50
		type filter hook prerouting priority raw; policy accept;
		iifname "cni0" ip daddr 127.0.0.0/8 drop comment "tsbridge localnet guard" # handle 51
	}
}
`,
  );
  assert.equal(portmapProblemsNft(parseNftList(guarded), withBridge), []);
  const again = new NftScript();
  addPortmapNft(again, withBridge, parseNftList(guarded));
  assert.not.ok(again.render().includes('localnet-guard'));
  // IPv6-only mappings need no guard (there is no route_localnet for IPv6)
  const v6 = { ...withBridge, portMappings: parsePortMappings([{ hostPort: 1, containerPort: 1, hostIP: '::' }]) };
  const s6 = new NftScript();
  addPortmapNft(s6, v6, null);
  assert.not.ok(s6.render().includes('localnet-guard'));
});

test.run();
