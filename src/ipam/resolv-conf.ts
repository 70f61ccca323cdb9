// ipam.resolvConf: a resolv.conf whose settings become the result's `dns`, read as the reference
// reads it (first word of a line is the keyword; unknown keywords and short lines are skipped).
import * as fs from 'node:fs';
import { CniError, ErrCode } from '../cni/errors';

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export function parseResolvConf(text: string): Dns {
  const dns: Dns = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line[0] === '#' || line[0] === ';') continue;
    const [key, ...args] = line.split(/\s+/);
    if (args.length === 0) continue;
    switch (key) {
      case 'nameserver':
        (dns.nameservers ??= []).push(args[0]);
        break;
      case 'domain':
        dns.domain = args[0];
        break;
      case 'search':
        (dns.search ??= []).push(...args);
        break;
      case 'options':
        (dns.options ??= []).push(...args);
        break;
    }
  }
  return dns;
}

export function readResolvConf(file: string): Dns {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CniError(ErrCode.IOFailure, `cannot read ipam.resolvConf ${file}: ${(e as Error).message}`);
  }
  return parseResolvConf(text);
}
