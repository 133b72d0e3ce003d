// The journald source's pure part: journalctl's arguments, and one line of its JSON output
// (`-o json`, one entry per line) in, one LogRecord and the entry's cursor out.
//
// journalctl's JSON output writes a field as a string when it is valid UTF-8 text, as an array of byte
// values when it is not (binary or invalid UTF-8), and as an array of those when the entry holds the
// field more than once. Fields over 4096 bytes would be null, so `--all` is always passed.
//
// MESSAGE goes through the file tailer's dialect parser (parse.ts), so a JSON log line written to the
// journal is parsed exactly like the same line in a file. Precedence, decided once:
//   - level: a level stated in MESSAGE (a JSON level field, a level word in plain text) wins; PRIORITY is
//     the level of a message that states none. Apps writing to stdout get journald's stream default
//     (PRIORITY 6) on every line, including their errors, so what they wrote is the better witness.
//   - time: a timestamp in MESSAGE wins (as for file lines); __REALTIME_TIMESTAMP, when journald received
//     the entry, is the time of a message without one.

import type { LogRecord } from '../../supervisor/messages.js';
import { parseLogLine, type CanonicalLevel } from './parse.js';

/** The checkpoint path under which the journal cursor is committed (never a file path: those are absolute). */
export const JOURNAL_CHECKPOINT_PATH = 'journald';

/**
 * Fields asked of journalctl (`--output-fields`); __CURSOR and __REALTIME_TIMESTAMP always come with -o json.
 * Fewer fields, less to pipe and parse: an entry of a busy unit carries 25-30 fields.
 */
export const JOURNAL_FIELDS = ['MESSAGE', 'PRIORITY', '_SYSTEMD_UNIT', 'UNIT', 'OBJECT_SYSTEMD_UNIT', 'COREDUMP_UNIT', '_PID',
  'SYSLOG_IDENTIFIER', '_COMM'] as const;

/**
 * Fields that name the unit an entry is about, in the order -u matches them: the unit's own processes
 * (_SYSTEMD_UNIT), systemd about the unit (UNIT, from PID 1, whose own unit is init.scope), journald
 * about a unit's process (OBJECT_SYSTEMD_UNIT), systemd-coredump (COREDUMP_UNIT).
 */
const UNIT_FIELDS = ['_SYSTEMD_UNIT', 'UNIT', 'OBJECT_SYSTEMD_UNIT', 'COREDUMP_UNIT'] as const;

export interface JournalctlArgsOptions {
  units: readonly string[];
  /** --directory: journal files in this directory instead of the system journal. */
  directory: string | null;
  /** Resume after this entry; none: from the oldest entry the journal holds (or from sinceUs). */
  cursor: string | null;
  /** Without a cursor: start at this time (µs since the epoch) instead of the oldest entry. */
  sinceUs?: number | null;
  follow: boolean;
}

export function journalctlArgs(o: JournalctlArgsOptions): string[] {
  const args = ['--output=json', '--all', '--no-pager', `--output-fields=${JOURNAL_FIELDS.join(',')}`];
  if (o.directory) args.push(`--directory=${o.directory}`);
  for (const unit of o.units) args.push(`--unit=${unit}`);
  if (o.cursor) args.push(`--after-cursor=${o.cursor}`);
  else if (o.sinceUs != null) args.push(`--since=@${Math.floor(o.sinceUs / 1e6)}.${String(o.sinceUs % 1e6).padStart(6, '0')}`);
  // --follow alone implies --lines=10: without a cursor it starts at the last 10 entries, and after one it
  // shows 10 entries and then skips to the end. --no-tail reads everything from the cursor (or the oldest).
  if (o.follow) args.push('--no-tail', '--follow');
  return args;
}

/** syslog PRIORITY 0-7 → the tailer's levels: 0-2 (emerg, alert, crit) FATAL, 3 ERROR, 4 WARN, 5-6 (notice, info) INFO, 7 DEBUG. */
export function priorityLevel(priority: unknown): CanonicalLevel | null {
  const text = fieldText(priority);
  if (text === null || !/^[0-7]$/.test(text)) return null;
  const p = Number(text);
  if (p <= 2) return 'FATAL';
  if (p === 3) return 'ERROR';
  if (p === 4) return 'WARN';
  if (p <= 6) return 'INFO';
  return 'DEBUG';
}

/** A field's bytes as journalctl wrote them: a string, an array of byte values, or (a repeated field) an array of those; the first value counts. */
export function fieldBytes(value: unknown): Buffer | null {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (!Array.isArray(value) || value.length === 0) return null;
  if (typeof value[0] === 'number') {
    const out = Buffer.allocUnsafe(value.length);
    for (let i = 0; i < value.length; i++) {
      const b = value[i];
      if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) return null;
      out[i] = b;
    }
    return out;
  }
  return fieldBytes(value[0]);
}

/** A short field (unit, pid, identifier) as text; invalid UTF-8 becomes U+FFFD. */
export function fieldText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  return fieldBytes(value)?.toString('utf8') ?? null;
}

/** The time (µs) a cursor points at, from its `t=` part (hex), or null when it has none. */
export function cursorRealtimeUs(cursor: string): number | null {
  const m = /(?:^|;)t=([0-9a-f]{1,14})(?:;|$)/.exec(cursor);
  return m ? parseInt(m[1]!, 16) : null;
}

export interface JournalEntryOptions {
  maxLineBytes: number;
  /** Used when the entry carries no usable __REALTIME_TIMESTAMP (never seen from journalctl). */
  now: () => number;
  /** The configured units: an entry is attributed to the one it matched. */
  units: readonly string[];
}

export type JournalEntryResult =
  | { ok: true; cursor: string; realtimeUs: number | null; record: LogRecord }
  | { ok: false; reason: string };

/** The configured unit an entry matched (systemd's "Started x.service" comes from init.scope, about x.service). */
function entryUnit(e: Record<string, unknown>, units: readonly string[]): string {
  let first: string | null = null;
  for (const field of UNIT_FIELDS) {
    const value = fieldText(e[field]);
    if (value === null) continue;
    if (units.includes(value)) return value;
    first ??= value;
  }
  return first ?? (units.length === 1 ? units[0]! : 'unknown');
}

/** Parses one line of `journalctl -o json` (without its LF). Pure. */
export function parseJournalEntry(line: string, opts: JournalEntryOptions): JournalEntryResult {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return { ok: false, reason: 'not a JSON object' };
  const e = entry as Record<string, unknown>;
  const cursor = e.__CURSOR;
  if (typeof cursor !== 'string' || !cursor) return { ok: false, reason: 'no __CURSOR' };

  const realtimeUs = Number(fieldText(e.__REALTIME_TIMESTAMP));
  const knownTime = Number.isFinite(realtimeUs) && realtimeUs > 0;
  const realtimeMs = knownTime ? Math.floor(realtimeUs / 1000) : opts.now();
  const unit = entryUnit(e, opts.units);
  const priority = fieldText(e.PRIORITY);
  const record = parseLogLine(fieldBytes(e.MESSAGE) ?? Buffer.alloc(0), {
    readAt: new Date(realtimeMs),
    sourceFile: `journald:${unit}`,
    maxLineBytes: opts.maxLineBytes,
    defaultLevel: priorityLevel(priority) ?? 'INFO',
  });
  const journal: Record<string, unknown> = { unit };
  const pid = fieldText(e._PID);
  if (pid !== null && /^\d+$/.test(pid)) journal.pid = Number(pid);
  const identifier = fieldText(e.SYSLOG_IDENTIFIER) ?? fieldText(e._COMM);
  if (identifier !== null) journal.identifier = identifier;
  if (priority !== null) journal.priority = /^\d+$/.test(priority) ? Number(priority) : priority;
  // Under one key, so that a JSON message's own `pid` or `unit` is not overwritten.
  record.context = { ...record.context, journal };
  return { ok: true, cursor, realtimeUs: knownTime ? realtimeUs : null, record };
}
