import * as crypto from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  dnatChainName,
  goQuote,
  goUnquote,
  iptablesComment,
  masqChainName,
  nftTag,
  parseIptablesComment,
  parseNftTag,
} from '../../src/firewall/tag';
import { hairpinChainName } from '../../src/firewall/portmap';
import * as fx from '../helpers/firewall-fixtures';

function expectedChain(prefix: string, s: string): string {
  return (prefix + crypto.createHash('sha512').update(Buffer.from(s, 'utf8')).digest('hex')).substring(0, 28);
}

test('chain name is CNI- + sha512(network + containerID), 28 characters', () => {
  for (const [net, id] of [
    ['mynet', 'abc'],
    ['cbr0', 'f'.repeat(64)],
    ['k8s-pod-network', 'ctr-1'],
    ['netz', 'über'],
    ['', ''],
  ]) {
    const name = masqChainName(net, id);
    assert.is(name, expectedChain('CNI-', net + id));
    assert.is(name.length, 28);
  }
});

test('chain name equals what the reference bridge 1.1.1 created (captured from /usr/lib/cni/bridge)', () => {
  assert.is(masqChainName('ref-net.1', 'ctr-1_a.b'), 'CNI-2ab0dbf414445eeb7e546f58');
});

test("the firewall tests' shared fixture (test/helpers/firewall-fixtures) holds what these functions derive", () => {
  const { network, containerId, ifname } = fx.masqTarget();
  assert.is(fx.MASQ_CHAIN, masqChainName(network, containerId));
  assert.is(fx.DNAT_CHAIN, dnatChainName(network, containerId));
  assert.is(fx.HAIRPIN_CHAIN, hairpinChainName(network, containerId));
  assert.is(fx.IPT_COMMENT, JSON.stringify(iptablesComment(network, containerId)));
  assert.is(fx.IPT_DNAT_COMMENT, JSON.stringify(`dnat ${iptablesComment(network, containerId)}`));
  assert.is(fx.NFT_TAG, nftTag(network, containerId, ifname));
});

test('chain names are pinned: DEL and GC after an upgrade find the rules by these names', () => {
  // literal values computed once: never change them
  assert.is(masqChainName('mynet', 'abc'), 'CNI-e88f49d94512ff752ebe6070');
  assert.is(dnatChainName('mynet', 'abc'), 'CNI-DN-e88f49d94512ff752ebe6');
  assert.is(hairpinChainName('mynet', 'abc'), 'CNI-HM-e88f49d94512ff752ebe6');
});

test('portmap chain name is CNI-DN- + hash, 28 characters', () => {
  assert.is(dnatChainName('mynet', 'abc'), expectedChain('CNI-DN-', 'mynetabc'));
  assert.is(dnatChainName('mynet', 'abc').length, 28);
});

test("iptables comment is Go's name: %q id: %q", () => {
  assert.is(iptablesComment('ref-net.1', 'ctr-1_a.b'), 'name: "ref-net.1" id: "ctr-1_a.b"');
  assert.is(iptablesComment('a"b', 'c\\d'), 'name: "a\\"b" id: "c\\\\d"');
});

test('goQuote escapes like strconv.Quote', () => {
  assert.is(goQuote('plain text'), '"plain text"');
  assert.is(goQuote('tab\there\nnl'), '"tab\\there\\nnl"');
  assert.is(goQuote('\x00\x1b\x7f'), '"\\x00\\x1b\\x7f"');
  assert.is(goQuote('über €'), '"über €"');
  assert.is(goQuote('\u00a0\u200b'), '"\\u00a0\\u200b"');
  assert.is(goQuote('\u{e0001}'), '"\\U000e0001"');
  assert.is(goQuote("it's"), '"it\'s"');
});

test('goUnquote inverts goQuote', () => {
  for (const s of ['', 'x', 'a"b\\c', 'tab\t\n\r\x07\b\f\v', '\x00\x7f', 'über', '\u00a0', '\u{e0001}']) {
    assert.is(goUnquote(goQuote(s)), s);
  }
  assert.is(goUnquote('"unterminated'), null);
  assert.is(goUnquote('"a"b"'), null);
  assert.is(goUnquote('"\\q"'), null);
});

test('parseIptablesComment reads names back, including quotes', () => {
  assert.equal(parseIptablesComment('name: "ref-net.1" id: "ctr-1_a.b"'), {
    network: 'ref-net.1',
    containerId: 'ctr-1_a.b',
  });
  assert.equal(parseIptablesComment(iptablesComment('a" id: "x', 'y"z')), { network: 'a" id: "x', containerId: 'y"z' });
  assert.is(parseIptablesComment('CNI portfwd requiring masquerade'), null);
  assert.is(parseIptablesComment('dnat name: "n" id: "c"'), null);
});

test('nft tag carries container id, ifname and network, without double quotes', () => {
  const tag = nftTag('my net', 'ab"c', 'eth0');
  assert.is(tag, 'id=ab%22c if=eth0 net=my%20net');
  assert.not.ok(tag.includes('"'));
  assert.equal(parseNftTag(tag), { containerId: 'ab"c', ifname: 'eth0', network: 'my net' });
  assert.is(parseNftTag('something else'), null);
});

test('nft tag fits 128 bytes; a cut network is reported as unknown, the container id survives', () => {
  const id = 'f'.repeat(64);
  const tag = nftTag('n'.repeat(100), id, 'eth0');
  assert.is(tag.length, 128);
  assert.equal(parseNftTag(tag), { containerId: id, ifname: 'eth0', network: null });
});

test.run();
