// `make soak`: the long churn soak (not a test; prints numbers). Defaults: 10,000 ADD/DEL pairs,
// 20 pods in parallel, 1 % of calls killed with SIGKILL, a GC with the valid attachments after
// ~2 % of cycles, then a final GC. Prints leaks, duplicates and the p50/p99 per-call latency of the
// first and last 1,000 cycles (growth there means state that accumulates). Exit 1 on any leak,
// duplicate or failure. SOAK_CYCLES, SOAK_PARALLEL, SOAK_KILL, SOAK_GC, SOAK_BACKEND, SOAK_SEED.
import { churn, strayStoreFiles } from '../test/helpers/soak';

async function main(): Promise<void> {
  // Ctrl-C / SIGTERM end the churn early; the final GC, the leak report and the clean-up still run
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stop.abort());
  const cycles = Number(process.env.SOAK_CYCLES ?? 10_000);
  const opts = {
    cycles,
    parallel: Number(process.env.SOAK_PARALLEL ?? 20),
    killRate: Number(process.env.SOAK_KILL ?? 0.01),
    gcRate: Number(process.env.SOAK_GC ?? 0.02),
    backend: (process.env.SOAK_BACKEND ?? 'iptables') as 'iptables' | 'nftables',
    subnet: '10.232.0.0/16',
    seed: Number(process.env.SOAK_SEED ?? Date.now() % 1e9),
    signal: stop.signal,
    progress: (n: number) => console.error(`  ${n} / ${cycles} cycles`),
  };
  console.error(
    `soak: ${cycles} cycles, ${opts.parallel} parallel, kill ${opts.killRate * 100} %, GC ` +
      `${opts.gcRate * 100} %, ${opts.backend}, seed ${opts.seed}`,
  );
  const r = await churn('soak', opts);
  const f = (x: number): string => x.toFixed(1);
  console.log(`cycles ${r.cycles}, calls ${r.calls}, killed ${r.killed}, GCs ${r.gcs}, ${f(r.seconds)} s`);
  console.log('| per call | first 1,000 cycles p50 / p99 | last 1,000 cycles p50 / p99 |');
  console.log('|---|---|---|');
  console.log(
    `| ADD | ${f(r.addFirst.p50)} / ${f(r.addFirst.p99)} ms | ${f(r.addLast.p50)} / ${f(r.addLast.p99)} ms |`,
  );
  console.log(
    `| DEL | ${f(r.delFirst.p50)} / ${f(r.delFirst.p99)} ms | ${f(r.delLast.p50)} / ${f(r.delLast.p99)} ms |`,
  );
  console.log(
    `failures ${r.failures.length}, duplicate addresses ${r.duplicates.length}, leaks ` +
      `${r.leaks.length}, stray store files ${strayStoreFiles(r.storeFiles).length}`,
  );
  for (const l of [...r.failures, ...r.duplicates, ...r.leaks].slice(0, 20)) console.log(`  ${l}`);
  if (r.failures.length || r.duplicates.length || r.leaks.length || strayStoreFiles(r.storeFiles).length)
    process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
