// One face for the IPAM paths: host-local is served in-process (same disk layout and lock as the
// reference, no exec), any other ipam.type is exec'd from CNI_PATH, and a network without an IPAM
// type is L2-only (no addresses at all, as the reference's bridge).
import { CniEnv } from '../cni/env';
import { CniError, ErrCode } from '../cni/errors';
import { getKey, JsonObject } from '../cni/json';
import { NetConf } from '../cni/netconf';
import { Result } from '../cni/result';
import { parseHostLocalConfig, HostLocalConfig, requireOnePerFamily } from '../ipam/config';
import { delegateSpeaks, execIpam } from '../ipam/delegate';
import * as hostLocal from '../ipam/host-local';
import { log } from '../log';
import { hasIpam } from '../attachment/config';

export interface Ipam {
  readonly type: string;
  /** host-local config when served in-process */
  readonly local?: HostLocalConfig;
  add(requested: string[]): Result;
  del(): void;
  /** IPs this attachment holds according to the IPAM store (host-local only; [] otherwise). */
  held(): string[];
  /**
   * Problems the delegated plugin's CHECK reports (spec: CHECK is passed to the IPAM plugin); in-process: none here.
   */
  check(): string[];
  /** GC and STATUS passed to a delegated plugin (in-process host-local does its own in gc.ts/status.ts). */
  gc(): void;
  status(): void;
}

export function openIpam(net: NetConf, env: CniEnv): Ipam {
  if (!hasIpam(net)) return noIpam;
  const type = getKey(net.ipam, 'type') as string;
  return type === 'host-local' ? localIpam(net, env, hostLocalConfig(net)) : execIpamPlugin(net, env, type);
}

/** host-local's config as the reference reads it: runtimeConfig.ipRanges in front of the configured ranges. */
export function hostLocalConfig(net: NetConf & { ipam: JsonObject }): HostLocalConfig {
  return parseHostLocalConfig(net.ipam, net.name, { ipRanges: getKey(net.runtimeConfig, 'ipRanges') });
}

const noIpam: Ipam = {
  type: '',
  add: () => ({ cniVersion: '', ips: [], routes: [], dns: {} }),
  del: () => undefined,
  held: () => [],
  check: () => [],
  gc: () => undefined,
  status: () => undefined,
};

function localIpam(net: NetConf, env: CniEnv, cfg: HostLocalConfig): Ipam {
  return {
    type: 'host-local',
    local: cfg,
    add(requested) {
      requireOnePerFamily(cfg.ranges, net.cniVersion); // on ADD only: DEL of any config must still work
      const r = hostLocal.allocate(cfg, net.name, env.containerId, env.ifname, requested);
      return {
        cniVersion: net.cniVersion,
        ips: r.ips.map((ip) => ({ address: ip.address, gateway: ip.gateway })),
        routes: r.routes,
        dns: r.dns,
      };
    },
    del() {
      hostLocal.release(cfg, net.name, env.containerId, env.ifname);
    },
    held() {
      return hostLocal.findByAttachment(cfg, net.name, env.containerId, env.ifname);
    },
    check: () => [],
    gc: () => undefined,
    status: () => undefined,
  };
}

function execIpamPlugin(net: NetConf, env: CniEnv, type: string): Ipam {
  // the plugin gets our stdin as it came (prevResult included for CHECK), as the reference passes it
  const stdin: JsonObject = { ...net.raw, cniVersion: net.cniVersion, name: net.name };
  // GC and STATUS exist from 1.1.0; a plugin that does not speak the config's version has neither
  // (the reference 1.1.1 plugins stop at 1.0.0): nothing to pass, and no reason to fail.
  const passIfSpoken = (command: 'GC' | 'STATUS'): void => {
    if (!delegateSpeaks(type, env.path, net.cniVersion)) {
      log.debug(`IPAM plugin ${type} does not support cniVersion ${net.cniVersion}: ${command} not passed to it`);
      return;
    }
    execIpam(command, type, env.path, stdin, net.cniVersion);
  };
  return {
    type,
    // requested IPs reach the delegate as they reached us: runtimeConfig/args on stdin, IP= in CNI_ARGS.
    add() {
      const r = execIpam('ADD', type, env.path, stdin, net.cniVersion);
      if (!r?.ips?.length) throw new CniError(ErrCode.DelegateFailure, `IPAM plugin ${type} returned no IP addresses`);
      return r;
    },
    del() {
      execIpam('DEL', type, env.path, stdin, net.cniVersion);
    },
    held() {
      return [];
    },
    check() {
      try {
        execIpam('CHECK', type, env.path, stdin, net.cniVersion);
        return [];
      } catch (e) {
        return [(e as Error).message];
      }
    },
    gc: () => passIfSpoken('GC'),
    status: () => passIfSpoken('STATUS'),
  };
}
