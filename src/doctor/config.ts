// The network doctor checks: a conflist or a single conf, given as a file or found by name in the
// runtime's config directory (the lexically first file holding a tsbridge network when neither is
// given, as a runtime picks its default network). A conflist's tsbridge entry gets the list's name
// and cniVersion, as libcni injects them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCniArgs } from '../cni/args';
import { getKey, isObject, JsonObject } from '../cni/json';
import { parseNetConf } from '../cni/netconf';
import { HostLocalConfig, parseHostLocalConfig } from '../ipam/config';
import { BridgeConfig, parseBridgeConfig } from '../attachment/config';

export class ConfigError extends Error {}

export interface LoadedNetwork {
  file: string;
  cfg: BridgeConfig;
  ipam?: HostLocalConfig;
}

const PLUGIN_TYPES = ['tsbridge'];

/** The tsbridge plugin's config out of a parsed file, or undefined when it holds none. */
export function tsbridgeConf(doc: unknown): JsonObject | undefined {
  if (!isObject(doc)) return undefined;
  const plugins = getKey(doc, 'plugins');
  if (Array.isArray(plugins)) {
    const p = plugins.find((x) => isObject(x) && PLUGIN_TYPES.includes(String(getKey(x, 'type'))));
    if (!isObject(p)) return undefined;
    return {
      ...p,
      name: getKey(doc, 'name'),
      cniVersion: getKey(doc, 'cniVersion') ?? getKey(p, 'cniVersion'),
    } as JsonObject;
  }
  return PLUGIN_TYPES.includes(String(getKey(doc, 'type'))) ? doc : undefined;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file} is not JSON: ${(e as Error).message}`);
  }
}

function confFiles(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => /\.(conf|conflist|json)$/.test(f))
      .sort()
      .map((f) => path.join(dir, f));
  } catch (e) {
    throw new ConfigError(`cannot list ${dir}: ${(e as Error).message}`);
  }
}

export function loadNetwork(opts: { config?: string; network?: string; confDir: string }): LoadedNetwork {
  let file: string | undefined;
  let conf: JsonObject | undefined;
  if (opts.config) {
    file = opts.config;
    conf = tsbridgeConf(readJson(file));
    if (!conf) throw new ConfigError(`${file} holds no plugin of type tsbridge`);
    if (opts.network && getKey(conf, 'name') !== opts.network)
      throw new ConfigError(`${file} is network "${String(getKey(conf, 'name'))}", not "${opts.network}"`);
  } else {
    for (const f of confFiles(opts.confDir)) {
      let doc: unknown;
      try {
        doc = readJson(f);
      } catch {
        continue;
      }
      const c = tsbridgeConf(doc);
      if (c && (opts.network === undefined || getKey(c, 'name') === opts.network)) {
        [file, conf] = [f, c];
        break;
      }
    }
    if (!file || !conf) {
      throw new ConfigError(
        opts.network
          ? `no config in ${opts.confDir} has a tsbridge network named "${opts.network}" (use --config FILE)`
          : `no config in ${opts.confDir} has a tsbridge network (use --config FILE or --network NAME)`,
      );
    }
  }
  let cfg: BridgeConfig;
  try {
    cfg = parseBridgeConfig(parseNetConf(JSON.stringify(conf)), parseCniArgs(''));
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message}`);
  }
  const ipamType = cfg.net.ipam ? getKey(cfg.net.ipam, 'type') : undefined;
  let ipam: HostLocalConfig | undefined;
  if (ipamType === 'host-local') {
    try {
      ipam = parseHostLocalConfig(cfg.net.ipam!, cfg.net.name);
    } catch (e) {
      throw new ConfigError(`${file}: ${(e as Error).message}`);
    }
  }
  return { file, cfg, ipam };
}
