// Failing hooks: uvu alone would swallow (or, for `after`, abort on) these errors; each must be a failure with its
// message.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const a = suite('before fails');
a.before(() => {
  throw new Error('fixture: before boom');
});
a('one', () => assert.ok(true));
a('two', () => assert.ok(true));
a.run();

const b = suite('before.each fails');
b.before.each(() => {
  throw new Error('fixture: before.each boom');
});
b('three', () => assert.ok(true));
b.run();

const c = suite('after fails');
c.after(() => {
  throw new Error('fixture: after boom');
});
c('four', () => assert.ok(true));
c.run();
