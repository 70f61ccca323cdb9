// Two real failures: run together with a suite that has skips, they must still read "2 failed".
import { test } from 'uvu';
import * as assert from 'uvu/assert';

test('fails once', () => assert.is(1, 2));
test('fails twice', () => assert.ok(false));
test.run();
