// This node's pod CIDR(s): from --pod-cidr, else from the Node object. The node controller assigns
// spec.podCIDRs some time after the node registers, so we wait for it; the conflist is not written
// before (a config on disk tells the runtime the network is ready).
import { ApiClient, ApiError } from './api';
import { parsePodCidrs } from './cidr';
import { Logger } from './install';
import { K8sNode, nodePodCidrs } from './node';

export async function podCidrsFromApi(
  api: ApiClient,
  node: string,
  o: { timeoutMs: number; pollMs: number; log: Logger; signal?: AbortSignal },
): Promise<string[]> {
  const deadline = Date.now() + o.timeoutMs;
  let said = '';
  for (;;) {
    let why: string;
    try {
      const n = await api.get<K8sNode>(`/api/v1/nodes/${encodeURIComponent(node)}`, o.signal);
      const cidrs = nodePodCidrs(n);
      if (cidrs.length) return parsePodCidrs(cidrs);
      why = `node ${node} has no spec.podCIDRs yet (is the controller manager run with --allocate-node-cidrs?)`;
    } catch (e) {
      // a wrong token or missing RBAC does not heal by waiting; everything else may
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) throw e;
      why = (e as Error).message;
    }
    if (Date.now() + o.pollMs > deadline || o.signal?.aborted) throw new Error(`no pod CIDR for node ${node}: ${why}`);
    if (why !== said) o.log.info(`waiting: ${why}`);
    said = why;
    await new Promise((r) => setTimeout(r, o.pollMs));
  }
}
