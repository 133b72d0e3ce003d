// The tailer's pure part: one log line (bytes, without its LF) in, one LogRecord out.
//
// Recognised per line, in this order:
//   1. JSON objects (a line whose first non-blank byte is `{`): the logcore format first, then the common
//      shapes of pino, bunyan, winston, Python JSON loggers, structlog, Go slog and Elastic ECS. They are
//      not told apart up front: each field is looked up under the names those libraries use, and whatever
//      is not mapped goes into `context`.
//   2. Plain text: a level word (ERROR, WARN, `[error]`, `level=error`…) and a leading timestamp.
//
// Bad input is kept, never dropped: invalid JSON, invalid UTF-8, NUL bytes and oversized lines are
// stored with a flag saying what was done to them.

import { isUtf8 } from 'node:buffer';
import type { LogRecord } from '../../supervisor/messages.js';

export interface ParseOptions {
  /** When the line was read; used as the timestamp of lines that carry none. */
  readAt: Date;
  /** The configured path the line came from. */
  sourceFile: string;
  /** Longer lines are truncated (at a UTF-8 character boundary) and flagged `truncated`. */
  maxLineBytes: number;
  /** Level of a line that states none (default INFO): the journald source passes the entry's PRIORITY. */
  defaultLevel?: CanonicalLevel;
}

export type CanonicalLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

const CR = 0x0d;
const NUL = 0x00;
const OPEN_BRACE = 0x7b;

// Level names used by the common libraries (winston npm + syslog levels, zap, log4j/java, Python).
const LEVEL_WORDS: Record<string, CanonicalLevel> = {
  trace: 'TRACE', silly: 'TRACE', finest: 'TRACE', finer: 'TRACE',
  debug: 'DEBUG', verbose: 'DEBUG', fine: 'DEBUG', dbg: 'DEBUG',
  info: 'INFO', information: 'INFO', informational: 'INFO', notice: 'INFO', http: 'INFO', config: 'INFO',
  warn: 'WARN', warning: 'WARN',
  error: 'ERROR', err: 'ERROR', severe: 'ERROR', dpanic: 'ERROR',
  fatal: 'FATAL', critical: 'FATAL', crit: 'FATAL', panic: 'FATAL', alert: 'FATAL', emerg: 'FATAL', emergency: 'FATAL',
};

/**
 * Maps a level as written by a logger (string in any case, pino/bunyan number, slog `INFO+2`) to a
 * canonical name, or null when it is not recognised.
 */
export function normalizeLevel(value: unknown): CanonicalLevel | null {
  if (typeof value === 'number') return numericLevel(value);
  if (typeof value !== 'string') return null;
  const direct = LEVEL_WORDS[value] ?? LEVEL_WORDS[value.toLowerCase()];
  if (direct) return direct;
  // Strip colour codes (winston colorize) and slog's `INFO+2` / `DEBUG-4` offsets.
  const m = /^\s*(?:\x1b\[[0-9;]*m)*([A-Za-z]+)/.exec(value);
  if (m) {
    const word = LEVEL_WORDS[m[1]!.toLowerCase()];
    if (word) return word;
  }
  if (/^\d+$/.test(value)) return numericLevel(Number(value));
  return null;
}

/** pino and bunyan numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
function numericLevel(n: number): CanonicalLevel | null {
  if (!Number.isFinite(n) || n < 0) return null;
  if (n <= 10) return 'TRACE';
  if (n <= 20) return 'DEBUG';
  if (n <= 30) return 'INFO';
  if (n <= 40) return 'WARN';
  if (n <= 50) return 'ERROR';
  return 'FATAL';
}

const ISO_LIKE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;
const MIN_MS = Date.UTC(1970, 0, 1);
const MAX_MS = Date.UTC(9999, 11, 31);

/**
 * Parses a timestamp as loggers write them, to epoch milliseconds (NaN when unusable):
 * ISO-8601 / RFC 3339 with any number of fraction digits (slog writes nanoseconds), a space instead of
 * `T` and a comma before the fraction (Python `asctime`), or a number of epoch seconds, milliseconds,
 * microseconds or nanoseconds. A timestamp without a zone is in the agent's local time zone, which is
 * the zone of the app writing the file on the same host.
 */
export function parseTimestamp(value: unknown): number {
  if (typeof value === 'number') return epochToMs(value);
  if (typeof value !== 'string' || value.length < 16 || value.length > 40) return NaN;
  const m = ISO_LIKE.exec(value);
  if (!m) return NaN;
  const year = +m[1]!, month = +m[2]! - 1, day = +m[3]!, hour = +m[4]!, minute = +m[5]!;
  const second = m[6] ? +m[6] : 0;
  const ms = m[7] ? Math.floor(+(m[7] + '000').slice(0, 3)) : 0;
  if (month > 11 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return NaN;
  const zone = m[8];
  let t: number;
  if (zone === undefined) {
    t = new Date(year, month, day, hour, minute, second, ms).getTime();
  } else {
    t = Date.UTC(year, month, day, hour, minute, second, ms);
    if (zone !== 'Z' && zone !== 'z') {
      const sign = zone[0] === '-' ? -1 : 1;
      const digits = zone.slice(1).replace(':', '');
      const offsetMin = +digits.slice(0, 2) * 60 + (digits.length > 2 ? +digits.slice(2, 4) : 0);
      t -= sign * offsetMin * 60_000;
    }
  }
  return t >= MIN_MS && t <= MAX_MS ? t : NaN;
}

function epochToMs(n: number): number {
  if (!Number.isFinite(n) || n <= 0) return NaN;
  let ms: number;
  if (n < 1e11) ms = n * 1000; // seconds (structlog, zap `ts`)
  else if (n < 1e14) ms = n; // milliseconds (pino)
  else if (n < 1e17) ms = n / 1000; // microseconds
  else ms = n / 1e6; // nanoseconds
  ms = Math.floor(ms);
  return ms >= MIN_MS && ms <= MAX_MS ? ms : NaN;
}

// The ISO string of the read time is the same for every line of a chunk: remember the last one.
let lastReadAt: Date | null = null;
let lastReadAtIso = '';
function readAtIso(d: Date): string {
  if (d !== lastReadAt) {
    lastReadAt = d;
    lastReadAtIso = d.toISOString();
  }
  return lastReadAtIso;
}

/** Cuts `buf` to at most `max` bytes without splitting a UTF-8 sequence. */
function cutAtCharBoundary(buf: Buffer, max: number): Buffer {
  let cut = max;
  // buf[cut] is the first byte left out; if it continues a sequence, leave out that sequence's start too.
  for (let back = 0; back < 3 && cut > 0 && (buf[cut]! & 0xc0) === 0x80; back++) cut--;
  if ((buf[cut]! & 0xc0) === 0x80) cut = max; // not valid UTF-8 there anyway: cut at the limit
  return buf.subarray(0, cut);
}

function removeNul(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length);
  let n = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (b !== NUL) out[n++] = b;
  }
  return out.subarray(0, n);
}

/**
 * Turns one line (without its trailing LF) into a LogRecord. Pure: the same input gives the same output.
 */
export function parseLogLine(line: Buffer, opts: ParseOptions): LogRecord {
  const flags: string[] = [];
  const buf = cleanLine(line, opts.maxLineBytes, flags);
  const text = buf.toString('utf8'); // invalid sequences become U+FFFD

  let first = 0;
  while (first < buf.length && (buf[first] === 0x20 || buf[first] === 0x09)) first++;
  if (buf[first] === OPEN_BRACE) {
    let parsed: unknown;
    let ok = true;
    try {
      parsed = JSON.parse(text);
    } catch {
      ok = false;
    }
    if (ok && parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return fromJson(parsed as Record<string, unknown>, text, flags, opts);
    }
    flags.push('invalid_json');
  }
  return fromText(text, flags, opts);
}

/**
 * The text of one line as stored, without parsing it: CR removed, cut at `maxLineBytes`, NUL bytes
 * removed, invalid UTF-8 replaced — each flagged in `flags` as parseLogLine does. Used for the
 * continuation lines of a multi-line record, which are kept as text.
 */
export function lineText(line: Buffer, maxLineBytes: number, flags: string[]): string {
  return cleanLine(line, maxLineBytes, flags).toString('utf8');
}

function cleanLine(line: Buffer, maxLineBytes: number, flags: string[]): Buffer {
  let buf = line;
  if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
  // A line handed over with an embedded LF would be a caller bug; treat it as part of the text.
  if (buf.length > maxLineBytes) {
    buf = cutAtCharBoundary(buf, maxLineBytes);
    flags.push('truncated');
  }
  if (buf.indexOf(NUL) !== -1) {
    buf = removeNul(buf);
    flags.push('nul_removed');
  }
  if (!isUtf8(buf)) flags.push('invalid_utf8');
  return buf;
}

// Field names, most specific first. `name` is bunyan's / Python's / pino's logger name.
const TIMESTAMP_KEYS = ['timestamp', '@timestamp', 'time', 'ts', 'asctime', 'datetime', 'date'];
const LEVEL_KEYS = ['level', 'levelname', 'log.level', 'severity', 'lvl', 'loglevel'];
const MESSAGE_KEYS = ['message', 'msg'];
const LOGGER_KEYS = ['logger', 'logger_name', 'log.logger', 'name'];

function fromJson(obj: Record<string, unknown>, text: string, flags: string[], opts: ParseOptions): LogRecord {
  const used = new Set<string>();

  let timestamp: string | null = null;
  for (const key of TIMESTAMP_KEYS) {
    if (!(key in obj)) continue;
    const ms = parseTimestamp(obj[key]);
    if (Number.isNaN(ms)) {
      flags.push('invalid_timestamp'); // the value stays in context
    } else {
      timestamp = new Date(ms).toISOString();
      used.add(key);
    }
    break;
  }

  // ECS may nest: {"log": {"level": "error", "logger": "app"}}.
  const nestedLog = isPlainObject(obj.log) ? obj.log : null;
  const nestedUsed = new Set<string>();

  let level: CanonicalLevel | null = null;
  for (const key of LEVEL_KEYS) {
    if (!(key in obj)) continue;
    level = normalizeLevel(obj[key]);
    if (level) used.add(key); // an unrecognised level stays in context as written
    break;
  }
  if (!level && nestedLog && 'level' in nestedLog) {
    level = normalizeLevel(nestedLog.level);
    if (level) nestedUsed.add('level');
  }

  let message: string | null = null;
  for (const key of MESSAGE_KEYS) {
    if (!(key in obj)) continue;
    message = asText(obj[key]);
    used.add(key);
    break;
  }
  // structlog calls the message `event`; ECS uses `event` for an object, which is not a message.
  if (message === null && typeof obj.event === 'string') {
    message = obj.event;
    used.add('event');
  }

  let logger: string | null = null;
  for (const key of LOGGER_KEYS) {
    const v = obj[key];
    if (typeof v === 'string') {
      logger = v;
      used.add(key);
      break;
    }
  }
  if (logger === null && nestedLog && typeof nestedLog.logger === 'string') {
    logger = nestedLog.logger;
    nestedUsed.add('logger');
  }

  const exception = takeException(obj, used);

  let context: Record<string, unknown> | null = null;
  const loggedContext = isPlainObject(obj.context) ? obj.context : null;
  if (loggedContext) used.add('context');
  for (const key in obj) {
    if (used.has(key)) continue;
    let value = obj[key];
    if (key === 'log' && nestedLog && nestedUsed.size > 0) {
      const rest: Record<string, unknown> = {};
      let any = false;
      for (const k in nestedLog) {
        if (!nestedUsed.has(k)) {
          rest[k] = nestedLog[k];
          any = true;
        }
      }
      if (!any) continue;
      value = rest;
    }
    (context ??= {})[key] = value;
  }
  if (loggedContext) context = context ? { ...context, ...loggedContext } : loggedContext;
  if (context && Object.keys(context).length === 0 && !loggedContext) context = null;

  return {
    timestamp: timestamp ?? readAtIso(opts.readAt),
    level: level ?? opts.defaultLevel ?? 'INFO',
    logger,
    // A JSON line without a message field is still searchable by its text.
    message: message ?? text,
    context,
    exception,
    flags,
    raw: flags.includes('truncated') ? text : null,
    sourceFile: opts.sourceFile,
  };
}

/**
 * The error attached to a line: logcore `exception`, pino/bunyan `err`, ECS `error` (an object),
 * Python `exc_info` / structlog `exception` (formatted tracebacks), slog `err` (a string),
 * winston `format.errors` `stack`.
 */
function takeException(obj: Record<string, unknown>, used: Set<string>): Record<string, unknown> | null {
  for (const key of ['exception', 'err', 'error', 'exc_info']) {
    const v = obj[key];
    if (isPlainObject(v) && ('message' in v || 'type' in v || 'stack' in v || 'stack_trace' in v)) {
      used.add(key);
      return v;
    }
    if (typeof v === 'string' && key !== 'error' && v.length > 0) {
      used.add(key);
      // Python's exc_info / structlog's exception are formatted tracebacks; slog's `err` is a message.
      return key === 'err' ? { message: v } : { stack: v };
    }
  }
  if (typeof obj.stack === 'string') {
    used.add('stack');
    return { stack: obj.stack };
  }
  return null;
}

function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Plain text. The first match wins: `level=error` (logfmt), `[error]`, or an upper-case level word.
const TEXT_LEVEL = /\b(?:level|lvl|severity)=["']?([A-Za-z]+)|\[([a-z]+|[A-Z][a-z]+)\]|\b(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL|CRIT|NOTICE|PANIC|EMERG|ALERT|SEVERE)\b/g;
const TEXT_LEADING_TIME = /^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:\s?(?:Z|[+-]\d{2}:?\d{2}))?)/;
const TEXT_LOGFMT_TIME = /\b(?:time|ts|timestamp)=["']?(\d{4}-\d{2}-\d{2}[T ][0-9:.,]+(?:Z|[+-]\d{2}:?\d{2})?)/;

/** Level of a plain-text line, or null when none is written. Exported for tests and the benchmark. */
export function detectTextLevel(text: string): CanonicalLevel | null {
  TEXT_LEVEL.lastIndex = 0;
  for (let i = 0; i < 16; i++) {
    const m = TEXT_LEVEL.exec(text);
    if (!m) return null;
    const word = m[1] ?? m[2] ?? m[3]!;
    const level = LEVEL_WORDS[word.toLowerCase()];
    if (level) return level;
  }
  return null;
}

/**
 * A plain-text line already cleaned by lineText (so not JSON) turned into a LogRecord, as parseLogLine
 * would: the multi-line folder reads each line's text first, to see whether it continues a record.
 */
export function parsePlainText(text: string, flags: string[], opts: ParseOptions): LogRecord {
  return fromText(text, flags, opts);
}

function fromText(text: string, flags: string[], opts: ParseOptions): LogRecord {
  let timestamp: string | null = null;
  const t = TEXT_LEADING_TIME.exec(text) ?? TEXT_LOGFMT_TIME.exec(text);
  if (t) {
    const ms = parseTimestamp(t[1]!.replace(/\s(?=[Z+-])/, ''));
    if (!Number.isNaN(ms)) timestamp = new Date(ms).toISOString();
  }
  const keepRaw = flags.includes('invalid_json') || flags.includes('truncated');
  return {
    timestamp: timestamp ?? readAtIso(opts.readAt),
    level: detectTextLevel(text) ?? opts.defaultLevel ?? 'INFO',
    logger: null,
    message: text,
    context: null,
    exception: null,
    flags,
    raw: keepRaw ? text : null,
    sourceFile: opts.sourceFile,
  };
}
