// Deterministic host-side veth names: "veth" + 8 hex of sha256(containerID, ifname). Stable across
// retries, so DEL and GC find the host end without the container's namespace.
import { sha256Hex } from '../sys/hash';

export function hostVethName(containerId: string, ifname: string): string {
  return 'veth' + sha256Hex(`${containerId}\0${ifname}`).slice(0, 8);
}
