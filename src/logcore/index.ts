// logcore: structured JSON logging for applications, one line per record:
//
//   {"timestamp":"2026-02-08T20:30:00.123Z","level":"INFO","logger":"my_app","message":"User action","context":{"user_id":123}}
//
// Keys always in this order; `context` is always present (`{}` when empty); `exception` follows it
// only when an error is attached. clients/python/logcore.py writes the same lines from Python.

import { Destination, destinationFor, reopenAll } from './destination.js';
import { compileRedaction, type Redaction, type SerializedError, serializeError, toJsonValue, wellFormed } from './serialize.js';

export { REDACTED, CIRCULAR, TOO_DEEP, type SerializedError } from './serialize.js';

/** Method names, lowest to highest. */
export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LevelName = (typeof LEVELS)[number];

/** The `level` field as written: the same names in Node and Python. */
export const LEVEL_LABELS: Readonly<Record<LevelName, string>> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'FATAL',
};

/** Accepted by `options.level`: a method name in any case, `WARNING`/`CRITICAL` (Python's names), or `silent`. */
export type LevelOption = LevelName | Uppercase<LevelName> | 'warning' | 'WARNING' | 'critical' | 'CRITICAL' | 'silent' | 'SILENT';

export interface LoggerOptions {
  /** Append lines to this file (created with its directory if missing). Default: stdout. */
  logFile?: string;
  /** Lowest level written. Default: `info`. */
  level?: LevelOption;
  /** Context merged into every line of this logger (a call's own context wins on equal keys). */
  context?: Record<string, unknown>;
  /** Keys (`password`, any depth) and paths (`context.card`, `context.users.*.email`) written as "[Redacted]". */
  redact?: readonly string[];
}

export interface LogOptions {
  context?: Record<string, unknown>;
  /** An error (or anything thrown), written under `exception` with its cause chain; null/undefined: none. */
  err?: unknown;
}

export type LogMethod = (message: string, options?: LogOptions) => void;

export interface Logger {
  readonly name: string;
  readonly level: LevelName | 'silent';
  trace: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  fatal: LogMethod;
  isLevelEnabled(level: LevelName): boolean;
  /** A logger writing to the same place whose lines carry this context too. */
  child(context: Record<string, unknown>): Logger;
  /** Writes buffered lines now. */
  flush(): Promise<void>;
  /** Reopens the log file by its path (after logrotate renamed it). SIGHUP does this for every file. */
  reopen(): void;
  /**
   * Flushes and closes the destination, for every logger sharing it. Idempotent. Lines logged
   * afterwards are dropped silently: a logging call must never throw into the application.
   */
  close(): Promise<void>;
}

/** The object handed to pino; its key order is the line's key order. */
interface LineObject {
  level: string;
  logger: string;
  message: string;
  context: unknown;
  exception?: SerializedError;
}

const SILENT = LEVELS.length;

function parseLevel(level: unknown): number {
  if (level === undefined) return LEVELS.indexOf('info');
  if (typeof level === 'string') {
    const lower = level.toLowerCase();
    const alias = lower === 'warning' ? 'warn' : lower === 'critical' ? 'fatal' : lower;
    if (alias === 'silent') return SILENT;
    const index = LEVELS.indexOf(alias as LevelName);
    if (index !== -1) return index;
  }
  throw new TypeError(`options.level must be one of ${LEVELS.join(', ')} or silent (got ${JSON.stringify(level)})`);
}

function validateContext(context: unknown, optionName: string): Record<string, unknown> {
  if (context === undefined) return {};
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new TypeError(`${optionName} must be a plain object`);
  }
  return context as Record<string, unknown>;
}

class LogcoreLogger implements Logger {
  readonly name: string;
  readonly trace: LogMethod;
  readonly debug: LogMethod;
  readonly info: LogMethod;
  readonly warn: LogMethod;
  readonly error: LogMethod;
  readonly fatal: LogMethod;
  private readonly threshold: number;
  private readonly destination: Destination;
  private readonly baseContext: Record<string, unknown>;
  private readonly redaction: Redaction;

  constructor(name: string, threshold: number, destination: Destination, baseContext: Record<string, unknown>, redaction: Redaction) {
    this.name = wellFormed(name);
    this.threshold = threshold;
    this.destination = destination;
    this.baseContext = baseContext;
    this.redaction = redaction;
    const method = (index: number): LogMethod =>
      index < threshold ? noop : (message, options) => this.write(index, message, options);
    this.trace = method(0);
    this.debug = method(1);
    this.info = method(2);
    this.warn = method(3);
    this.error = method(4);
    this.fatal = method(5);
  }

  get level(): LevelName | 'silent' {
    return this.threshold === SILENT ? 'silent' : LEVELS[this.threshold]!;
  }

  isLevelEnabled(level: LevelName): boolean {
    return LEVELS.indexOf(level) >= this.threshold;
  }

  child(context: Record<string, unknown>): Logger {
    const merged = { ...this.baseContext, ...validateContext(context, 'child(context)') };
    return new LogcoreLogger(this.name, this.threshold, this.destination, merged, this.redaction);
  }

  flush(): Promise<void> {
    this.destination.flushSync();
    return Promise.resolve();
  }

  reopen(): void {
    this.destination.reopen();
  }

  close(): Promise<void> {
    return this.destination.close();
  }

  private write(levelIndex: number, message: unknown, options: LogOptions | undefined): void {
    // Nothing a caller passes may make a logging call throw: bad input is written as well as it can be.
    try {
      const callContext = options?.context;
      const context =
        callContext === undefined || callContext === null
          ? this.baseContext
          : typeof callContext === 'object' && !Array.isArray(callContext)
            ? { ...this.baseContext, ...callContext }
            : { ...this.baseContext, value: callContext };
      const line: LineObject = {
        level: LEVEL_LABELS[LEVELS[levelIndex]!],
        logger: this.name,
        message: typeof message === 'string' ? wellFormed(message) : messageText(message),
        context: toJsonValue(context, this.redaction),
      };
      // `err: null` is what callback-style code passes when nothing failed.
      if (options?.err !== undefined && options.err !== null) {
        line.exception = serializeError(options.err);
      }
      this.destination.write(line);
    } catch (error) {
      process.stderr.write(`logcore: could not write a line: ${(error as Error)?.message}\n`);
    }
  }
}

function noop(): void {}

function messageText(message: unknown): string {
  if (message instanceof Error) return wellFormed(message.message);
  const converted = toJsonValue(message);
  return typeof converted === 'string' ? converted : (JSON.stringify(converted) ?? '');
}

/**
 * Returns a logger named `name` (the `logger` field). Loggers with the same `logFile` share one
 * file descriptor, buffer and rotation; without `logFile` they write to stdout.
 */
export function getLogger(name: string, options: LoggerOptions = {}): Logger {
  if (typeof name !== 'string' || name === '') throw new TypeError('name must be a non-empty string');
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { logFile } = options;
  if (logFile !== undefined && (typeof logFile !== 'string' || logFile === '')) {
    throw new TypeError('options.logFile must be a non-empty string');
  }
  const threshold = parseLevel(options.level);
  const context = validateContext(options.context, 'options.context');
  const redaction = compileRedaction(options.redact);
  return new LogcoreLogger(name, threshold, destinationFor(logFile), { ...context }, redaction);
}

/** Reopens every log file (what SIGHUP does). */
export function reopen(): void {
  reopenAll();
}
