// A healthy file: two passing tests (one with its own timeout) and a passing hook.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { timeout } from '../../helpers/test';

test('adds', () => assert.is(1 + 1, 2));
test(
  'waits a little',
  timeout(5_000, async () => {
    await new Promise((r) => setTimeout(r, 20));
  }),
);
test.run();

const s = suite('with hooks');
let ready = false;
s.before(() => {
  ready = true;
});
s('saw the hook', () => assert.ok(ready));
s.run();
