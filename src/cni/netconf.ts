// The network configuration on stdin: the keys every plugin shares (spec §"Plugin configuration
// objects"). Plugin-specific keys are read by the plugin's own config module from `raw`.
import { CniError, ErrCode } from './errors';
import { getKey, isObject, JsonObject, optObject, optString } from './json';
import { parsePrevResult, Result } from './result';
import { IMPLICIT_VERSION, requireSupported } from './version';

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  raw: JsonObject;
  runtimeConfig: JsonObject;
  ipam?: JsonObject;
  dns?: JsonObject;
  prevResult?: Result;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Parse stdin bytes: malformed JSON is code 6; a bad name or type is 7; an unknown version is 1. */
export function parseNetConf(stdin: Buffer | string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin.toString());
  } catch (e) {
    throw new CniError(ErrCode.DecodeFailure, `error parsing configuration: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new CniError(ErrCode.DecodeFailure, 'error parsing configuration: not a JSON object');
  const cniVersion = optString(raw, 'cniVersion') || IMPLICIT_VERSION;
  requireSupported(cniVersion);
  const name = optString(raw, 'name') ?? '';
  if (!NAME_RE.test(name)) {
    throw new CniError(ErrCode.InvalidConfig, `invalid network name "${name}": must match ${NAME_RE.source}`);
  }
  const prev = getKey(raw, 'prevResult');
  return {
    cniVersion,
    name,
    type: optString(raw, 'type') ?? '',
    raw,
    runtimeConfig: optObject(raw, 'runtimeConfig') ?? {},
    ipam: optObject(raw, 'ipam'),
    dns: optObject(raw, 'dns'),
    prevResult: prev === undefined || prev === null ? undefined : parsePrevResult(prev, cniVersion),
  };
}
