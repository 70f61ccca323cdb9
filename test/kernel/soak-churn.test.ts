// The short churn soak (the long one is `make soak`): ADD/DEL pairs from many pods at once with
// random kill -9 of plugin calls and random GCs carrying the valid attachments, then a final GC.
// Afterwards nothing of any attachment may be left and no address may have been handed out twice.
// SOAK_CYCLES / SOAK_SEED scale or replay it. Subnets 10.231.0.0/22, 10.231.4.0/22.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timeout } from '../helpers/test';
import { ChurnReport, churn, strayStoreFiles } from '../helpers/soak';

const CYCLES = Number(process.env.SOAK_CYCLES) || 300;
const SEED = Number(process.env.SOAK_SEED) || 0x5eed;

function verify(r: ChurnReport): void {
  console.log(
    `  ${r.cycles} cycles, ${r.calls} calls, ${r.killed} killed, ${r.gcs} GCs, ` +
      `${r.seconds.toFixed(1)} s (seed ${SEED})`,
  );
  assert.equal(r.failures.slice(0, 10), [], `${r.failures.length} calls failed`);
  assert.equal(r.duplicates, [], 'an address was handed out twice');
  assert.equal(r.leaks.slice(0, 20), [], `${r.leaks.length} things left behind`);
  assert.equal(strayStoreFiles(r.storeFiles), [], 'files other than the lock and cursors in the store');
  assert.ok(r.storeFiles.includes('lock'), `the store's lock file is there: ${r.storeFiles}`);
  // the soak must really have exercised kills and GCs, or its "nothing left" says little
  assert.ok(r.killed > 0, 'no call was killed');
  assert.ok(r.gcs > 1, 'no GC ran during the churn');
  assert.ok(r.addFirst.n > r.cycles / 4 && r.addLast.n > 0, 'too few successful ADDs to measure');
}

test(
  `churn: ${CYCLES} ADD/DEL pairs, 10 in parallel, 3 % killed, random GC (iptables): no leak, no duplicate`,
  timeout(600_000, async () => {
    verify(
      await churn('sk', {
        cycles: CYCLES,
        parallel: 10,
        killRate: 0.03,
        gcRate: 0.05,
        backend: 'iptables',
        subnet: '10.231.0.0/22',
        seed: SEED,
      }),
    );
  }),
);

test(
  `churn: ${Math.ceil(CYCLES / 2)} pairs (nftables): no leak, no duplicate`,
  timeout(600_000, async () => {
    verify(
      await churn('skn', {
        cycles: Math.ceil(CYCLES / 2),
        parallel: 10,
        killRate: 0.03,
        gcRate: 0.05,
        backend: 'nftables',
        subnet: '10.231.4.0/22',
        seed: SEED + 1,
      }),
    );
  }),
);

test('churn positive control: attachments kept valid through the final GC are reported as left behind', async () => {
  const r = await churn('skc', {
    cycles: 20,
    parallel: 4,
    killRate: 0,
    gcRate: 0.2,
    backend: 'iptables',
    subnet: '10.231.8.0/24',
    seed: SEED,
    keep: 2,
  });
  assert.equal(r.failures, []);
  const kinds = new Set(r.leaks.map((l) => l.split(' ')[0]));
  for (const k of ['host', 'IPAM', 'netfilter', 'tsbt-' as string]) {
    assert.ok(
      [...kinds].some((x) => x.startsWith(k)),
      `the soak would not notice a leaked ${k}: ${r.leaks.join('; ')}`,
    );
  }
});

test.run();
