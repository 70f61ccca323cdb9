// The short route-agent soak (the long one is `make soak-agent`): `tsbridge install --watch --routes`
// in a node namespace through a few thousand Node events while the fake API drops watch streams,
// answers 410 Gone, HTTP 500 and a foreign certificate, and hangs. At the end the agent's fds have
// not grown 10 % (RSS is printed: a minute is too short to judge it past the allocator's first
// steps; `make soak-agent` does), the routes matched the Node set again after every outage (the times are
// printed; the cap that keeps them within one resync is unit-tested in k8s-serial),
// foreign routes survived, and a positive control shows the comparisons notice a wrong gateway, a
// missing route and a foreign route gone. AGENT_SOAK_EVENTS / AGENT_SOAK_SEED scale or replay it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentSoak, AgentSoakOptions, summary, verdict } from '../helpers/agent-soak';

const o: AgentSoakOptions = {
  events: Number(process.env.AGENT_SOAK_EVENTS) || 3000,
  slots: 60,
  rate: 300,
  resyncS: 2,
  disconnectS: 2,
  outageS: 8,
  hangS: 8,
  seed: Number(process.env.AGENT_SOAK_SEED) || 0xa6e47,
  control: true,
  ...(process.env.AGENT_SOAK_VERBOSE
    ? { progress: (m: string) => console.error(`  ${new Date().toISOString().slice(11, 19)} ${m}`) }
    : {}),
};

test(
  `agent soak: ${o.events} Node events through disconnects, ` + `410, 500s, a foreign certificate and a hang`,
  async () => {
    const r = await agentSoak('sag', o);
    for (const l of summary(r, o)) console.log(`  ${l}`);
    // the soak must really have exercised every fault, or its "converged" says little
    for (const [k, v] of Object.entries(r.faults)) assert.ok(v > 0, `no ${k} happened`);
    assert.ok(r.lists > 5 && r.routeSets > 100 && r.routeDels > 50, `too little happened: ${summary(r, o).join('\n')}`);
    // converged after every outage (times printed, not asserted), fds did not grow 10 % (RSS is
    // printed; the long soak judges it), no wrong route, no foreign route touched
    assert.equal(verdict(r, o, true), [], r.logTail);
    // positive control: the comparisons see what a broken agent would leave
    const c = r.control!;
    const [wrongGw, missing, foreign] = c.altered;
    assert.ok(
      c.wrong.includes(`missing ${wrongGw}`) &&
        c.wrong.some((w) => w.startsWith(`unexpected ${wrongGw.split(' ')[0]} via `)),
      `a wrong gateway goes unnoticed: ${c.wrong}`,
    );
    assert.ok(c.wrong.includes(`missing ${missing}`), `a missing route goes unnoticed: ${c.wrong}`);
    assert.ok(
      c.foreignLost.some((f) => f.includes(` ${foreign} `)),
      `a deleted foreign route goes unnoticed: ${c.foreignLost}`,
    );
  },
);

test.run();
