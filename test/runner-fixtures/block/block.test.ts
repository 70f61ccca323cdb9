// A hang that blocks the event loop (no timer can fire): the runner's watchdog kills it and names it.
import { test } from 'uvu';
import { timeout } from '../../helpers/test';

test(
  'spins forever',
  timeout(200, () => {
    for (;;) {
      // spin
    }
  }),
);
test.run();
