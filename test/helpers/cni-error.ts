// What the pure parsers and validators refuse, as the CNI error code they throw.
import * as assert from 'uvu/assert';
import { CniError } from '../../src/cni/errors';

/** The code of the CniError `fn` throws; fails the test when it throws anything else or nothing. */
export function errorCode(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CniError);
    return (e as CniError).code;
  }
  throw new Error('expected a CniError');
}
