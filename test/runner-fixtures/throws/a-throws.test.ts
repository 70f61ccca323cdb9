// Throws while loading: one named failure; b-ok.test.ts in the same suite must still run.
import { test } from 'uvu';

test('never registered', () => undefined);
throw new Error('fixture: boom while loading');
