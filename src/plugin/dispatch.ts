// Plugin mode: read env and stdin, run the command, print the result (or the CNI error JSON) on
// stdout. This is the only place that writes to stdout.
import { parseCniArgs } from '../cni/args';
import { parseCommand, parseEnv } from '../cni/env';
import { CniError, ErrCode, errorJson } from '../cni/errors';
import { isObject } from '../cni/json';
import { parseNetConf } from '../cni/netconf';
import { toVersion } from '../cni/result';
import { hasCheck, hasGcAndStatus, IMPLICIT_VERSION, LATEST_VERSION, SUPPORTED_VERSIONS } from '../cni/version';
import { writeFully } from '../sys/write';
import { configureLog, currentPhase, log, logSettingsOf, setLogContext, trace } from '../log';
import { fs } from '../sys/lazy-fs';

export async function runPlugin(env: NodeJS.ProcessEnv): Promise<number> {
  let version = LATEST_VERSION;
  try {
    trace('dispatch');
    const command = parseCommand(env.CNI_COMMAND);
    if (command === 'VERSION') {
      await answerVersion();
      return 0;
    }
    const stdin = readStdin();
    version = peekVersion(stdin) ?? version;
    setLogContext({ command });
    logFromNetconf(env, stdin);
    const cniEnv = parseEnv(env);
    const net = parseNetConf(stdin);
    version = net.cniVersion;
    setLogContext({ containerID: cniEnv.containerId, ifname: cniEnv.ifname, netns: cniEnv.netns, network: net.name });
    log.debug(
      `${command} container=${cniEnv.containerId} ifname=${cniEnv.ifname} netns=${cniEnv.netns} network=${net.name}`,
    );
    if (command === 'CHECK' && !hasCheck(version)) {
      throw new CniError(
        ErrCode.IncompatibleVersion,
        `config version does not allow CHECK (cniVersion ${version} < 0.4.0)`,
      );
    }
    if ((command === 'GC' || command === 'STATUS') && !hasGcAndStatus(version)) {
      throw new CniError(
        ErrCode.IncompatibleVersion,
        `config version does not allow ${command} (cniVersion ${version} < 1.1.0)`,
      );
    }
    // Loaded only here: VERSION and every error above never pay for the kernel modules.
    const { parseBridgeConfig } = await import('../attachment/config');
    const cfg = parseBridgeConfig(net, parseCniArgs(cniEnv.args));
    trace('config parsed');
    let done = 'done';
    switch (command) {
      case 'ADD': {
        const { cmdAdd } = await import('./add');
        trace('add loaded');
        const result = await cmdAdd(cfg, cniEnv);
        print(toVersion(result, version));
        done = `${cniEnv.ifname} ${(result.ips ?? []).map((i) => i.address).join(' ')} on ${cfg.bridge}`;
        break;
      }
      case 'DEL': {
        const { cmdDel } = await import('./del');
        trace('del loaded');
        await cmdDel(cfg, cniEnv);
        break;
      }
      case 'CHECK':
        await (await import('./check')).cmdCheck(cfg, cniEnv);
        break;
      case 'GC':
        await (await import('./gc')).cmdGc(cfg, cniEnv);
        break;
      case 'STATUS':
        await (await import('./status')).cmdStatus(cfg, cniEnv);
        break;
    }
    // the one info line per command: what was done, and how long the whole invocation took
    const ms = performance.now();
    log.info(`${command} ok: ${done} (${ms.toFixed(1)}ms)`, { phase: 'done', durationMs: ms });
    return 0;
  } catch (e) {
    const out = errorJson(e, version);
    const ms = performance.now();
    log.error(
      `${env.CNI_COMMAND ?? ''} failed after ${currentPhase()} (${ms.toFixed(1)}ms): ` +
        `${out.msg}${e instanceof CniError ? '' : `\n${(e as Error).stack ?? ''}`}`,
      { phase: currentPhase(), durationMs: ms, code: out.code },
    );
    print(out);
    return 1;
  }
}

/**
 * The netconf's logLevel/logFile/logFormat, read before the config is validated so that its own
 * errors reach the configured log too. A bad value is the config's error (code 7, naming the key).
 */
function logFromNetconf(env: NodeJS.ProcessEnv, stdin: Buffer): void {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin.toString());
  } catch {
    return; // parseNetConf reports it
  }
  try {
    configureLog(env, logSettingsOf(raw));
  } catch (e) {
    throw new CniError(ErrCode.InvalidConfig, (e as Error).message);
  }
}

function readStdin(): Buffer {
  try {
    return fs().readFileSync(0);
  } catch {
    return Buffer.alloc(0); // no stdin at all (closed or a tty): only VERSION can do without it
  }
}

/** What VERSION uses of Bun: its own stdin and stdout, cheaper to start than node:fs. */
interface BunIo {
  stdin: { text(): Promise<string> };
  stdout: unknown;
  write(dest: unknown, data: string): Promise<number>;
}
const bunIo = (globalThis as { Bun?: BunIo }).Bun;

/** VERSION is the runtime's probe, exec'd often: answered without loading node:fs (~1 ms, ~1 MB less). */
async function answerVersion(): Promise<void> {
  if (!bunIo) return print(versionReply(readStdin()));
  let text = '';
  try {
    text = await bunIo.stdin.text();
  } catch {
    /* no stdin at all: as readStdin */
  }
  // resolves once all of it is written: exiting right after loses nothing
  await bunIo.write(bunIo.stdout, JSON.stringify(versionReply(Buffer.from(text))) + '\n');
}

function print(obj: unknown): void {
  writeFully(1, JSON.stringify(obj) + '\n');
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
  } catch {
    /* empty or not JSON: answer with the latest */
  }
  return { cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] };
}
