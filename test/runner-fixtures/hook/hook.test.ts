// Failing hooks: uvu alone would swallow these errors; each must be a failure with its message.
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
