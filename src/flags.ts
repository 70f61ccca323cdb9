// Flags of every subcommand (tsbridge's own, doctor, the Kubernetes ones): --name=value,
// --name value, --flag, --no-flag. Given an environment (the Kubernetes commands pass theirs), every
// flag can also come from it as TSBRIDGE_<NAME> (--pod-cidr -> TSBRIDGE_POD_CIDR), so a DaemonSet
// can set them with env and the downward API; a flag on the command line wins. A 'list' flag may be
// repeated and each value may be a comma list; its values on the command line replace the
// environment's. Pure.
export type FlagKind = 'string' | 'bool' | 'list';
export type FlagSpec = Record<string, FlagKind>;
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

const items = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export class UsageError extends Error {}
/** -h or --help anywhere a flag may stand: the command prints its usage on stdout and exits 0. */
export class HelpRequest extends Error {}

/**
 * The one way every subcommand ends on its flags: help on stdout (0), a usage error on stderr
 * naming the help command (2). Anything else is not ours to handle: rethrown.
 */
export function usageExit(cmd: string, e: unknown, help: string, escapeText: (s: string) => string): number {
  if (e instanceof HelpRequest) {
    process.stdout.write(help.replace(/^\n/, ''));
    return 0;
  }
  if (e instanceof UsageError) {
    process.stderr.write(`tsbridge ${cmd}: ${escapeText(e.message)} (see tsbridge ${cmd} --help)\n`);
    return 2;
  }
  throw e;
}

export const envName = (flag: string): string => `TSBRIDGE_${flag.toUpperCase().replace(/-/g, '_')}`;

function parseBool(name: string, v: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new UsageError(`--${name}: "${v}" is not a boolean`);
}

/** Unknown flags are errors: a typo must never silently install defaults on every node. */
export function parseFlags(argv: string[], spec: FlagSpec, env: NodeJS.ProcessEnv = {}): FlagValues {
  const out: FlagValues = {};
  for (const [name, kind] of Object.entries(spec)) {
    const v = env[envName(name)];
    if (v !== undefined && v !== '') out[name] = kind === 'bool' ? parseBool(name, v) : kind === 'list' ? items(v) : v;
  }
  const fromArgv = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') throw new HelpRequest();
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    let value: string | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
    if (spec[name] === undefined && name.startsWith('no-') && spec[name.slice(3)] === 'bool' && value === undefined) {
      out[name.slice(3)] = false;
      continue;
    }
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown flag --${name}`);
    if (kind === 'bool') {
      out[name] = value === undefined ? true : parseBool(name, value);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    }
    if (kind === 'list') {
      const prev = fromArgv.has(name) ? (out[name] as string[]) : [];
      fromArgv.add(name);
      out[name] = [...prev, ...items(value)];
      continue;
    }
    out[name] = value;
  }
  return out;
}
