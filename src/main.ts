// tsbridge entry point. With CNI_COMMAND set it is a CNI plugin (runtimes exec it from
// /opt/cni/bin); without, a small CLI.
import { configureLog } from './log';
import { isSea } from './sys/sea';

/**
 * NODE_* variables from the runtime's environment must not change what this root process does.
 * The SEA ignores NODE_OPTIONS itself (execArgvExtension "none"); the rest of the family
 * (NODE_V8_COVERAGE, NODE_COMPILE_CACHE, NODE_REDIRECT_WARNINGS, NODE_ICU_DATA, ...) acts at start-up,
 * so when any is present we run ourselves again without them. NODE_EXTRA_CA_CERTS is only read
 * lazily by Node 24 and is simply dropped.
 */
function scrubNodeEnv(): void {
  delete process.env.NODE_EXTRA_CA_CERTS;
  delete process.env.NODE_OPTIONS;
  const hostile = Object.keys(process.env).filter((k) => k.startsWith('NODE_'));
  if (!hostile.length) return;
  if (process.env.TSBRIDGE_REEXECED) {
    // we already ran ourselves without them: someone put them back, refuse rather than loop
    process.stderr.write(`tsbridge: refusing to run with ${hostile.join(', ')} set\n`);
    process.exit(1);
  }
  // Node re-adds NODE_V8_COVERAGE to a child's env from process.env: remove them there first.
  for (const k of hostile) delete process.env[k];
  const env = { ...process.env, TSBRIDGE_REEXECED: '1' };
  const args = process.argv.slice(isSea() ? 2 : 1);
  // Node writes NODE_V8_COVERAGE's files on its way out, even through execve: stop collecting first.
  try { (require('node:v8') as { stopCoverage(): void }).stopCoverage(); } catch { /* not collecting */ }
  // execve: same pid, stdin untouched, and no child_process (NODE_DEBUG would make it print our env)
  if (process.execve) process.execve(process.execPath, [process.execPath, ...args], env);
  const r = (require('node:child_process') as typeof import('node:child_process'))
    .spawnSync(process.execPath, args, { env, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}


async function main(): Promise<number> {
  scrubNodeEnv();
  configureLog(process.env);
  if (process.env.CNI_COMMAND) {
    const { runPlugin } = await import('./plugin/dispatch');
    // Plugin output is written synchronously, so exit at once rather than wait for teardown.
    process.exit(await runPlugin(process.env));
  }
  const { runCli } = await import('./cli');
  return runCli(process.argv.slice(2));
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => {
    process.stderr.write(`tsbridge: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
