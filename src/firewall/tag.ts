// Names and comments that tie netfilter state to one attachment. The chain name and the iptables
// comment are byte-for-byte those of the reference bridge plugin, so rules either plugin made can
// be found and removed by the other. Nothing here does I/O.
import { sha512Hex } from '../sys/hash';

/** iptables chain names may have at most 28 characters; the reference fills all of them. */
const CHAIN_NAME_LEN = 28;

/** `prefix` + hex(sha512(network + containerId)), cut to 28 characters (reference utils.MustFormatHashWithPrefix). */
export function hashedChainName(prefix: string, network: string, containerId: string): string {
  if (prefix.length >= CHAIN_NAME_LEN) throw new Error(`chain prefix too long: ${prefix}`);
  const hex = sha512Hex(network + containerId);
  return (prefix + hex).slice(0, CHAIN_NAME_LEN);
}

/** The per-container masquerade chain: `CNI-` + 24 hex digits. */
export function masqChainName(network: string, containerId: string): string {
  return hashedChainName('CNI-', network, containerId);
}

/** The per-container port-mapping chain of the reference portmap plugin: `CNI-DN-` + 21 hex digits. */
export function dnatChainName(network: string, containerId: string): string {
  return hashedChainName('CNI-DN-', network, containerId);
}

/** The reference's iptables comment, Go's fmt `name: %q id: %q`. */
export function iptablesComment(network: string, containerId: string): string {
  return `name: ${goQuote(network)} id: ${goQuote(containerId)}`;
}

/** Reads back an iptablesComment; null for any other comment. */
export function parseIptablesComment(comment: string): { network: string; containerId: string } | null {
  const m = /^name: ("(?:[^"\\]|\\.)*") id: ("(?:[^"\\]|\\.)*")$/s.exec(comment);
  if (!m) return null;
  const network = goUnquote(m[1]);
  const containerId = goUnquote(m[2]);
  return network === null || containerId === null ? null : { network, containerId };
}

/** nft accepts at most 128 bytes in a comment. */
const NFT_COMMENT_MAX = 128;

// nft strings cannot carry a double quote (its scanner has no escapes), so the values are
// percent-encoded. The container ID comes first: if a long network name makes the tag too long,
// only the network part is cut, and that part is never needed to identify the rule (the jump
// target, a hash of network + container ID, is what identifies it).
/** Comment tag for nftables rules: `id=<containerID> if=<ifname> net=<network>`, values percent-encoded. */
export function nftTag(network: string, containerId: string, ifname: string): string {
  const [id, ifn, net] = [containerId, ifname, network].map(encodeURIComponent);
  const tag = `id=${id} if=${ifn} net=${net}`;
  return tag.length <= NFT_COMMENT_MAX ? tag : tag.slice(0, NFT_COMMENT_MAX); // ASCII only after encoding
}

/** Reads back an nftTag. `network` is null when it was cut (see nftTag); null for foreign comments. */
export function parseNftTag(tag: string): { containerId: string; ifname: string; network: string | null } | null {
  const m = /^id=(\S*) if=(\S*) net=(\S*)$/.exec(tag);
  if (!m) return null;
  const containerId = decode(m[1]);
  const ifname = decode(m[2]);
  if (containerId === null || ifname === null) return null;
  return { containerId, ifname, network: tag.length < NFT_COMMENT_MAX ? decode(m[3]) : null };
}

function decode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const SHORT_ESCAPES: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};

/** Go's strconv.Quote (what %q prints for a string), so comments match the reference's exactly. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (SHORT_ESCAPES[ch] !== undefined) out += SHORT_ESCAPES[ch];
    else if (cp >= 0xd800 && cp <= 0xdfff)
      out += '\ufffd'; // lone surrogate: what its UTF-8 encoding becomes
    else if (PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x80) out += '\\x' + hex(cp, 2);
    else if (cp <= 0xffff) out += '\\u' + hex(cp, 4);
    else out += '\\U' + hex(cp, 8);
  }
  return out + '"';
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Inverse of goQuote for the escapes Go produces; null when the text is not such a string. */
export function goUnquote(q: string): string | null {
  if (q.length < 2 || q[0] !== '"' || q[q.length - 1] !== '"') return null;
  const body = q.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '"') return null;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    const simple: Record<string, string> = {
      a: '\x07',
      b: '\b',
      f: '\f',
      n: '\n',
      r: '\r',
      t: '\t',
      v: '\v',
      '"': '"',
      '\\': '\\',
      "'": "'",
    };
    if (e !== undefined && simple[e] !== undefined) {
      out += simple[e];
      continue;
    }
    const width = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    const digits = body.slice(i + 1, i + 1 + width);
    if (width === 0 || !/^[0-9a-fA-F]+$/.test(digits) || digits.length !== width) return null;
    const cp = parseInt(digits, 16);
    if (cp > 0x10ffff) return null;
    out += String.fromCodePoint(cp);
    i += width;
  }
  return out;
}
