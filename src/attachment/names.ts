// Names of an attachment's host-side pieces, derived (never stored), so DEL, GC and doctor find
// them without the container's namespace.
import { CniError, ErrCode } from '../cni/errors';
import { sha256Hex } from '../sys/hash';

/** Host end of the veth pair: "veth" + 8 hex of sha256(containerID, ifname), stable across retries. */
export function hostVethName(containerId: string, ifname: string): string {
  return 'veth' + sha256Hex(`${containerId}\0${ifname}`).slice(0, 8);
}

/** Name of the gateway interface of VLAN `vlan` on `bridge` (upstream's). */
export function vlanGatewayName(bridge: string, vlan: number): string {
  const name = `${bridge}.${vlan}`;
  if (Buffer.byteLength(name) > 15) {
    throw new CniError(
      ErrCode.InvalidConfig,
      `isGateway with vlan ${vlan} needs an interface "${name}", longer than 15 bytes: use a shorter bridge name`,
    );
  }
  return name;
}
