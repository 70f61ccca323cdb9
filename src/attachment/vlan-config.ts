// `vlan`, `vlanTrunk`, `preserveDefaultVlan` (upstream bridge semantics), parsed and checked
// without the kernel. Every bad entry is code 7 naming it.
import { CniError, ErrCode } from '../cni/errors';
import { getKey, isObject, JsonObject, optBool, optInt } from '../cni/json';

export interface VlanConfig {
  /** The port's PVID, egress untagged; 0 = none. */
  vlan: number;
  /** VLANs the port carries tagged, sorted, each once. */
  vlanTrunk: number[];
  /** Keep VLAN 1 on the port (upstream default: removed when vlan or vlanTrunk is set). */
  preserveDefaultVlan: boolean;
}

const bad = (msg: string): CniError => new CniError(ErrCode.InvalidConfig, msg);

function vid(entry: JsonObject, key: string, where: string): number | undefined {
  const v = getKey(entry, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 4094) {
    throw bad(`invalid ${where}: ${key} ${JSON.stringify(v)} is not a VLAN ID in 1..4094`);
  }
  return v;
}

export function parseVlanConfig(raw: JsonObject): VlanConfig {
  const vlan = optInt(raw, 'vlan', '', 0, 4094) ?? 0;
  const preserveDefaultVlan = optBool(raw, 'preserveDefaultVlan') ?? false;
  const trunkRaw = getKey(raw, 'vlanTrunk');
  if (trunkRaw === undefined || trunkRaw === null) return { vlan, vlanTrunk: [], preserveDefaultVlan };
  if (!Array.isArray(trunkRaw))
    throw bad(`invalid vlanTrunk ${JSON.stringify(trunkRaw)}: want a list of {"id"} or {"minID","maxID"}`);
  const ids = new Set<number>();
  trunkRaw.forEach((e, i) => {
    const where = `vlanTrunk[${i}] ${JSON.stringify(e)}`;
    if (!isObject(e)) throw bad(`invalid ${where}: want {"id": N} or {"minID": N, "maxID": M}`);
    const id = vid(e, 'id', where);
    const min = vid(e, 'minID', where);
    const max = vid(e, 'maxID', where);
    if ((min === undefined) !== (max === undefined)) throw bad(`invalid ${where}: minID and maxID go together`);
    if (min !== undefined && max !== undefined) {
      if (min > max) throw bad(`invalid ${where}: minID ${min} is greater than maxID ${max}`);
      for (let v = min; v <= max; v++) ids.add(v);
    }
    if (id !== undefined) ids.add(id);
    if (id === undefined && min === undefined)
      throw bad(`invalid ${where}: it names no VLAN (want "id" or "minID"/"maxID")`);
  });
  if (ids.size && vlan) {
    throw bad(
      `invalid config: "vlan" ${vlan} together with "vlanTrunk" (a port is either an access port of one VLAN ` +
        `or a trunk; tsbridge refuses the mix)`,
    );
  }
  return { vlan, vlanTrunk: [...ids].sort((a, b) => a - b), preserveDefaultVlan };
}

/** Whether the bridge needs VLAN filtering for this config. */
export const wantsVlans = (c: VlanConfig): boolean => c.vlan > 0 || c.vlanTrunk.length > 0;

/** The trunk as ranges [from, to] (one netlink entry, or a RANGE_BEGIN/RANGE_END pair, each). */
export function vlanRanges(ids: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const v of ids) {
    const last = out[out.length - 1];
    if (last && last[1] === v - 1) last[1] = v;
    else out.push([v, v]);
  }
  return out;
}
