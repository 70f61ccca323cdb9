// Netlink attribute (struct nlattr) encoding: 4-byte header {len u16, type u16}, payload, padded
// to 4 bytes. Only what rtnetlink needs for links, addresses and routes.
export const NLA_F_NESTED = 0x8000;
const align4 = (n: number): number => (n + 3) & ~3;

export type Attr = [type: number, payload: Buffer];

export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc(align4(len));
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

export const u8 = (type: number, v: number): Buffer => attr(type, Buffer.from([v]));
export const u32 = (type: number, v: number): Buffer => {
  const p = Buffer.alloc(4);
  p.writeUInt32LE(v >>> 0, 0);
  return attr(type, p);
};
export const str = (type: number, s: string): Buffer => attr(type, Buffer.from(s + '\0'));
export const nested = (type: number, ...children: Buffer[]): Buffer =>
  attr(type | NLA_F_NESTED, Buffer.concat(children));

/** Parse a run of attributes into type -> payload (the last one wins; nesting is decoded on demand). */
export function parseAttrs(b: Buffer, offset = 0): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let o = offset;
  while (o + 4 <= b.length) {
    const len = b.readUInt16LE(o);
    const type = b.readUInt16LE(o + 2) & ~NLA_F_NESTED;
    if (len < 4 || o + len > b.length) break;
    out.set(type, b.subarray(o + 4, o + len));
    o += align4(len);
  }
  return out;
}

export const readStr = (b: Buffer | undefined): string | undefined =>
  b === undefined ? undefined : b.toString('utf8', 0, b.indexOf(0) >= 0 ? b.indexOf(0) : b.length);
export const readU32 = (b: Buffer | undefined): number | undefined =>
  b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
export const readU8 = (b: Buffer | undefined): number | undefined => (b && b.length >= 1 ? b.readUInt8(0) : undefined);
