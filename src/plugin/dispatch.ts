// Plugin mode: read env and stdin, run the command, print the result (or the CNI error JSON) on
// stdout. This is the only place that writes to stdout.
import * as fs from 'node:fs';
import { parseCniArgs } from '../cni/args';
import { parseCommand, parseEnv } from '../cni/env';
import { CniError, ErrCode, errorJson } from '../cni/errors';
import { isObject } from '../cni/json';
import { parseNetConf } from '../cni/netconf';
import { toVersion } from '../cni/result';
import { hasCheck, hasGcAndStatus, IMPLICIT_VERSION, LATEST_VERSION, SUPPORTED_VERSIONS } from '../cni/version';
import { log, trace } from '../log';

export async function runPlugin(env: NodeJS.ProcessEnv): Promise<number> {
  let version = LATEST_VERSION;
  try {
    trace('dispatch');
    const command = parseCommand(env.CNI_COMMAND);
    const stdin = readStdin();
    if (command === 'VERSION') {
      print(versionReply(stdin));
      return 0;
    }
    version = peekVersion(stdin) ?? version;
    const cniEnv = parseEnv(env);
    const net = parseNetConf(stdin);
    version = net.cniVersion;
    log.debug(`${command} container=${cniEnv.containerId} ifname=${cniEnv.ifname} netns=${cniEnv.netns} network=${net.name}`);
    if (command === 'CHECK' && !hasCheck(version)) {
      throw new CniError(ErrCode.IncompatibleVersion, `config version does not allow CHECK (cniVersion ${version} < 0.4.0)`);
    }
    if ((command === 'GC' || command === 'STATUS') && !hasGcAndStatus(version)) {
      throw new CniError(ErrCode.IncompatibleVersion, `config version does not allow ${command} (cniVersion ${version} < 1.1.0)`);
    }
    // Loaded only here: VERSION and every error above never pay for the kernel modules.
    const { parseBridgeConfig } = await import('./config');
    const cfg = parseBridgeConfig(net, parseCniArgs(cniEnv.args));
    switch (command) {
      case 'ADD': {
        trace('config parsed');
        const { cmdAdd } = await import('./add');
        trace('add loaded');
        print(toVersion(await cmdAdd(cfg, cniEnv), version));
        break;
      }
      case 'DEL': await (await import('./del')).cmdDel(cfg, cniEnv); break;
      case 'CHECK': await (await import('./check')).cmdCheck(cfg, cniEnv); break;
      case 'GC': await (await import('./gc')).cmdGc(cfg, cniEnv); break;
      case 'STATUS': await (await import('./status')).cmdStatus(cfg, cniEnv); break;
    }
    return 0;
  } catch (e) {
    const out = errorJson(e, version);
    log.error(`${env.CNI_COMMAND ?? ''} failed: ${out.msg}${e instanceof CniError ? '' : `\n${(e as Error).stack ?? ''}`}`);
    print(out);
    return 1;
  }
}

function readStdin(): Buffer {
  try {
    return fs.readFileSync(0);
  } catch {
    return Buffer.alloc(0); // no stdin at all (closed or a tty): only VERSION can do without it
  }
}

function print(obj: unknown): void {
  fs.writeSync(1, JSON.stringify(obj) + '\n');
}

/** The config's version before full validation, so even early errors answer in it (none given: 0.1.0, as libcni). */
export function peekVersion(stdin: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(stdin.toString());
    if (!isObject(parsed)) return undefined;
    const v = parsed.cniVersion === undefined || parsed.cniVersion === '' ? IMPLICIT_VERSION : parsed.cniVersion;
    return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** VERSION echoes the input's cniVersion (the spec; the Go reference always says 1.1.0). */
export function versionReply(stdin: Buffer): { cniVersion: string; supportedVersions: string[] } {
  let v = LATEST_VERSION;
  try {
    const parsed: unknown = JSON.parse(stdin.toString());
    if (isObject(parsed) && typeof parsed.cniVersion === 'string' && parsed.cniVersion) v = parsed.cniVersion;
  } catch { /* empty or not JSON: answer with the latest */ }
  return { cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] };
}
