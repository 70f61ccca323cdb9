// CLI mode (no CNI_COMMAND): what an operator types by hand.
import { SUPPORTED_VERSIONS } from './cni/version';

export const TSBRIDGE_VERSION = '0.1.0';

const HELP = `tsbridge ${TSBRIDGE_VERSION} - CNI bridge plugin (bridge + host-local + ipMasq in one binary)

As a CNI plugin it is exec'd by the container runtime with CNI_COMMAND set
(ADD, DEL, CHECK, GC, STATUS, VERSION) and the network config on stdin.

Commands:
  tsbridge --version     print the version and the CNI versions it speaks
  tsbridge help          this text
  tsbridge install | uninstall | routes   Kubernetes node set-up (below)
  tsbridge doctor        find where a container's packets stop, and what fixes it (below)

Environment:
  TSBRIDGE_LOG_LEVEL     error | warn (default) | info | debug   (logs go to stderr)
  TSBRIDGE_LOG_FILE      also append logs to this file (not followed if a symlink)
`;

export async function runCli(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? 'help';
  switch (cmd) {
    case 'install':
    case 'uninstall':
    case 'routes': {
      const { runK8s } = await import('./k8s/cli');
      return runK8s(cmd, argv.slice(1));
    }
    case 'doctor': {
      const { runDoctor } = await import('./doctor/cli');
      return runDoctor(argv.slice(1));
    }
    case '--version':
    case 'version':
      process.stdout.write(`tsbridge ${TSBRIDGE_VERSION}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP + (await import('./k8s/cli')).K8S_HELP + (await import('./doctor/help')).DOCTOR_HELP);
      return 0;
    default:
      process.stderr.write(`tsbridge: unknown command "${cmd}"\n\n${HELP}`);
      return 2;
  }
}
