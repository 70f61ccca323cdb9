// An async hang: fails by its timeout, with its name; the test after it still runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timeout } from '../../helpers/test';

test(
  'waits forever',
  timeout(300, () => new Promise<void>(() => undefined)),
);
test('runs after the hang', () => assert.ok(true));
test.run();
