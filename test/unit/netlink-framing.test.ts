// Our netlink framing (src/netlink/socket.ts): request encoding and datagram splitting, pure.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeRequest, NetlinkError, parseMessages } from '../../src/netlink/socket';

const msg = (type: number, flags: number, seq: number, payload: number[], pad = 0): Buffer => {
  const b = Buffer.alloc(16 + payload.length + pad);
  b.writeUInt32LE(16 + payload.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  Buffer.from(payload).copy(b, 16);
  return b;
};

test('a request is one nlmsghdr (length, type, flags, seq, port 0) followed by the payload', () => {
  const m = encodeRequest(18, 0x305, 7, Buffer.from([1, 2, 3, 4]));
  assert.equal([...m], [20, 0, 0, 0, 18, 0, 5, 3, 7, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
});

test('a datagram splits into its messages at 4-byte aligned boundaries', () => {
  const d = Buffer.concat([msg(16, 2, 9, [1, 2, 3, 4, 5], 3), msg(3, 2, 9, [0, 0, 0, 0])]);
  const parsed = parseMessages(d);
  assert.is(parsed.length, 2);
  assert.equal({ ...parsed[0], data: [...parsed[0].data] }, { type: 16, flags: 2, seq: 9, data: [1, 2, 3, 4, 5] });
  assert.equal({ ...parsed[1], data: [...parsed[1].data] }, { type: 3, flags: 2, seq: 9, data: [0, 0, 0, 0] });
});

test('a length shorter than the header or past the datagram is EBADMSG, never a loop or a short read', () => {
  for (const bad of [
    msg(16, 0, 1, [1, 2, 3, 4]).fill(0, 0, 4),
    Buffer.concat([msg(16, 0, 1, []), Buffer.alloc(16, 0xff)]),
  ]) {
    try {
      parseMessages(bad);
      assert.unreachable('parsed a malformed datagram');
    } catch (e) {
      assert.instance(e, NetlinkError);
      assert.is((e as NetlinkError).errno, 74);
    }
  }
});

test.run();
