// Logs go to stderr (never stdout: that is the runtime's result channel), and to a log file that
// is safe to write into (openLogFile). Settings: TSBRIDGE_LOG_LEVEL / _FILE / _FORMAT, else the
// plugin's netconf keys logLevel / logFile / logFormat (runtimes do not pass the operator's
// environment to plugins; the environment, when set, wins). Text lines, or JSON lines with the
// command's context (container, ifname, netns, network), the phase and its duration, and the CNI
// code of an error. Messages are escaped: one message, one line. The file is rotated at
// MAX_LOG_BYTES to one ".1" file: at most twice that on disk.
import { escapeControls, safeJson } from './safe-text';
import { writeFully } from './sys/write';
import { fs } from './sys/lazy-fs';

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
type Level = keyof typeof LEVELS;
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** What the netconf (and `tsbridge install --log-*`) may set. */
export interface LogSettings {
  logLevel?: Level;
  logFile?: string;
  logFormat?: LogFormat;
}

export const MAX_LOG_BYTES = 10 << 20;

/** Why a log setting's value is refused, or '' (the message names what is accepted). */
export function logSettingProblem(key: keyof LogSettings, v: unknown): string {
  if (typeof v !== 'string') return `${key} must be a string`;
  if (key === 'logLevel' && !(v in LEVELS)) return `"${v}" is not a log level (${Object.keys(LEVELS).join(', ')})`;
  if (key === 'logFormat' && !(LOG_FORMATS as readonly string[]).includes(v))
    return `"${v}" is not a log format (${LOG_FORMATS.join(', ')})`;
  if (key === 'logFile' && !v.startsWith('/')) return `"${v}" is not an absolute path`;
  return '';
}

/** The log keys of a plugin's netconf (unvalidated JSON); a bad value throws with the fix. Pure. */
export function logSettingsOf(conf: unknown): LogSettings {
  const out: LogSettings = {};
  if (!conf || typeof conf !== 'object') return out;
  for (const key of ['logLevel', 'logFile', 'logFormat'] as const) {
    const v = (conf as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const why = logSettingProblem(key, v);
    if (why) throw new Error(`${key}: ${why}`);
    out[key] = v as never;
  }
  return out;
}

/** Who this invocation works for: added to every JSON line. */
export interface LogContext {
  command?: string;
  containerID?: string;
  ifname?: string;
  netns?: string;
  network?: string;
}
/** One line's own fields: the phase (and its duration), the CNI error code. */
export interface LogFields {
  phase?: string;
  durationMs?: number;
  code?: number;
}

let threshold: number = LEVELS.warn;
let format: LogFormat = 'text';
let context: LogContext = {};
let fileFd = -1;
let filePath = '';
let fileBytes = 0;
let maxBytes = MAX_LOG_BYTES;

/**
 * Called at start with the environment, and again by the plugin with its netconf's settings: the
 * environment's value wins over the netconf's for each of the three. A file already open stays open.
 */
export function configureLog(env: NodeJS.ProcessEnv, conf: LogSettings = {}, opts: { maxBytes?: number } = {}): void {
  const envLevel = (env.TSBRIDGE_LOG_LEVEL ?? '').toLowerCase();
  const lvl = envLevel in LEVELS ? (envLevel as Level) : conf.logLevel;
  if (lvl) threshold = LEVELS[lvl];
  const envFormat = (env.TSBRIDGE_LOG_FORMAT ?? '').toLowerCase();
  format = (LOG_FORMATS as readonly string[]).includes(envFormat)
    ? (envFormat as LogFormat)
    : (conf.logFormat ?? format);
  if (opts.maxBytes) maxBytes = opts.maxBytes;
  const file = env.TSBRIDGE_LOG_FILE || conf.logFile || '';
  if (file && file !== filePath) {
    closeLogFile();
    fileFd = openLogFile(file);
    if (fileFd >= 0) {
      filePath = file;
      fileBytes = fs().fstatSync(fileFd).size;
    }
  }
}

export function setLogContext(c: LogContext): void {
  context = { ...context, ...c };
}

export function closeLogFile(): void {
  if (fileFd >= 0) fs().closeSync(fileFd);
  fileFd = -1;
  filePath = '';
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
    fd = fs().openSync(
      file,
      fs().constants.O_WRONLY |
        fs().constants.O_APPEND |
        fs().constants.O_CREAT |
        fs().constants.O_NOFOLLOW |
        fs().constants.O_NONBLOCK,
      0o600,
    );
    const why = unsafeLogFile(fs().fstatSync(fd), process.geteuid ? process.geteuid() : 0);
    if (why) throw new Error(`${file} ${why}`);
    return fd;
  } catch (e) {
    if (fd >= 0) fs().closeSync(fd);
    toStderr(`tsbridge: cannot open log file (not logging to it): ${escapeControls((e as Error).message)}\n`);
    return -1;
  }
}

/** Why an opened log file must not be written to, or '' when it is fine. */
export function unsafeLogFile(
  st: { isFile(): boolean; uid: number; nlink: number; mode: number },
  euid: number,
): string {
  if (!st.isFile()) return 'is not a regular file';
  if (st.uid !== euid) return `is owned by uid ${st.uid}, not ${euid}`;
  if (st.nlink !== 1) return `has ${st.nlink} hard links (one may be planted)`;
  if (st.mode & 0o022) return `is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return '';
}

/**
 * The file reached the cap: it becomes FILE.1 (replacing the older one) and a new FILE is opened
 * with the same checks. Renamed only while FILE is still the file we hold, so when several plugin
 * processes cross the cap together only the first renames; the others reopen its new file.
 */
function rotate(): void {
  const file = filePath;
  try {
    const mine = fs().fstatSync(fileFd);
    const now = fs().lstatSync(file);
    if (now.ino === mine.ino && now.dev === mine.dev) fs().renameSync(file, `${file}.1`);
  } catch {
    /* gone or renamed by another process: reopen */
  }
  closeLogFile();
  fileFd = openLogFile(file);
  if (fileFd >= 0) {
    filePath = file;
    fileBytes = fs().fstatSync(fileFd).size;
  }
}

let stderrSink: ((line: string) => void) | null = null;

/** Tests: receive the lines meant for stderr instead (null: fd 2 again). */
export function redirectLogStderr(sink: ((line: string) => void) | null): void {
  stderrSink = sink;
}

/** Synchronous (nothing is left buffered at exit); a closed stderr must not fail the call. */
function toStderr(line: string): void {
  if (stderrSink) {
    stderrSink(line);
    return;
  }
  try {
    writeFully(2, line);
  } catch {
    /* the log file still has the line */
  }
}

function writeFile(line: string): void {
  if (fileFd < 0) return;
  const bytes = Buffer.byteLength(line);
  try {
    if (fileBytes > 0 && fileBytes + bytes > maxBytes) rotate();
    if (fileFd < 0) return;
    fs().writeSync(fileFd, line);
    fileBytes += bytes;
  } catch {
    /* a full disk must not fail the runtime's call: stderr still has the line */
  }
}

function write(level: Level, msg: string, fields: LogFields = {}): void {
  if (LEVELS[level] > threshold) return;
  let line: string;
  if (format === 'json') {
    const rec = { time: new Date().toISOString(), level, pid: process.pid, ...context, ...fields, msg };
    if (rec.durationMs !== undefined) rec.durationMs = Math.round(rec.durationMs * 10) / 10;
    line = safeJson(rec, 0) + '\n';
  } else {
    // newlines and terminal escapes from CNI_ARGS, names or API messages cannot forge or hide lines
    line = `${new Date().toISOString()} tsbridge[${process.pid}] ${level}: ${escapeControls(msg)}\n`;
  }
  toStderr(line);
  writeFile(line);
}

export const log = {
  error: (m: string, f?: LogFields): void => write('error', m, f),
  warn: (m: string, f?: LogFields): void => write('warn', m, f),
  info: (m: string, f?: LogFields): void => write('info', m, f),
  debug: (m: string, f?: LogFields): void => write('debug', m, f),
};

let lastStep = 0;
let traced = false;
let lastPhase = 'start';

/** The step this invocation reached last (an error's phase). */
export const currentPhase = (): string => lastPhase;

/**
 * Debug-level step timing: each step with the time since the previous one (and since start in
 * text), and the CPU (user + sys, all our threads, not our children) used since start: unlike
 * wall time, that does not depend on how busy the machine is.
 */
export function trace(step: string): void {
  const now = performance.now();
  const took = now - lastStep;
  lastStep = now;
  lastPhase = step;
  if (threshold < LEVELS.debug) return;
  const cpu = process.cpuUsage();
  // the first line places the runtime's clock (epoch ms): the bench tells exec time from run time
  const origin = traced ? '' : ` (clock origin ${performance.timeOrigin.toFixed(1)})`;
  traced = true;
  write('debug', `+${now.toFixed(1)}ms cpu=${((cpu.user + cpu.system) / 1000).toFixed(1)}ms ${step}${origin}`, {
    phase: step,
    durationMs: took,
  });
}
