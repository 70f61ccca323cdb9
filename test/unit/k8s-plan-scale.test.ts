// The route plan compares every node's pod CIDRs with every other's (overlaps, older wins): with
// each comparison parsing its CIDR texts again, a plan of 200 nodes blocked the agent's event loop
// for seconds (found by the agent soak). Each text is parsed once now; counted, not timed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const ipaddr = require('ipaddr.js') as { IPv4: { isValidFourPartDecimal: (s: string) => boolean } };
import { NodeInfo } from '../../src/k8s/node';
import { memoSize } from '../../src/k8s/cidr';
import { desiredRoutes } from '../../src/k8s/routes-plan';

test('a plan of 200 dual-stack nodes parses each CIDR text a bounded number of times', () => {
  // texts no other test used (the cache is per process): 10.<random>.i.0/24, fd00:<random>:0:i::/64
  const b = 100 + Math.floor(Math.random() * 100);
  const nodes: NodeInfo[] = [
    { name: 'node-0', podCidrs: [`10.${b}.0.0/24`, `fd00:${b}::/64`], internalIps: ['192.168.0.1', 'fd00:ffff::1'] },
  ];
  for (let i = 1; i <= 200; i++) {
    nodes.push({
      name: `node-${i}`,
      podCidrs: [`10.${b}.${i}.0/24`, `fd00:${b}:0:${i.toString(16)}::/64`],
      internalIps: [`192.168.1.${i}`, `fd00:ffff::1:${i.toString(16)}`],
      created: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    });
  }
  const policy = {
    clusterCidrs: [`10.${b}.0.0/16`, `fd00:${b}::/32`],
    apiServer: [],
    hostAddrs: [
      { address: '192.168.0.1', prefix: 16 },
      { address: 'fd00:ffff::1', prefix: 64 },
    ],
  };
  // every parse of an address or CIDR text (src/ip tryParseIP) starts with this check
  const real = ipaddr.IPv4.isValidFourPartDecimal;
  let calls = 0;
  ipaddr.IPv4.isValidFourPartDecimal = (s: string) => {
    calls++;
    return real(s);
  };
  try {
    const want = desiredRoutes('node-0', nodes, policy);
    assert.is(want.routes.length, 400, want.problems.join('\n'));
    // 402 pod CIDRs, 2 cluster CIDRs, host and network routes of a few addresses: each parsed once
    assert.ok(calls > 0 && calls < 2000, `${calls} address and CIDR parses for one plan of 200 nodes`);
    calls = 0;
    desiredRoutes('node-0', nodes, policy);
    assert.is(calls, 0, 'a second plan of the same nodes parses nothing');
  } finally {
    ipaddr.IPv4.isValidFourPartDecimal = real;
  }
});

test('Node churn does not grow what the plan remembers: new gateways every plan, the memo stays at two plans', () => {
  const nodes = (gen: number): NodeInfo[] => {
    const out: NodeInfo[] = [{ name: 'node-0', podCidrs: ['10.50.0.0/24'], internalIps: ['192.168.0.1'] }];
    for (let i = 1; i <= 100; i++)
      out.push({ name: `node-${i}`, podCidrs: [`10.50.${i}.0/24`], internalIps: [`192.168.${1 + (gen % 250)}.${i}`] });
    return out;
  };
  const policy = { clusterCidrs: ['10.50.0.0/16'], apiServer: [], hostAddrs: [{ address: '192.168.0.1', prefix: 16 }] };
  desiredRoutes('node-0', nodes(0), policy);
  const one = memoSize();
  for (let g = 1; g <= 30; g++) assert.is(desiredRoutes('node-0', nodes(g), policy).routes.length, 100);
  // every plan brings 100 new gateway addresses: 30 plans would be 3,000+ entries if nothing went
  assert.ok(memoSize() <= 2 * one + 50, `memo ${memoSize()} entries after 30 plans (one plan: ${one})`);
});

test.run();
