// One face for both IPAM paths: host-local is served in-process (same disk layout and lock as the
// reference, no exec), any other ipam.type is exec'd from CNI_PATH.
import { CniEnv } from '../cni/env';
import { CniError, ErrCode } from '../cni/errors';
import { getKey, JsonObject } from '../cni/json';
import { NetConf } from '../cni/netconf';
import { Result } from '../cni/result';
import { parseHostLocalConfig, HostLocalConfig } from '../ipam/config';
import { execIpam } from '../ipam/delegate';
import * as hostLocal from '../ipam/host-local';

export interface Ipam {
  readonly type: string;
  /** host-local config when served in-process */
  readonly local?: HostLocalConfig;
  add(requested: string[]): Result;
  del(): void;
  /** IPs this attachment holds according to the IPAM store (host-local only; [] otherwise). */
  held(): string[];
}

export function openIpam(net: NetConf, env: CniEnv): Ipam {
  if (!net.ipam) throw new CniError(ErrCode.InvalidConfig, 'missing "ipam" section: tsbridge needs an IPAM plugin (e.g. host-local)');
  const type = getKey(net.ipam, 'type');
  if (typeof type !== 'string' || !type) throw new CniError(ErrCode.InvalidConfig, 'ipam.type missing');
  return type === 'host-local' ? localIpam(net, env, parseHostLocalConfig(net.ipam, net.name)) : execIpamPlugin(net, env, type);
}

function localIpam(net: NetConf, env: CniEnv, cfg: HostLocalConfig): Ipam {
  return {
    type: 'host-local',
    local: cfg,
    add(requested) {
      const r = hostLocal.allocate(cfg, net.name, env.containerId, env.ifname, requested);
      return { cniVersion: net.cniVersion, ips: r.ips.map((ip) => ({ address: ip.address, gateway: ip.gateway })), routes: r.routes, dns: r.dns };
    },
    del() {
      hostLocal.release(cfg, net.name, env.containerId, env.ifname);
    },
    held() {
      return hostLocal.findByAttachment(cfg, net.name, env.containerId, env.ifname);
    },
  };
}

function execIpamPlugin(net: NetConf, env: CniEnv, type: string): Ipam {
  const stdin: JsonObject = { ...net.raw, cniVersion: net.cniVersion, name: net.name };
  return {
    type,
    // requested IPs reach the delegate as they reached us: runtimeConfig on stdin, IP= in CNI_ARGS.
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
  };
}
