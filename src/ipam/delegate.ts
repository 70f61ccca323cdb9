// IPAM types other than host-local (dhcp, static, whereabouts, ...) are exec'd from CNI_PATH as the
// spec says: same environment, the whole network config on stdin, the result on stdout.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, ErrCode } from '../cni/errors';
import { JsonObject } from '../cni/json';
import { parsePrevResult, Result } from '../cni/result';

export function findPlugin(type: string, cniPath: string[]): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(type))
    throw new CniError(ErrCode.InvalidConfig, `invalid ipam type "${type}"`);
  if (!cniPath.length)
    throw new CniError(
      ErrCode.InvalidEnv,
      `required env variables [CNI_PATH] missing (needed to run IPAM plugin "${type}")`,
    );
  for (const dir of cniPath) {
    const p = path.join(dir, type);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next dir */
    }
  }
  throw new CniError(ErrCode.InvalidConfig, `failed to find plugin "${type}" in path [${cniPath.join(' ')}]`);
}

/** The plugin run as the spec says: our environment (CNI_* included) with CNI_COMMAND set, `stdin` as JSON. */
function run(bin: string, command: string, stdin: JsonObject) {
  return spawnSync(bin, [], {
    input: JSON.stringify(stdin),
    env: { ...process.env, CNI_COMMAND: command },
    maxBuffer: 1 << 20,
    timeout: 60_000,
  });
}

/** Does the plugin's VERSION list `cniVersion`? (Spec: a plugin is only called with a version it supports.) */
export function delegateSpeaks(type: string, cniPath: string[], cniVersion: string): boolean {
  const r = run(findPlugin(type, cniPath), 'VERSION', { cniVersion });
  if (r.error || r.status !== 0) {
    throw new CniError(
      ErrCode.DelegateFailure,
      `IPAM plugin ${type} VERSION failed: ` +
        `${r.error?.message ?? (r.stdout?.toString() || `exit status ${r.status}`)}`,
    );
  }
  try {
    const v = (JSON.parse(r.stdout.toString()) as { supportedVersions?: unknown }).supportedVersions;
    return Array.isArray(v) && v.includes(cniVersion);
  } catch (e) {
    throw new CniError(
      ErrCode.DelegateFailure,
      `IPAM plugin ${type} VERSION answered garbage: ${(e as Error).message}`,
    );
  }
}

/** Run the IPAM plugin for `command`; returns its parsed result for ADD, undefined otherwise. */
export function execIpam(
  command: string,
  type: string,
  cniPath: string[],
  stdin: JsonObject,
  cniVersion: string,
): Result | undefined {
  const r = run(findPlugin(type, cniPath), command, stdin);
  const out = r.stdout?.toString() ?? '';
  if (r.error) throw new CniError(ErrCode.DelegateFailure, `IPAM plugin ${type} ${command}: ${r.error.message}`);
  if (r.status !== 0) {
    let code: number = ErrCode.DelegateFailure;
    let msg = (r.stderr?.toString() ?? '').trim() || `exit status ${r.status}`;
    try {
      const e = JSON.parse(out) as { code?: number; msg?: string; details?: string };
      if (typeof e.code === 'number') code = e.code;
      if (e.msg) msg = e.msg + (e.details ? `: ${e.details}` : '');
    } catch {
      /* not JSON: keep stderr */
    }
    throw new CniError(code, `IPAM plugin ${type} ${command} failed: ${msg}`);
  }
  if (command !== 'ADD') return undefined;
  try {
    return parsePrevResult(JSON.parse(out), cniVersion);
  } catch (e) {
    throw new CniError(
      ErrCode.DelegateFailure,
      `IPAM plugin ${type} returned an unreadable result: ${(e as Error).message}`,
    );
  }
}
