// Neighbour entries (RTM_GETNEIGH dump): what a namespace has cached as the MAC of an address.
import * as A from './attrs';
import { AF } from './constants';
import { Rtnl } from './socket';

const RTM_GETNEIGH = 30;
const NDA = { DST: 1, LLADDR: 2 } as const;

export interface Neighbour {
  index: number;
  ip: string;
  mac: string;
}

/** The IPv4 neighbour entries that have a link-layer address. */
export async function listNeighbours4(nl: Rtnl): Promise<Neighbour[]> {
  const ndmsg = Buffer.alloc(12);
  ndmsg.writeUInt8(AF.INET, 0);
  const out: Neighbour[] = [];
  for (const m of await nl.dump(RTM_GETNEIGH, ndmsg, 'list neighbours')) {
    const attrs = A.parseAttrs(m.data, 12);
    const dst = attrs.get(NDA.DST);
    const ll = attrs.get(NDA.LLADDR);
    if (dst?.length !== 4 || !ll || ll.length !== 6) continue;
    out.push({
      index: m.data.readInt32LE(4),
      ip: [...dst].join('.'),
      mac: [...ll].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    });
  }
  return out;
}
