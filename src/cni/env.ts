// The CNI_* environment, validated per command as the spec's table says. Anything missing or
// malformed is CNI error 4 naming the variables.
import { CniError, ErrCode } from './errors';

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';
const COMMANDS: readonly Command[] = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'];

export interface CniEnv {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  args: string;
  path: string[];
}

/** Container IDs as libcni's ValidateContainerID (and containerd, CRI-O, podman) accept them. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export const isValidContainerId = (id: string): boolean => NAME_RE.test(id);

/** Which variables each command needs (CNI_NETNS is optional on DEL: the netns may be gone). */
const REQUIRED: Record<Command, (keyof NodeJS.ProcessEnv)[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: [],
  STATUS: [],
  VERSION: [],
};

export function parseCommand(raw: string | undefined): Command {
  const c = (raw ?? '').toUpperCase() as Command;
  if (!COMMANDS.includes(c)) throw new CniError(ErrCode.InvalidEnv, `unknown CNI_COMMAND: ${raw}`);
  return c;
}

export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = parseCommand(env.CNI_COMMAND);
  const missing = REQUIRED[command].filter((k) => !env[k]);
  if (missing.length) {
    throw new CniError(ErrCode.InvalidEnv, `required env variables [${missing.join(',')}] missing`);
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  if (containerId && !NAME_RE.test(containerId)) {
    throw new CniError(
      ErrCode.InvalidEnv,
      `invalid CNI_CONTAINERID ${JSON.stringify(containerId)}: must match ${NAME_RE.source}`,
    );
  }
  if (ifname) validateIfname(ifname);
  return {
    command,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifname,
    args: env.CNI_ARGS ?? '',
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  };
}

/**
 * Why an interface name is not acceptable, or '': the kernel's rules (1-15 bytes, not "." or "..",
 * no "/", ":" or white space) and, stricter than the kernel and libcni, no control characters
 * (the IPAM record could not hold it, and it would reach logs and terminals).
 */
export function ifnameProblem(name: string): string {
  return name === ''
    ? 'empty'
    : Buffer.byteLength(name) > 15
      ? 'longer than 15 bytes'
      : name === '.' || name === '..'
        ? 'reserved'
        : /[/:\s]/.test(name)
          ? 'contains "/", ":" or white space'
          : /[\x00-\x1f\x7f]/.test(name)
            ? 'contains control characters'
            : '';
}

export function validateIfname(name: string): void {
  const why = ifnameProblem(name);
  if (why) throw new CniError(ErrCode.InvalidEnv, `invalid CNI_IFNAME ${JSON.stringify(name)}: ${why}`);
}
