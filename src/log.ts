// Logs go to stderr (never stdout: that is the runtime's result channel), and to a log file when
// TSBRIDGE_LOG_FILE names one that is safe to write into (openLogFile). The level comes from
// TSBRIDGE_LOG_LEVEL (error|warn|info|debug). Messages are escaped: one message, one line.
import * as fs from 'node:fs';
import { escapeControls } from './safe-text';

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
type Level = keyof typeof LEVELS;

let threshold: number = LEVELS.warn;
let fileFd = -1;

export function configureLog(env: NodeJS.ProcessEnv): void {
  const lvl = (env.TSBRIDGE_LOG_LEVEL ?? '').toLowerCase() as Level;
  if (lvl in LEVELS) threshold = LEVELS[lvl];
  if (env.TSBRIDGE_LOG_FILE) fileFd = openLogFile(env.TSBRIDGE_LOG_FILE);
}

/**
 * An fd on the log file, or -1 (with one warning on stderr) when it is not safe to write root's
 * lines into it. O_NOFOLLOW: not through a symlink. O_NONBLOCK: a FIFO nobody reads fails instead
 * of hanging the runtime's call. Then the opened file itself must be a regular file of ours, with
 * one link (a hard link planted by another user would receive the lines) and not writable by group
 * or others (they could forge lines).
 */
export function openLogFile(file: string): number {
  let fd = -1;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, 0o600);
    const why = unsafeLogFile(fs.fstatSync(fd), process.geteuid ? process.geteuid() : 0);
    if (why) throw new Error(`${file} ${why}`);
    return fd;
  } catch (e) {
    if (fd >= 0) fs.closeSync(fd);
    process.stderr.write(`tsbridge: cannot open log file (not logging to it): ${escapeControls((e as Error).message)}\n`);
    return -1;
  }
}

/** Why an opened log file must not be written to, or '' when it is fine. */
export function unsafeLogFile(st: { isFile(): boolean; uid: number; nlink: number; mode: number }, euid: number): string {
  if (!st.isFile()) return 'is not a regular file';
  if (st.uid !== euid) return `is owned by uid ${st.uid}, not ${euid}`;
  if (st.nlink !== 1) return `has ${st.nlink} hard links (one may be planted)`;
  if (st.mode & 0o022) return `is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return '';
}

function write(level: Level, msg: string): void {
  if (LEVELS[level] > threshold) return;
  // newlines and terminal escapes from CNI_ARGS, names or API messages cannot forge or hide lines
  const line = `${new Date().toISOString()} tsbridge[${process.pid}] ${level}: ${escapeControls(msg)}\n`;
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
