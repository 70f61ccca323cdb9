// tsbridge entry point. With CNI_COMMAND set it is a CNI plugin (runtimes exec it from
// /opt/cni/bin); without, a small CLI.
import { configureLog } from './log';
import { isCompiled } from './sys/compiled';
import { writeFully } from './sys/write';

/**
 * The runtime's environment must not change what this root process does. Bun reads BUN_* (e.g.
 * BUN_CONFIG_VERBOSE_FETCH prints requests with their headers, BUN_JSC_* set engine options,
 * BUN_OPTIONS adds runtime flags such as --inspect) and some NODE_* (NODE_TLS_REJECT_UNAUTHORIZED,
 * NODE_EXTRA_CA_CERTS), several of them once at start-up, so deleting them from process.env is not
 * enough: when any is present we run ourselves again without them (execve: same pid, stdin
 * untouched). What BUN_OPTIONS (--preload) and BUN_BE_BUN do happens before our first line and
 * cannot be undone here: see docs/build.md.
 */
const RUNTIME_ENV = /^(NODE|BUN)_/;

/**
 * Set (`--define`) only by build/record-bytecode-order.mjs for the binary that records which
 * functions a call runs (BUN_BYTECODE_ORDER_OUT, written at exit): that binary alone keeps the
 * variable. The production build never sets it and scrubs it like any other (binary-env test).
 */
declare const TSBRIDGE_RECORD_BYTECODE_ORDER: boolean | undefined;
const RECORDING = typeof TSBRIDGE_RECORD_BYTECODE_ORDER !== 'undefined' && TSBRIDGE_RECORD_BYTECODE_ORDER === true;
const scrubbed = (k: string): boolean => RUNTIME_ENV.test(k) && !(RECORDING && k === 'BUN_BYTECODE_ORDER_OUT');

function scrubRuntimeEnv(): void {
  const hostile = Object.keys(process.env).filter(scrubbed);
  if (!hostile.length) return;
  if (process.env.TSBRIDGE_REEXECED) {
    // we already ran ourselves without them: someone put them back, refuse rather than loop
    writeFully(2, `tsbridge: refusing to run with ${hostile.join(', ')} set\n`);
    process.exit(1);
  }
  const env: Record<string, string> = { TSBRIDGE_REEXECED: '1' };
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !scrubbed(k)) env[k] = v;
  const args = process.argv.slice(isCompiled() ? 2 : 1);
  // /proc/self/exe: this very file even when it was replaced on disk since we started (an update
  // renames a new binary over the path; the path may then name another file, or "(deleted)")
  const self = isCompiled() ? '/proc/self/exe' : process.execPath;
  if (process.execve) {
    process.emitWarning = () => undefined; // "process.execve is experimental": not the runtime's stderr to fill
    process.execve(self, [process.execPath, ...args], env);
  }
  const r = (require('node:child_process') as typeof import('node:child_process')).spawnSync(self, args, {
    env,
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

async function main(): Promise<number> {
  scrubRuntimeEnv();
  configureLog(process.env);
  if (process.env.CNI_COMMAND) {
    const { runPlugin } = await import('./plugin/dispatch');
    // Plugin output is written synchronously, so exit at once rather than wait for teardown.
    process.exit(await runPlugin(process.env));
  }
  // The executable starts with the JIT held back for run-once plugin code (build/build.mjs);
  // CLI commands may run long (the agents) and get the normal policy.
  (globalThis as { Bun?: { unsafe?: { setJITPolicy?: (scale: number) => void } } }).Bun?.unsafe?.setJITPolicy?.(1);
  const { runCli } = await import('./cli');
  return runCli(process.argv.slice(2));
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    try {
      writeFully(2, `tsbridge: ${(e as Error).stack ?? e}\n`);
    } catch {
      /* stderr closed */
    }
    process.exitCode = 1;
  },
);
