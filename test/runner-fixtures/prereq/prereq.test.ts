// A missing prerequisite found when registering and one found while running: each a counted skip,
// a failure under CI=true.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requires, skipNow } from '../../helpers/test';

test('passes', () => assert.ok(true));
requires(test, 'fixture: an absent tool')('needs the tool', () => assert.unreachable());
test('finds out while running', () => {
  skipNow('fixture: absent reference plugin');
  assert.unreachable();
});
test.run();
