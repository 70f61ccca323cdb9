// Deterministic host-side veth names: "veth" + 8 hex of sha256(containerID, ifname). Stable across
// retries, so DEL and GC find the host end without the container's namespace.
import * as crypto from 'node:crypto';

export function hostVethName(containerId: string, ifname: string): string {
  return 'veth' + crypto.createHash('sha256').update(`${containerId}\0${ifname}`).digest('hex').slice(0, 8);
}
