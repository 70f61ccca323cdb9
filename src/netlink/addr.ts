// Addresses: struct ifaddrmsg + IFA_* attributes. IPv6 addresses are added with IFA_F_NODAD so
// they are usable as soon as ADD returns (the reference waits out DAD unless told otherwise).
import * as ipaddr from 'ipaddr.js';
import * as A from './attrs';
import { AF, IFA, IFA_F_NODAD, NLM_F, RTM } from './constants';
import { EEXIST, NetlinkError, Rtnl } from './socket';

export interface Addr {
  index: number;
  family: 4 | 6;
  address: string;
  prefix: number;
  flags: number;
}

export function ipBytes(ip: string): { family: 4 | 6; bytes: Buffer } {
  const a = ipaddr.parse(ip);
  return { family: a.kind() === 'ipv4' ? 4 : 6, bytes: Buffer.from(a.toByteArray()) };
}
const ipString = (b: Buffer): string => ipaddr.fromByteArray([...b]).toString();
const af = (family: 4 | 6): number => (family === 4 ? AF.INET : AF.INET6);

function ifaddrmsg(family: 4 | 6, prefix: number, index: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(af(family), 0);
  b.writeUInt8(prefix, 1);
  b.writeUInt32LE(index, 4);
  return b;
}

function splitCidr(cidr: string): { ip: string; prefix: number } {
  const [ip, p] = cidr.split('/');
  return { ip, prefix: Number(p) };
}

function broadcast(bytes: Buffer, prefix: number): Buffer {
  const b = Buffer.from(bytes);
  for (let bit = prefix; bit < 32; bit++) b[bit >> 3] |= 0x80 >> (bit & 7);
  return b;
}

/** Add `cidr` (e.g. "10.1.0.5/24") to a link. `dad` keeps IPv6 duplicate address detection on. */
export async function addAddress(
  nl: Rtnl,
  index: number,
  cidr: string,
  opts: { dad?: boolean; existOk?: boolean } = {},
): Promise<void> {
  const { ip, prefix } = splitCidr(cidr);
  const { family, bytes } = ipBytes(ip);
  const attrs = [A.attr(IFA.LOCAL, bytes), A.attr(IFA.ADDRESS, bytes)];
  if (family === 4 && prefix < 31) attrs.push(A.attr(IFA.BROADCAST, broadcast(bytes, prefix)));
  if (family === 6 && !opts.dad) attrs.push(A.u32(IFA.FLAGS, IFA_F_NODAD));
  try {
    await nl.request(
      RTM.NEWADDR,
      NLM_F.CREATE | NLM_F.EXCL,
      Buffer.concat([ifaddrmsg(family, prefix, index), ...attrs]),
      `add address ${cidr} to #${index}`,
    );
  } catch (e) {
    // Concurrent ADDs race to put the same gateway address on the bridge: the same address is success.
    if (!(opts.existOk && e instanceof NetlinkError && e.errno === EEXIST)) throw e;
  }
}

export async function delAddress(nl: Rtnl, index: number, cidr: string): Promise<void> {
  const { ip, prefix } = splitCidr(cidr);
  const { family, bytes } = ipBytes(ip);
  await nl.request(
    RTM.DELADDR,
    0,
    Buffer.concat([ifaddrmsg(family, prefix, index), A.attr(IFA.LOCAL, bytes), A.attr(IFA.ADDRESS, bytes)]),
    `delete address ${cidr} from #${index}`,
  );
}

export async function listAddresses(nl: Rtnl, index?: number): Promise<Addr[]> {
  const msgs = await nl.dump(RTM.GETADDR, Buffer.alloc(8), 'list addresses');
  const out: Addr[] = [];
  for (const m of msgs) {
    const a = decodeAddr(m.data);
    if (a && (index === undefined || a.index === index)) out.push(a);
  }
  return out;
}

/** One RTM_NEWADDR message's address (undefined for other families or without an address). */
export function decodeAddr(data: Buffer): Addr | undefined {
  const family = data.readUInt8(0) === AF.INET ? 4 : data.readUInt8(0) === AF.INET6 ? 6 : 0;
  if (!family) return undefined;
  const attrs = A.parseAttrs(data, 8);
  const raw = attrs.get(IFA.LOCAL) ?? attrs.get(IFA.ADDRESS);
  if (!raw) return undefined;
  return {
    index: data.readUInt32LE(4),
    family,
    address: ipString(raw),
    prefix: data.readUInt8(1),
    flags: A.readU32(attrs.get(IFA.FLAGS)) ?? data.readUInt8(2),
  };
}
