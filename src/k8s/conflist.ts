// The conflist install writes for one node: a tsbridge bridge on the node's pod CIDR(s), one range
// set per family (dual stack = two sets, one address of each per pod). Pure.
export const PLUGIN_TYPE = 'tsbridge';

export interface ConflistInput {
  network: string;
  bridge: string;
  podCidrs: string[];
  mtu?: number;
  ipMasq: boolean;
  dataDir?: string;
  /** declare the portMappings capability: kubelet then passes the pod's hostPorts (runtimeConfig) */
  portMappings?: boolean;
  /** the plugin's logLevel/logFile/logFormat (src/log.ts) */
  log?: { logLevel?: string; logFile?: string; logFormat?: string };
}

export function renderConflist(c: ConflistInput): string {
  const plugin: Record<string, unknown> = {
    type: PLUGIN_TYPE,
    bridge: c.bridge,
    isGateway: true,
    // default route(s) in the pod via the bridge, one per family the pod has
    isDefaultGateway: true,
    // a pod reaching itself through a Service (kube-proxy DNAT back to the same pod) needs hairpin
    hairpinMode: true,
    ipMasq: c.ipMasq,
    ...(c.mtu ? { mtu: c.mtu } : {}),
    ...(c.portMappings ? { capabilities: { portMappings: true } } : {}),
    ...(c.log ?? {}),
    ipam: {
      type: 'host-local',
      ranges: c.podCidrs.map((subnet) => [{ subnet }]),
      ...(c.dataDir ? { dataDir: c.dataDir } : {}),
    },
  };
  // runtimes whose libcni knows cniVersions pick the highest they speak; older ones read cniVersion
  const doc = { cniVersion: '1.0.0', cniVersions: ['1.0.0', '1.1.0'], name: c.network, plugins: [plugin] };
  return JSON.stringify(doc, null, 2) + '\n';
}

/** A conflist is ours when it is a tsbridge network of this name: only those are rewritten over or removed. */
export function isOurConflist(text: string, network: string): boolean {
  try {
    const doc = JSON.parse(text) as { name?: unknown; plugins?: unknown };
    return (
      doc.name === network &&
      Array.isArray(doc.plugins) &&
      doc.plugins.some((p) => typeof p === 'object' && p !== null && (p as { type?: unknown }).type === PLUGIN_TYPE)
    );
  } catch {
    return false;
  }
}

const CONFIG_EXT = /\.(conflist|conf|json)$/;

/**
 * Config files a runtime would pick before ours: it uses the lexically first one in the directory,
 * so any of these means pods will not get tsbridge on this node.
 */
export function configsBefore(files: string[], ours: string): string[] {
  return files.filter((f) => CONFIG_EXT.test(f) && !f.startsWith('.') && f !== ours && f < ours).sort();
}
