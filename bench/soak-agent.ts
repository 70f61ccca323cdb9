// `make soak-agent`: the long route-agent soak (not a test; prints numbers). Defaults: 50,000 Node
// events from 200 node names at 200/s, watch streams dropped every 3 s, 410 Gone, HTTP 500s and a
// foreign certificate for 20 s each (twice), a 30 s hang, --resync 5. Prints the agent's RSS and fd
// count at the start (after warm-up) and at the end, and the convergence time after each outage.
// Exit 1 on growth of 10 % or more, a slow convergence, a wrong route or a foreign route touched.
// AGENT_SOAK_EVENTS, _SLOTS, _RATE, _RESYNC, _DISCONNECT, _OUTAGE, _HANG, _SEED scale or replay it;
// AGENT_SOAK_TRACE=FILE writes the RSS trace, AGENT_SOAK_MEMSTATS=S has the agent log its heap every S s.
import * as fs from 'node:fs';
import { agentSoak, AgentSoakOptions, summary, verdict } from '../test/helpers/agent-soak';

async function main(): Promise<void> {
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stop.abort());
  const env = (k: string, d: number): number => Number(process.env[`AGENT_SOAK_${k}`] ?? d);
  const o: AgentSoakOptions = {
    events: env('EVENTS', 50_000),
    slots: env('SLOTS', 200),
    rate: env('RATE', 200),
    resyncS: env('RESYNC', 5),
    disconnectS: env('DISCONNECT', 3),
    outageS: env('OUTAGE', 20),
    hangS: env('HANG', 30),
    seed: env('SEED', Date.now() % 1e9),
    repeat: true,
    memStatsS: env('MEMSTATS', 0),
    signal: stop.signal,
    progress: (m) => console.error(`  ${new Date().toISOString().slice(11, 19)} ${m}`),
  };
  console.error(
    `soak-agent: ${o.events} events, ${o.slots} node names, ${o.rate}/s, resync ${o.resyncS} s, seed ${o.seed}`,
  );
  const r = await agentSoak('sa', o);
  for (const l of summary(r, o)) console.log(l);
  // the once-a-second RSS trace as CSV (seconds, events, kB), for a plot
  if (process.env.AGENT_SOAK_TRACE)
    fs.writeFileSync(
      process.env.AGENT_SOAK_TRACE,
      r.trace.map((p) => `${p.s},${p.events},${p.rssKb}`).join('\n') + '\n',
    );
  const bad = verdict(r, o);
  for (const l of bad) console.log(`FAIL ${l}`);
  if (bad.length) {
    console.log(r.logTail);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
