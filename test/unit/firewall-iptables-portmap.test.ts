import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RestoreBatch, SavedTable, addMasqueradeOps, parseSave } from '../../src/firewall/iptables/rules';
import {
  addLocalnetGuardOps,
  addPortmapOps,
  delPortmapOps,
  heldPorts,
  localnetGuardProblems,
  portmapCheck,
  portmapContainers,
  udpHostPorts,
} from '../../src/firewall/iptables/portmap';
import { parsePortMappings } from '../../src/firewall/portmap';
import type { AttachmentRules } from '../../src/firewall/types';
import {
  DNAT_CHAIN as DN,
  HAIRPIN_CHAIN as HM,
  IPT_COMMENT as C,
  IPT_DNAT_COMMENT as D,
  MASQ_CHAIN as MASQ,
  attachmentRules,
} from '../helpers/firewall-fixtures';

const portmapProblems = (t: SavedTable, a: AttachmentRules, family: 4 | 6) => portmapCheck(t, a, family).problems;

const r = attachmentRules('FD00:99:0::2'); // IPv6 spelled non-canonically: rules must canonicalise it

const EMPTY = parseSave('');

test('ADD batch, IPv4, empty table: shared chain by -N, masquerade and port mappings in one batch', () => {
  const b = new RestoreBatch();
  addMasqueradeOps(b, r, 4, EMPTY);
  addPortmapOps(b, r, 4, EMPTY);
  assert.is(
    b.render(),
    [
      '*nat',
      `:${MASQ} - [0:0]`,
      `:${DN} - [0:0]`,
      `:${HM} - [0:0]`,
      `-A ${MASQ} -d 10.99.0.0/24 -m comment --comment ${C} -j ACCEPT`,
      `-A ${MASQ} ! -d 224.0.0.0/4 -m comment --comment ${C} -j MASQUERADE`,
      `-A POSTROUTING -s 10.99.0.2/32 -m comment --comment ${C} -j ${MASQ}`,
      '-N CNI-HOSTPORT-DNAT',
      '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      `-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 8080,8443 -m comment --comment ${D} -j ${DN}`,
      `-A CNI-HOSTPORT-DNAT -p udp -m multiport --dports 53 -m comment --comment ${D} -j ${DN}`,
      `-A ${DN} -s 10.99.0.0/24 -p tcp -m tcp --dport 8080 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000`,
      `-A ${DN} -s 127.0.0.0/8 -p tcp -m tcp --dport 8080 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000`,
      `-A ${DN} -p tcp -m tcp --dport 8080 -m comment --comment ${D} -j DNAT --to-destination 10.99.0.2:80`,
      `-A ${DN} -d 192.0.2.1/32 -s 10.99.0.0/24 -p tcp -m tcp --dport 8443 -m comment --comment ${D} -j MARK ` +
        `--set-xmark 0x2000/0x2000`,
      `-A ${DN} -d 192.0.2.1/32 -s 127.0.0.0/8 -p tcp -m tcp --dport 8443 -m comment --comment ${D} -j MARK ` +
        `--set-xmark 0x2000/0x2000`,
      `-A ${DN} -d 192.0.2.1/32 -p tcp -m tcp --dport 8443 -m comment --comment ${D} -j DNAT --to-destination ` +
        `10.99.0.2:443`,
      `-A ${DN} -s 10.99.0.0/24 -p udp -m udp --dport 53 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000`,
      `-A ${DN} -s 127.0.0.0/8 -p udp -m udp --dport 53 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000`,
      `-A ${DN} -p udp -m udp --dport 53 -m comment --comment ${D} -j DNAT --to-destination 10.99.0.2:5353`,
      `-I POSTROUTING -s 10.99.0.0/24 -d 10.99.0.2/32 -m conntrack --ctstate DNAT -m comment --comment ${D} -j ${HM}`,
      `-I POSTROUTING -s 127.0.0.0/8 -d 10.99.0.2/32 -m conntrack --ctstate DNAT -m comment --comment ${D} -j ${HM}`,
      `-A ${HM} -m mark --mark 0x2000/0x2000 -m comment --comment ${D} -j MASQUERADE`,
      'COMMIT',
      '',
    ].join('\n'),
  );
});

test('ADD batch, IPv6: no loopback source, [addr]:port targets, IPv4 hostIP skipped', () => {
  const b = new RestoreBatch();
  addPortmapOps(b, r, 6, EMPTY);
  assert.is(
    b.render(),
    [
      '*nat',
      `:${DN} - [0:0]`,
      `:${HM} - [0:0]`,
      '-N CNI-HOSTPORT-DNAT',
      '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      `-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 8080 -m comment --comment ${D} -j ${DN}`,
      `-A CNI-HOSTPORT-DNAT -p udp -m multiport --dports 53 -m comment --comment ${D} -j ${DN}`,
      `-A ${DN} -s fd00:99::/64 -p tcp -m tcp --dport 8080 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000`,
      `-A ${DN} -p tcp -m tcp --dport 8080 -m comment --comment ${D} -j DNAT --to-destination [fd00:99::2]:80`,
      `-A ${DN} -s fd00:99::/64 -p udp -m udp --dport 53 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000`,
      `-A ${DN} -p udp -m udp --dport 53 -m comment --comment ${D} -j DNAT --to-destination [fd00:99::2]:5353`,
      `-I POSTROUTING -s fd00:99::/64 -d fd00:99::2/128 -m conntrack --ctstate DNAT -m comment --comment ${D} -j ${HM}`,
      `-A ${HM} -m mark --mark 0x2000/0x2000 -m comment --comment ${D} -j MASQUERADE`,
      'COMMIT',
      '',
    ].join('\n'),
  );
});

test('more than 15 ports of one protocol: several multiport jumps', () => {
  const many = {
    ...r,
    portMappings: parsePortMappings(
      Array.from({ length: 17 }, (_, i) => ({ hostPort: 9000 + i, containerPort: 80 + i })),
    ),
  };
  const b = new RestoreBatch();
  addPortmapOps(b, many, 4, EMPTY);
  const jumps = b
    .render()
    .split('\n')
    .filter((l) => l.startsWith('-A CNI-HOSTPORT-DNAT'));
  assert.equal(
    jumps.map((l) => /--dports (\S+)/.exec(l)?.[1]),
    [Array.from({ length: 15 }, (_, i) => 9000 + i).join(','), '9015,9016'],
  );
});

// What `iptables-save -t nat` printed after tsbridge's ADD of `r` (IPv4), plus the reference
// portmap 1.1.1's rules for container "ctr-ref" and an unrelated KUBE chain.
const SAVE =
  `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:${DN} - [0:0]
:${HM} - [0:0]
:CNI-DN-9f079b8674a2e09ef6e9c - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-MASQ - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
:${MASQ} - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -s 127.0.0.0/8 -d 10.99.0.2/32 -m conntrack --ctstate DNAT -m comment --comment ${D} -j ${HM}
-A POSTROUTING -s 10.99.0.0/24 -d 10.99.0.2/32 -m conntrack --ctstate DNAT -m comment --comment ${D} -j ${HM}
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A POSTROUTING -s 10.99.0.2/32 -m comment --comment ${C} -j ${MASQ}
-A ${DN} -s 10.99.0.0/24 -p tcp -m tcp --dport 8080 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000
-A ${DN} -s 127.0.0.0/8 -p tcp -m tcp --dport 8080 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000
-A ${DN} -p tcp -m tcp --dport 8080 -m comment --comment ${D} -j DNAT --to-destination 10.99.0.2:80
-A ${DN} -s 10.99.0.0/24 -d 192.0.2.1/32 -p tcp -m tcp --dport 8443 -m comment --comment ${D} -j MARK --set-xmark ` +
  `0x2000/0x2000
-A ${DN} -s 127.0.0.0/8 -d 192.0.2.1/32 -p tcp -m tcp --dport 8443 -m comment --comment ${D} -j MARK --set-xmark ` +
  `0x2000/0x2000
-A ${DN} -d 192.0.2.1/32 -p tcp -m tcp --dport 8443 -m comment --comment ${D} -j DNAT --to-destination 10.99.0.2:443
-A ${DN} -s 10.99.0.0/24 -p udp -m udp --dport 53 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000
-A ${DN} -s 127.0.0.0/8 -p udp -m udp --dport 53 -m comment --comment ${D} -j MARK --set-xmark 0x2000/0x2000
-A ${DN} -p udp -m udp --dport 53 -m comment --comment ${D} -j DNAT --to-destination 10.99.0.2:5353
-A ${HM} -m mark --mark 0x2000/0x2000 -m comment --comment ${D} -j MASQUERADE
-A CNI-DN-9f079b8674a2e09ef6e9c -s 10.99.0.0/24 -p tcp -m tcp --dport 9090 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-9f079b8674a2e09ef6e9c -s 127.0.0.1/32 -p tcp -m tcp --dport 9090 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-9f079b8674a2e09ef6e9c -p tcp -m tcp --dport 9090 -j DNAT --to-destination 10.99.0.3:80
-A CNI-DN-9f079b8674a2e09ef6e9c -d 192.0.2.1/32 -p udp -m udp --dport 5300 -j DNAT --to-destination 10.99.0.3:5353
-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 8080,8443 -m comment --comment ${D} -j ${DN}
-A CNI-HOSTPORT-DNAT -p udp -m multiport --dports 53 -m comment --comment ${D} -j ${DN}
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"ref-net.1\\" id: \\"ctr-ref\\"" -m multiport ` +
  `--dports 9090 -j CNI-DN-9f079b8674a2e09ef6e9c
-A CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \\"ref-net.1\\" id: \\"ctr-ref\\"" -m multiport ` +
  `--dports 5300 -j CNI-DN-9f079b8674a2e09ef6e9c
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
-A ${MASQ} -d 10.99.0.0/24 -m comment --comment ${C} -j ACCEPT
-A ${MASQ} ! -d 224.0.0.0/4 -m comment --comment ${C} -j MASQUERADE
COMMIT
`;

test('heldPorts: DNAT rules of reachable chains with their owners, tsbridge and reference alike', () => {
  const held = heldPorts(parseSave(SAVE), 4);
  const ref = { chain: 'CNI-DN-9f079b8674a2e09ef6e9c', containerId: 'ctr-ref', network: 'ref-net.1' };
  const own = { chain: DN, containerId: 'ctr-1_a.b', network: 'ref-net.1' };
  assert.equal(held, [
    { family: 4, protocol: 'tcp', hostPort: 8080, ...own },
    { family: 4, protocol: 'tcp', hostPort: 8443, ...own, hostIP: '192.0.2.1' },
    { family: 4, protocol: 'udp', hostPort: 53, ...own },
    { family: 4, protocol: 'tcp', hostPort: 9090, ...ref },
    { family: 4, protocol: 'udp', hostPort: 5300, ...ref, hostIP: '192.0.2.1' },
  ]);
  // a chain nothing jumps to holds nothing
  const orphan = parseSave(
    SAVE.split('\n')
      .filter((l) => !l.includes('-j CNI-DN-9f079b8674a2e09ef6e9c'))
      .join('\n'),
  );
  assert.is(heldPorts(orphan, 4).length, 3);
});

test('a repeated ADD deletes the old jumps and re-declares the chains; shared chains are left alone', () => {
  const b = new RestoreBatch();
  addPortmapOps(b, r, 4, parseSave(SAVE));
  const out = b.render();
  assert.not.ok(out.includes('-N CNI-HOSTPORT-DNAT'));
  assert.not.ok(out.includes('-A PREROUTING'));
  assert.ok(
    out.includes(
      `-D POSTROUTING -s 127.0.0.0/8 -d 10.99.0.2/32 -m conntrack --ctstate DNAT -m comment ` +
        `--comment ${D} -j ${HM}\n`,
    ),
  );
  assert.ok(out.includes(`-D CNI-HOSTPORT-DNAT -p udp -m multiport --dports 53 -m comment --comment ${D} -j ${DN}\n`));
  assert.is(out.split('\n').filter((l) => l.startsWith('-D ')).length, 4);
  assert.ok(out.includes(`:${DN} - [0:0]\n:${HM} - [0:0]\n`));
  assert.not.ok(out.includes('9f079b8674a2e09ef6e9c'));
});

test('ADD with no mappings for a family removes what an earlier ADD left there', () => {
  const b = new RestoreBatch();
  addPortmapOps(b, { ...r, portMappings: [] }, 4, parseSave(SAVE));
  const lines = b.render().split('\n');
  assert.is(lines.filter((l) => l.startsWith('-D ')).length, 4);
  assert.ok(lines.includes(`-X ${DN}`) && lines.includes(`-X ${HM}`));
  assert.not.ok(lines.some((l) => l.startsWith('-A ') || l.startsWith(':')));
});

test('DEL: jumps to both chains first, then flush and delete them; nothing of other containers', () => {
  const b = new RestoreBatch();
  delPortmapOps(b, parseSave(SAVE), r.network, r.containerId);
  assert.is(
    b.render(),
    [
      '*nat',
      `-D CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 8080,8443 -m comment --comment ${D} -j ${DN}`,
      `-D CNI-HOSTPORT-DNAT -p udp -m multiport --dports 53 -m comment --comment ${D} -j ${DN}`,
      `-D POSTROUTING -s 127.0.0.0/8 -d 10.99.0.2/32 -m conntrack --ctstate DNAT -m comment --comment ${D} -j ${HM}`,
      `-D POSTROUTING -s 10.99.0.0/24 -d 10.99.0.2/32 -m conntrack --ctstate DNAT -m comment --comment ${D} -j ${HM}`,
      `-F ${DN}`,
      `-X ${DN}`,
      `-F ${HM}`,
      `-X ${HM}`,
      'COMMIT',
      '',
    ].join('\n'),
  );
  // a DEL of nothing is an empty batch
  const none = new RestoreBatch();
  delPortmapOps(none, EMPTY, r.network, r.containerId);
  assert.ok(none.empty);
  // the reference's chain is removed the same way
  const ref = new RestoreBatch();
  delPortmapOps(ref, parseSave(SAVE), 'ref-net.1', 'ctr-ref');
  assert.is(
    ref
      .render()
      .split('\n')
      .filter((l) => /^-[DX] /.test(l)).length,
    3,
  );
});

test('udpHostPorts: what the conntrack flush after DEL covers', () => {
  assert.equal(udpHostPorts(parseSave(SAVE), r.network, r.containerId, 4), [53]);
  assert.equal(udpHostPorts(parseSave(SAVE), 'ref-net.1', 'ctr-ref', 4), [5300]);
  assert.equal(udpHostPorts(EMPTY, r.network, r.containerId, 4), []);
});

test('CHECK: complete rules -> no problems; missing pieces are named per mapping', () => {
  assert.equal(portmapProblems(parseSave(SAVE), r, 4), []);
  const without = (re: RegExp) =>
    parseSave(
      SAVE.split('\n')
        .filter((l) => !re.test(l))
        .join('\n'),
    );
  assert.equal(portmapProblems(without(/--dport 8443 .*-j DNAT/), r, 4), [
    `DNAT rule 192.0.2.1:8443/tcp -> 10.99.0.2:443 missing from iptables nat chain ${DN}`,
  ]);
  assert.equal(portmapProblems(without(/^-A OUTPUT/), r, 4), [
    'jump to CNI-HOSTPORT-DNAT for local addresses missing from iptables nat OUTPUT',
  ]);
  assert.equal(portmapProblems(without(/^-A POSTROUTING -s 127\.0\.0\.0\/8/), r, 4), [
    'hairpin masquerade jump for 127.0.0.0/8 -> 10.99.0.2 missing from iptables nat POSTROUTING',
  ]);
  assert.equal(portmapProblems(without(/-p udp -m multiport --dports 53 /), r, 4), [
    `jump to ${DN} for 53/udp missing from iptables nat CNI-HOSTPORT-DNAT`,
  ]);
  assert.equal(portmapProblems(without(/-s 127\.0\.0\.0\/8 -p udp .*-j MARK/), r, 4), [
    `hairpin mark rule for 127.0.0.0/8 -> 53/udp missing from iptables nat chain ${DN}`,
  ]);
  assert.equal(portmapProblems(without(/^-A CNI-HM-.*MASQUERADE/), r, 4), [
    `hairpin MASQUERADE rule (mark 0x2000/0x2000) missing from iptables nat chain ${HM}`,
  ]);
  const flushed = portmapProblems(parseSave('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n'), r, 4);
  assert.ok(
    flushed.includes('iptables nat chain CNI-HOSTPORT-DNAT is missing (was the nat table flushed?)'),
    flushed.join('\n'),
  );
  assert.ok(
    flushed.includes(`iptables nat chain ${DN} (port mappings of container ctr-1_a.b) is missing`),
    flushed.join('\n'),
  );
});

test(
  'CHECK of an IPv4-only container, or of a family without ' + 'mappings, never looks for rules there (plugins#819)',
  () => {
    const v4only = { ...r, ips: [r.ips[0]] };
    assert.equal(portmapProblems(EMPTY, v4only, 6), []);
    assert.equal(
      portmapProblems(
        EMPTY,
        { ...r, portMappings: [{ hostPort: 1, containerPort: 1, protocol: 'tcp', hostIP: '192.0.2.1' }] },
        6,
      ),
      [],
    );
    assert.equal(portmapProblems(EMPTY, { ...r, portMappings: [] }, 4), []);
  },
);

// ctr-ref in SAVE: made by the reference portmap 1.1.1 (bridge + host-local + portmap chain)
const REF_DN = 'CNI-DN-9f079b8674a2e09ef6e9c';
const refPod: AttachmentRules = {
  network: 'ref-net.1',
  containerId: 'ctr-ref',
  ifname: 'eth0',
  masquerade: false,
  ips: [{ ip: '10.99.0.3', subnet: '10.99.0.3/24', family: 4 }],
  portMappings: parsePortMappings([{ hostPort: 9090, containerPort: 80 }]),
};

test(
  'CHECK of a pod the reference portmap made: its layout (SETMARK jumps, shared SETMARK/MASQ chains) is complete ' +
    'too (12.4)',
  () => {
    assert.equal(portmapCheck(parseSave(SAVE), refPod, 4), { problems: [], layout: 'reference' });
    assert.equal(portmapCheck(parseSave(SAVE), r, 4), { problems: [], layout: 'tsbridge' });
    const without = (re: RegExp) =>
      parseSave(
        SAVE.split('\n')
          .filter((l) => !re.test(l))
          .join('\n'),
      );
    // each piece of the reference's layout is needed; the problems named are the reference's
    assert.equal(portmapProblems(without(/-s 127\.0\.0\.1\/32 -p tcp -m tcp --dport 9090/), refPod, 4), [
      `jump to CNI-HOSTPORT-SETMARK for 127.0.0.1/32 -> 9090/tcp missing from iptables nat chain ${REF_DN}`,
    ]);
    assert.equal(portmapProblems(without(/^-A CNI-HOSTPORT-SETMARK /), refPod, 4), [
      "MARK rule missing from iptables nat chain CNI-HOSTPORT-SETMARK (the reference portmap's hairpin mark)",
    ]);
    assert.equal(portmapProblems(without(/^-A CNI-HOSTPORT-MASQ /), refPod, 4), [
      'MASQUERADE rule (mark 0x2000/0x2000) missing from iptables nat chain CNI-HOSTPORT-MASQ',
    ]);
    assert.equal(portmapProblems(without(/-j CNI-HOSTPORT-MASQ$/), refPod, 4), [
      'jump to CNI-HOSTPORT-MASQ missing from iptables nat POSTROUTING',
    ]);
    // the DNAT half is checked as for tsbridge's own pods
    assert.equal(portmapProblems(without(/--dport 9090 -j DNAT/), refPod, 4), [
      `DNAT rule 9090/tcp -> 10.99.0.3:80 missing from iptables nat chain ${REF_DN}`,
    ]);
    // a mapping whose hairpin rules the reference never made (its 5300/udp here)
    const more = {
      ...refPod,
      portMappings: parsePortMappings([
        { hostPort: 9090, containerPort: 80 },
        { hostPort: 5300, containerPort: 5353, protocol: 'udp', hostIP: '192.0.2.1' },
      ]),
    };
    assert.equal(portmapCheck(parseSave(SAVE), more, 4), {
      problems: [
        `jump to CNI-HOSTPORT-SETMARK for 10.99.0.0/24 -> 5300/udp missing from iptables nat chain ${REF_DN}`,
        `jump to CNI-HOSTPORT-SETMARK for 127.0.0.1/32 -> 5300/udp missing from iptables nat chain ${REF_DN}`,
      ],
    });
  },
);

test('CHECK: another markMasqBit is the reference layout too, as long as SETMARK and MASQ agree', () => {
  const bit14 = SAVE.replace(/^(-A CNI-HOSTPORT-(SETMARK|MASQ) .*)0x2000\/0x2000/gm, '$10x4000/0x4000');
  assert.ok(bit14.includes('--set-xmark 0x4000/0x4000') && bit14.includes('--mark 0x4000/0x4000'));
  assert.equal(portmapProblems(parseSave(bit14), refPod, 4), []);
  const mixed = SAVE.replace(/^(-A CNI-HOSTPORT-MASQ .*)0x2000\/0x2000/m, '$10x4000/0x4000');
  assert.equal(portmapProblems(parseSave(mixed), refPod, 4), [
    'MASQUERADE rule (mark 0x2000/0x2000) missing from iptables nat chain CNI-HOSTPORT-MASQ',
  ]);
});

test(
  "CHECK: neither layout complete fails; DNAT alone (no hairpin rules at all) names tsbridge's missing " + 'pieces',
  () => {
    const dnatOnly = parseSave(
      SAVE.split('\n')
        .filter((l) => !l.includes('CNI-HOSTPORT-SETMARK'))
        .join('\n'),
    );
    const p = portmapCheck(dnatOnly, refPod, 4);
    assert.is(p.layout, undefined);
    assert.ok(
      p.problems.includes(`hairpin mark rule for 10.99.0.0/24 -> 9090/tcp missing from iptables nat chain ${REF_DN}`),
      p.problems.join('\n'),
    );
    assert.ok(
      p.problems.includes(
        'iptables nat chain CNI-HM-9f079b8674a2e09ef6e9c (hairpin masquerade of container ctr-ref) is missing',
      ),
      p.problems.join('\n'),
    );
    // half of each layout is not a complete one: tsbridge's marks for the first source, the reference's jump for the
    // second
    const half = parseSave(
      SAVE.replace(
        `-A ${REF_DN} -s 10.99.0.0/24 -p tcp -m tcp --dport 9090 -j CNI-HOSTPORT-SETMARK`,
        `-A ${REF_DN} -s 10.99.0.0/24 -p tcp -m tcp --dport 9090 -j MARK --set-xmark 0x2000/0x2000`,
      ),
    );
    assert.ok(portmapProblems(half, refPod, 4).length > 0);
  },
);

test('CHECK of a reference pod, IPv6: the container subnet marks, no loopback source', () => {
  const v6: AttachmentRules = { ...refPod, ips: [{ ip: 'fd00:99::3', subnet: 'fd00:99::3/64', family: 6 }] };
  const save6 =
    `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:${REF_DN} - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-MASQ - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A ${REF_DN} -s fd00:99::/64 -p tcp -m tcp --dport 9090 -j CNI-HOSTPORT-SETMARK
-A ${REF_DN} -p tcp -m tcp --dport 9090 -j DNAT --to-destination [fd00:99::3]:80
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"ref-net.1\\" id: \\"ctr-ref\\"" -m multiport ` +
    `--dports 9090 -j ${REF_DN}
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
COMMIT
`;
  assert.equal(portmapCheck(parseSave(save6), v6, 6), { problems: [], layout: 'reference' });
  // without its SETMARK jump the chain shows no layout: tsbridge's missing pieces are named
  const bare = portmapCheck(parseSave(save6.replace(/^-A \S+ -s fd00.*\n/m, '')), v6, 6);
  assert.is(bare.layout, undefined);
  assert.ok(
    bare.problems.includes(`hairpin mark rule for fd00:99::/64 -> 9090/tcp missing from ip6tables nat chain ${REF_DN}`),
    bare.problems.join('\n'),
  );
});

test('portmapContainers: owners by comment, only where the chain is their hash', () => {
  assert.equal(portmapContainers(parseSave(SAVE), 'ref-net.1').sort(), ['ctr-1_a.b', 'ctr-ref']);
  assert.equal(portmapContainers(parseSave(SAVE), 'other-net'), []);
  const forged = parseSave(SAVE.replace(/id: \\"ctr-ref\\"/g, 'id: \\"forged\\"'));
  assert.equal(portmapContainers(forged, 'ref-net.1'), ['ctr-1_a.b']);
});

test(
  'localnet guard: one raw-table rule per bridge in the ' + 'same iptables-restore input, added only when missing',
  () => {
    const G = '"tsbridge: drop 127.0.0.0/8 arriving on a bridge with route_localnet"';
    const b = new RestoreBatch();
    addPortmapOps(b, r, 4, EMPTY);
    addLocalnetGuardOps(b, parseSave('', 'raw'), 'cni0');
    const out = b.render();
    assert.ok(
      out.endsWith(`COMMIT\n*raw\n-A PREROUTING -d 127.0.0.0/8 -i cni0 -m comment --comment ${G} -j DROP\nCOMMIT\n`),
      out,
    );
    assert.is(out.split('\n').filter((l) => l === '*nat').length, 1);

    const saved =
      `*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 127.0.0.0/8 -i cni0 -m comment --comment ${G} -j ` +
      `DROP\nCOMMIT\n${SAVE}`;
    assert.equal(parseSave(saved, 'raw').rules.length, 1);
    assert.equal(parseSave(saved).rules.length, parseSave(SAVE).rules.length);
    const again = new RestoreBatch();
    addLocalnetGuardOps(again, parseSave(saved, 'raw'), 'cni0');
    assert.ok(again.empty);
    const other = new RestoreBatch();
    addLocalnetGuardOps(other, parseSave(saved, 'raw'), 'cni1');
    assert.not.ok(other.empty);
    assert.equal(localnetGuardProblems(parseSave(saved, 'raw'), 'cni0'), []);
    assert.equal(localnetGuardProblems(parseSave(SAVE, 'raw'), 'cni0'), [
      'localnet guard (drop 127.0.0.0/8 arriving on cni0) missing from iptables raw PREROUTING',
    ]);
  },
);

test.run();
