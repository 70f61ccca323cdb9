import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as A from '../../src/netlink/attrs';
import { checkTarget } from '../../src/netlink/netnsid';

const s32 = (type: number, v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return A.attr(type, b);
};
const IFA_TARGET_NETNSID = 10;

test('checkTarget: an answer for the namespace asked about passes', () => {
  checkTarget(A.parseAttrs(s32(IFA_TARGET_NETNSID, 3)), IFA_TARGET_NETNSID, 3, 'op');
});

test(
  'checkTarget: an answer without the target id (a kernel that ignored it answers for its own namespace) or for ' +
    'another id is refused',
  () => {
    assert.throws(
      () => checkTarget(A.parseAttrs(Buffer.alloc(0)), IFA_TARGET_NETNSID, 3, 'list'),
      /did not answer for netnsid 3/,
    );
    assert.throws(
      () => checkTarget(A.parseAttrs(s32(IFA_TARGET_NETNSID, 0)), IFA_TARGET_NETNSID, 3, 'list'),
      /did not answer for netnsid 3/,
    );
  },
);

test.run();
