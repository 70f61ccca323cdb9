// The upstream reference's nftables tables (inet cni_plugins_masquerade, ip/ip6 cni_hostport), read
// for DEL, GC and the 103 check: which rules are one container's, which host ports they hold.
import * as crypto from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  foreignDeletes,
  foreignGcDeletes,
  foreignHeldPorts,
  masqInstancePrefix,
  parseForeign,
  parseTableList,
} from '../../src/firewall/nft/foreign';

const h16 = (s: string) => crypto.createHash('sha512').update(s).digest('hex').slice(0, 16);
const comment = (cid: string) => `${h16('net1')}-${h16(`eth0:${cid}`)}, net: net1, if: eth0, id: ${cid}`;

const MASQ = `table inet cni_plugins_masquerade { # handle 1
	chain masq_checks { # handle 1
		ip saddr 10.1.0.5 ip daddr != 10.1.0.0/24 masquerade comment "${comment('a')}" # handle 4
		ip saddr 10.1.0.6 ip daddr != 10.1.0.0/24 masquerade comment "${comment('b')}" # handle 5
		ip saddr 10.9.0.6 ip daddr != 10.9.0.0/24 masquerade comment "${h16('net2')}-${h16('eth0:b')}, net: net2" # handle 6
	}
}`;
const HP4 = `table ip cni_hostport { # handle 2
	chain hostports { # handle 1
		tcp dport 8080 dnat to 10.1.0.5:80 comment "a" # handle 7
		ip daddr 192.0.2.1 udp dport 53 dnat to 10.1.0.6:5353 comment "b" # handle 8
		tcp dport 9090 dnat to 10.9.0.7:90 comment "c" # handle 9
	}
	chain masquerading { # handle 3
		ip saddr 10.1.0.5 ip daddr 10.1.0.5 masquerade comment "a" # handle 10
	}
}`;
const HP6 = `table ip6 cni_hostport { # handle 3
	chain hostports { # handle 1
		tcp dport 8080 dnat to [fd00::5]:80 comment "a" # handle 11
	}
}`;
const tables = parseForeign(
  new Map([
    ['inet cni_plugins_masquerade', MASQ],
    ['ip cni_hostport', HP4],
    ['ip6 cni_hostport', HP6],
  ]),
);

test('parseTableList and the masquerade comment prefix (upstream hashForInstance)', () => {
  assert.equal(
    [...parseTableList('table ip cni_hostport\ntable inet tsbridge\n')],
    ['ip cni_hostport', 'inet tsbridge'],
  );
  assert.is(masqInstancePrefix('net1', 'eth0', 'a'), comment('a').split(',')[0]);
});

test("DEL: the attachment's masquerade rule and every host-port rule of the container, both families", () => {
  assert.equal(foreignDeletes(tables, 'net1', 'a', 'eth0'), [
    'delete rule inet cni_plugins_masquerade masq_checks handle 4',
    'delete rule ip cni_hostport hostports handle 7',
    'delete rule ip cni_hostport masquerading handle 10',
    'delete rule ip6 cni_hostport hostports handle 11',
  ]);
  assert.equal(
    foreignDeletes(tables, 'net1', 'a', 'eth1').filter((l) => l.includes('masq_checks')),
    [],
    'another interface keeps its rule',
  );
});

test('GC: masquerade rules of this network only; host-port rules only when they point into its subnets', () => {
  assert.equal(foreignGcDeletes(tables, 'net1', [{ containerId: 'a', ifname: 'eth0' }], ['10.1.0.0/24', 'fd00::/64']), [
    'delete rule inet cni_plugins_masquerade masq_checks handle 5',
    'delete rule ip cni_hostport hostports handle 8',
  ]);
});

test('held host ports, for the 103 check', () => {
  assert.equal(
    foreignHeldPorts(tables).map((h) => `${h.family} ${h.hostIP ?? '*'}:${h.hostPort}/${h.protocol} ${h.containerId}`),
    ['4 *:8080/tcp a', '4 192.0.2.1:53/udp b', '4 *:9090/tcp c', '6 *:8080/tcp a'],
  );
});

test.run();
