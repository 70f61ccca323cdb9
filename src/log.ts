// Logs go to stderr (never stdout: that is the runtime's result channel), and to a log file when
// TSBRIDGE_LOG_FILE names one. The level comes from TSBRIDGE_LOG_LEVEL (error|warn|info|debug).
import * as fs from 'node:fs';

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
type Level = keyof typeof LEVELS;

let threshold: number = LEVELS.warn;
let fileFd = -1;

export function configureLog(env: NodeJS.ProcessEnv): void {
  const lvl = (env.TSBRIDGE_LOG_LEVEL ?? '').toLowerCase() as Level;
  if (lvl in LEVELS) threshold = LEVELS[lvl];
  if (env.TSBRIDGE_LOG_FILE) {
    try {
      // O_NOFOLLOW: the log path cannot be pointed through a symlink at another file.
      // O_NONBLOCK: a FIFO nobody reads fails here instead of hanging the runtime's call.
      const fd = fs.openSync(env.TSBRIDGE_LOG_FILE,
        fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, 0o600);
      if (!fs.fstatSync(fd).isFile()) {
        fs.closeSync(fd);
        throw new Error(`${env.TSBRIDGE_LOG_FILE} is not a regular file`);
      }
      fileFd = fd;
    } catch (e) {
      process.stderr.write(`tsbridge: cannot open log file: ${(e as Error).message}\n`);
    }
  }
}

function write(level: Level, msg: string): void {
  if (LEVELS[level] > threshold) return;
  const line = `${new Date().toISOString()} tsbridge[${process.pid}] ${level}: ${msg}\n`;
  process.stderr.write(line);
  if (fileFd >= 0) fs.writeSync(fileFd, line);
}

export const log = {
  error: (m: string): void => write('error', m),
  warn: (m: string): void => write('warn', m),
  info: (m: string): void => write('info', m),
  debug: (m: string): void => write('debug', m),
};

/** Debug-level step timing since process start: where did this invocation spend its time? */
export function trace(step: string): void {
  if (threshold >= LEVELS.debug) write('debug', `+${performance.now().toFixed(1)}ms ${step}`);
}
