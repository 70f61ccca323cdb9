// Tests registered, run() forgotten: they would vanish from the count; a failure.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const s = suite('forgotten');
s('never run', () => assert.ok(true));
