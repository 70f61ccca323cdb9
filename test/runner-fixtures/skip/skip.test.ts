// One pass, a bare .skip (no reason: a failure under CI=true) and an explained skip (counted everywhere).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { skip } from '../../helpers/test';

test('passes', () => assert.ok(true));
test.skip('bare skip', () => assert.unreachable());
skip(test, 'explained skip', 'fixture: skipped on purpose');
test.run();
