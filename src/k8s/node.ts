// The parts of a Kubernetes Node object tsbridge reads, and what it derives from them. Pure.
export interface K8sNode {
  metadata: { name: string; resourceVersion?: string; creationTimestamp?: string };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: { type: string; address: string }[] };
}

export interface K8sList<T> {
  metadata: { resourceVersion?: string };
  items: T[];
}

/** spec.podCIDRs (dual stack: one per family); clusters older than 1.16 set only spec.podCIDR. */
export function nodePodCidrs(n: K8sNode): string[] {
  const many = n.spec?.podCIDRs?.filter(Boolean) ?? [];
  if (many.length) return many;
  return n.spec?.podCIDR ? [n.spec.podCIDR] : [];
}

export function nodeInternalIps(n: K8sNode): string[] {
  return (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address);
}

export interface NodeInfo {
  name: string;
  podCidrs: string[];
  internalIps: string[];
  created?: string;
}

export function nodeInfo(n: K8sNode): NodeInfo {
  const created = n.metadata.creationTimestamp;
  return {
    name: n.metadata.name,
    podCidrs: nodePodCidrs(n),
    internalIps: nodeInternalIps(n),
    ...(created ? { created } : {}),
  };
}
