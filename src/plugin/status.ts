// STATUS (spec 1.1): can an ADD succeed right now? Code 50 when not: IPAM store not writable,
// every range set exhausted, or the firewall backend missing when ipMasq needs it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, ErrCode } from '../cni/errors';
import { getKey } from '../cni/json';
import { selectBackend } from '../firewall';
import * as hostLocal from '../ipam/host-local';
import { parseHostLocalConfig } from '../ipam/config';
import { BridgeConfig } from './config';

export async function cmdStatus(cfg: BridgeConfig): Promise<void> {
  const problems: string[] = [];
  const ipam = cfg.net.ipam;
  if (ipam && getKey(ipam, 'type') === 'host-local') {
    const local = parseHostLocalConfig(ipam, cfg.net.name);
    const dir = path.join(local.dataDir, cfg.net.name);
    try {
      // creates and checks the store's directories (and releases what earlier boots left) first
      const full = hostLocal.exhaustedRangeSets(local, cfg.net.name);
      fs.accessSync(dir, fs.constants.W_OK);
      if (full.length) problems.push(`no free addresses in range set(s) ${full.join(', ')}`);
    } catch (e) {
      problems.push(`IPAM store ${dir} is not usable: ${(e as Error).message}`);
    }
  }
  if (cfg.ipMasq) {
    try {
      selectBackend(cfg.ipMasqBackend);
    } catch (e) {
      problems.push(`firewall backend unavailable: ${(e as Error).message}`);
    }
  }
  if (problems.length) throw new CniError(ErrCode.NotAvailable, `tsbridge cannot ADD now: ${problems.join('; ')}`);
}
