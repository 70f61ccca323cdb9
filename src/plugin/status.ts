// STATUS (spec 1.1): can an ADD succeed right now? Code 50 only when no ADD can work: the IPAM
// store is not writable, the firewall tool the config needs is missing, or the delegated IPAM
// plugin's own STATUS fails. A full (or nearly full) range is only logged: containerd 2.x marks
// the node NotReady on a STATUS error, which evicts running pods; failing the next ADD is far less harm.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniEnv } from '../cni/env';
import { CniError, ErrCode } from '../cni/errors';
import { which } from '../sys/exec';
import { fullnessWarnings } from '../ipam/fullness';
import * as hostLocal from '../ipam/host-local';
import { log } from '../log';
import { BridgeConfig } from '../attachment/config';
import { mayHaveRules } from '../attachment/rules';
import { openIpam } from './ipam';
import { familyOf } from '../ip/addr';

export async function cmdStatus(cfg: BridgeConfig, env: CniEnv): Promise<void> {
  const problems: string[] = [];
  const ipam = openIpam(cfg.net, env);
  let families: (4 | 6)[] = [4];
  if (ipam.local) {
    const local = ipam.local;
    families = [...new Set(local.ranges.map((set) => familyOf(set[0].subnet)))];
    const dir = path.join(local.dataDir, cfg.net.name);
    try {
      // creates and checks the store's directories (and releases what earlier boots left) first
      const usage = hostLocal.rangeSetUsage(local, cfg.net.name);
      fs.accessSync(dir, fs.constants.W_OK);
      for (const w of fullnessWarnings(usage)) log.warn(`STATUS: ${w}`);
    } catch (e) {
      problems.push(`IPAM store ${dir} is not usable: ${(e as Error).message}`);
    }
  } else {
    try {
      ipam.status();
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  // L2-only networks never get rules (no address to masquerade or map to)
  if (cfg.layer3 && mayHaveRules(cfg)) {
    const missing = firewallToolProblem(cfg.ipMasqBackend, families, (cmd) => which(cmd) !== null);
    if (missing) problems.push(missing);
  }
  if (problems.length) throw new CniError(ErrCode.NotAvailable, `tsbridge cannot ADD now: ${problems.join('; ')}`);
}

/**
 * The tools the firewall backend needs (as src/firewall's selection: a configured backend is used
 * as it is; auto takes iptables, else nftables). `has` answers whether a command is installed.
 */
export function firewallToolProblem(
  pref: 'iptables' | 'nftables' | undefined,
  families: (4 | 6)[],
  has: (cmd: string) => boolean,
): string | undefined {
  const ipt = families.flatMap((f) =>
    f === 4 ? ['iptables-save', 'iptables-restore'] : ['ip6tables-save', 'ip6tables-restore'],
  );
  const lacking = (cmds: string[]): string[] => cmds.filter((c) => !has(c));
  const fix = 'install iptables or nftables (or turn ipMasq and port mappings off)';
  if (pref === 'nftables')
    return has('nft') ? undefined : `ipMasqBackend nftables needs nft, which is not installed: install nftables`;
  const noIpt = lacking(ipt);
  if (pref === 'iptables')
    return noIpt.length
      ? `ipMasqBackend iptables needs ${noIpt.join(', ')}, not installed: install iptables`
      : undefined;
  if (noIpt.length && !has('nft'))
    return `ipMasq/port mappings need a firewall tool and none is installed (no ${noIpt.join(', ')}, no nft): ${fix}`;
  return undefined;
}
