// The route agent's timing pieces: the retry wait is capped at one resync period (so routes follow
// the API within one resync after it answers again), and sync requests arriving while one waits fold
// into it (a burst of Node events queues one sync, not one per event).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nextBackoff, Serial } from '../../src/k8s/serial';

test('retry waits double up to 30 s, never past the resync period, never under 1 s', () => {
  const waits = (resyncMs: number): number[] => {
    const out = [1000];
    for (let i = 0; i < 8; i++) out.push(nextBackoff(out[out.length - 1], resyncMs));
    return out;
  };
  assert.equal(waits(60_000), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assert.equal(waits(5000), [1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000, 5000]);
  assert.equal(waits(300), [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]);
});

test('Serial: one call at a time; requests made while one waits join it (force or-ed)', async () => {
  const calls: boolean[] = [];
  let running = 0;
  let most = 0;
  let release: () => void = () => undefined;
  const s = new Serial(async (force) => {
    calls.push(force);
    most = Math.max(most, ++running);
    await new Promise<void>((r) => (release = r));
    running--;
  });
  s.request(false); // runs
  await Promise.resolve();
  for (let i = 0; i < 10_000; i++) s.request(i === 5000); // all wait as one, forced
  for (let i = 0; i < 5 && calls.length < 3; i++) {
    release();
    await new Promise((r) => setImmediate(r));
  }
  release();
  await s.idle;
  assert.equal(calls, [false, true], 'the burst became one forced call');
  assert.is(most, 1);
  // after it ran, a new request makes a new call
  s.request(false);
  await new Promise((r) => setImmediate(r));
  release();
  await s.idle;
  assert.equal(calls, [false, true, false]);
});

test('Serial: a call that throws does not stop later calls', async () => {
  const calls: number[] = [];
  const s = new Serial(async () => {
    calls.push(calls.length);
    if (calls.length === 1) throw new Error('netlink socket: EMFILE');
  });
  s.request(false);
  await s.idle;
  s.request(false);
  await s.idle;
  assert.equal(calls, [0, 1]);
});

test.run();
