// Config access that behaves like Go's encoding/json, which the reference plugins use:
// object keys match case-insensitively (an exact match wins), so `HostPort` and `hostPort`
// are the same key. Every bad value becomes a CNI "invalid network config" (code 7) error.
import { CniError, ErrCode } from './errors';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value under `key`, matched as Go does: exact key first, else the first case-insensitive match. */
export function getKey(obj: JsonObject, key: string): unknown {
  if (Object.hasOwn(obj, key)) return obj[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function bad(where: string, key: string, want: string, v: unknown): CniError {
  return new CniError(ErrCode.InvalidConfig, `invalid ${where}${key}: want ${want}, got ${JSON.stringify(v)}`);
}

/** Typed getters; `where` prefixes the key in error messages (e.g. "ipam."). */
export function optString(obj: JsonObject, key: string, where = ''): string | undefined {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(where, key, 'a string', v);
  return v;
}

export function optBool(obj: JsonObject, key: string, where = ''): boolean | undefined {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(where, key, 'true or false', v);
  return v;
}

export function optInt(obj: JsonObject, key: string, where = '', min = 0, max = 0x7fffffff): number | undefined {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(where, key, `an integer in ${min}..${max}`, v);
  }
  return v;
}

export function optObject(obj: JsonObject, key: string, where = ''): JsonObject | undefined {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad(where, key, 'an object', v);
  return v;
}

export function optArray(obj: JsonObject, key: string, where = ''): unknown[] | undefined {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw bad(where, key, 'a list', v);
  return v;
}
