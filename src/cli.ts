// CLI mode (no CNI_COMMAND): what an operator types by hand. Every subcommand takes -h/--help
// (its usage on stdout, exit 0); a bad flag exits 2 naming the flag and the help command.
import { aboutText, BUILD, versionInfo } from './build-info';
import { SUPPORTED_VERSIONS } from './cni/version';
import { FlagSpec, parseFlags, usageExit } from './flags';
import { escapeControls, safeJson } from './safe-text';

const HELP = `tsbridge ${BUILD.version} - CNI bridge plugin (bridge + host-local + ipMasq in one binary)

As a CNI plugin it is exec'd by the container runtime with CNI_COMMAND set
(ADD, DEL, CHECK, GC, STATUS, VERSION) and the network config on stdin.
Run bare it prints its version on stderr, as the reference plugins do.

Commands (each takes -h/--help):
  tsbridge --version     the version, commit, build date and the CNI versions it speaks
  tsbridge version [--json]   the same (--json: machine-readable)
  tsbridge licenses      the licenses of what this binary embeds (runtime, npm packages)
  tsbridge help [COMMAND]     this text, or one command's
  tsbridge install | uninstall | routes | probe   Kubernetes node set-up (below)
  tsbridge doctor        find where a container's packets stop, and what fixes it (below)

Logs (stderr; the environment wins over the netconf keys):
  TSBRIDGE_LOG_LEVEL   logLevel    error | warn (default) | info (one line per command) | debug
  TSBRIDGE_LOG_FILE    logFile     also append to this file (not followed if a symlink; must be
                                   root's alone; rotated at 10 MiB to FILE.1)
  TSBRIDGE_LOG_FORMAT  logFormat   text (default) | json (time, level, command, containerID, ifname,
                                   netns, network, phase, durationMs, code)
`;

const VERSION_HELP = `
  tsbridge version       version, git commit, build date, runtime and the CNI versions it speaks
      --json                   as one JSON object
`;
const LICENSES_HELP = `
  tsbridge licenses      the license texts of what the binary embeds: the runtime and every npm package
      --list                   only name, version and license of each
`;
const HELP_HELP = `
  tsbridge help [COMMAND]   all commands, or one command's usage
`;

function versionText(): string {
  const v = versionInfo();
  return (
    `tsbridge ${v.version} (commit ${v.commit}, built ${v.buildDate}, ${v.runtime})\nCNI protocol versions ` +
    `supported: ${SUPPORTED_VERSIONS.join(', ')}\n`
  );
}

function licensesText(list: boolean): string {
  if (!BUILD.licenses.length) return 'no license texts: this is not the built executable (make build)\n';
  if (list) return BUILD.licenses.map((l) => `${l.name} ${l.version} ${l.license}\n`).join('');
  return BUILD.licenses.map((l) => `==== ${l.name} ${l.version} (${l.license}) ====\n\n${l.text}\n\n`).join('');
}

/** Commands that live here, with their flags and usage. */
const LOCAL: Record<string, { flags: FlagSpec; help: string }> = {
  version: { flags: { json: 'bool' }, help: VERSION_HELP },
  licenses: { flags: { list: 'bool' }, help: LICENSES_HELP },
  help: { flags: {}, help: HELP_HELP },
};

async function usageOf(cmd: string): Promise<string | undefined> {
  if (cmd in LOCAL) return LOCAL[cmd].help;
  if (cmd === 'doctor') return (await import('./doctor/help')).DOCTOR_HELP;
  const k8s = await import('./k8s/cli');
  return (k8s.K8S_USAGE as Record<string, string>)[cmd];
}

async function fullHelp(): Promise<string> {
  return HELP + (await import('./k8s/cli')).K8S_HELP + (await import('./doctor/help')).DOCTOR_HELP;
}

export async function runCli(argv: string[]): Promise<number> {
  // bare: what skel-based plugins answer (stderr, exit 0); the long help is `tsbridge help`
  if (argv.length === 0) {
    process.stderr.write(aboutText());
    return 0;
  }
  const cmd = argv[0];
  switch (cmd) {
    case 'install':
    case 'uninstall':
    case 'routes':
    case 'probe': {
      const { runK8s } = await import('./k8s/cli');
      return runK8s(cmd, argv.slice(1));
    }
    case 'doctor': {
      const { runDoctor } = await import('./doctor/cli');
      return runDoctor(argv.slice(1));
    }
    case '--version':
      process.stdout.write(versionText());
      return 0;
    case '--help':
    case '-h':
      process.stdout.write(await fullHelp());
      return 0;
  }
  const local = LOCAL[cmd];
  if (!local) {
    process.stderr.write(`tsbridge: unknown command "${escapeControls(cmd)}" (see tsbridge help)\n`);
    return 2;
  }
  let f;
  try {
    // `help` takes one command name; the others only flags
    const rest = cmd === 'help' ? argv.slice(1).filter((a) => a.startsWith('-')) : argv.slice(1);
    f = parseFlags(rest, local.flags);
  } catch (e) {
    return usageExit(cmd, e, local.help, escapeControls);
  }
  if (cmd === 'version') {
    process.stdout.write(f.json === true ? safeJson(versionInfo()) + '\n' : versionText());
    return 0;
  }
  if (cmd === 'licenses') {
    process.stdout.write(licensesText(f.list === true));
    return 0;
  }
  const topic = argv.slice(1).find((a) => !a.startsWith('-'));
  if (topic === undefined) {
    process.stdout.write(await fullHelp());
    return 0;
  }
  const usage = await usageOf(topic);
  if (!usage) {
    process.stderr.write(`tsbridge help: no command "${escapeControls(topic)}" (see tsbridge help)\n`);
    return 2;
  }
  process.stdout.write(usage.replace(/^\n/, ''));
  return 0;
}
