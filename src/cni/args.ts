// CNI_ARGS ("K=V;K=V"). Like the reference's types.LoadArgs: keys the plugin does not know are an
// error unless IgnoreUnknown=1|true is present (containerd and podman always send it).
import { CniError, ErrCode } from './errors';

const KNOWN = new Set([
  'IgnoreUnknown',
  'IP',
  'MAC',
  'K8S_POD_NAMESPACE',
  'K8S_POD_NAME',
  'K8S_POD_INFRA_CONTAINER_ID',
  'K8S_POD_UID',
]);

export interface CniArgs {
  ips: string[];
  mac?: string;
  podNamespace?: string;
  podName?: string;
  podUid?: string;
  podInfraContainerId?: string;
}

export function parseCniArgs(raw: string | undefined): CniArgs {
  const out: CniArgs = { ips: [] };
  if (!raw) return out;
  const pairs: [string, string][] = [];
  for (const part of raw.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CniError(ErrCode.InvalidEnv, `CNI_ARGS: invalid argument "${part}": want KEY=VALUE`);
    pairs.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  const ignoreUnknown = pairs.some(([k, v]) => k === 'IgnoreUnknown' && /^(1|true)$/i.test(v));
  for (const [k, v] of pairs) {
    if (!KNOWN.has(k)) {
      if (ignoreUnknown) continue;
      throw new CniError(
        ErrCode.InvalidEnv,
        `CNI_ARGS: unknown argument "${k}" (add IgnoreUnknown=1 to ignore unknown arguments)`,
      );
    }
    switch (k) {
      case 'IP':
        out.ips.push(
          ...v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        );
        break;
      case 'MAC':
        out.mac = v;
        break;
      case 'K8S_POD_NAMESPACE':
        out.podNamespace = v;
        break;
      case 'K8S_POD_NAME':
        out.podName = v;
        break;
      case 'K8S_POD_UID':
        out.podUid = v;
        break;
      case 'K8S_POD_INFRA_CONTAINER_ID':
        out.podInfraContainerId = v;
        break;
    }
  }
  return out;
}
