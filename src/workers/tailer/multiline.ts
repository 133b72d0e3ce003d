// Multi-line records: the tailer's pure folder. Lines of one file go in, in order; records come out, each
// with the number of file bytes it covers, so the follower's stored position only ever moves past whole
// records. A record is a start line (parsed as usual: its time, level and logger are the record's) plus the
// lines that continue it:
//
//   - indented lines (frames of Python, JVM, Node.js, Go and Ruby traces; indented text after a line),
//     unless they look like a log line of their own (a level word or a date after the indentation);
//   - after a line of level WARN or above: the header of a trace (`Traceback (most recent call last):`,
//     `java.lang.IllegalStateException: …`, `Error: …`, `panic: …`, `app.rb:3:in 'm': … (Class)`);
//   - inside a trace, the unindented lines each language writes there: Python's exception line and its
//     chained tracebacks ("During handling of the above exception…", blank lines included), JVM
//     `Caused by:` / `Suppressed:`, Go's `goroutine N [...]:` sections with their function lines and blank
//     lines, Ruby's `file:line:in 'method'` frames, Node.js's uncaught-exception code frame and trailer.
//
// A JSON line is never merged: it ends the record in hand and is its own record. Blank lines are held
// only where a trace may go on after them (at most two); otherwise they stay records of their own, as
// without folding. Pure: no clock, no I/O; the follower says when the file has been quiet long enough
// (flush) and when it was truncated under a record (discard).

import type { LogRecord } from '../../supervisor/messages.js';
import type { MultilineConfig } from '../../supervisor/config.js';
import { detectTextLevel, lineText, parseLogLine, parsePlainText, type ParseOptions } from './parse.js';

/** monitoring.multiline, validated (defaults and their reasons in the config). */
export type MultilineOptions = MultilineConfig;

/** Where the record in hand stands: which continuation lines it may take next. */
type Mode =
  | 'line' // one line so far
  | 'text' // a line with indented lines after it
  | 'stack' // JVM / Node.js / Ruby: indented frames, Caused by:, Suppressed:, bare Ruby frames
  | 'node_source' // Node.js's `/app/server.js:10` above an uncaught exception: the source line follows, as is
  | 'code_frame' // …then a caret line: the error follows after a blank line
  | 'python' // inside a Python traceback, before its exception line
  | 'python_end' // after the exception line: a chained traceback may follow
  | 'python_chain' // after "During handling…" / "The above exception…": its traceback follows
  | 'go'; // a Go panic or fatal error

const SPACE = 0x20;
const TAB = 0x09;
const OPEN_BRACE = 0x7b;
/** Blank lines held while a trace may go on after them (Python, Go and Node.js write one). */
const MAX_HELD_BLANKS = 2;

const PY_TRACEBACK = 'Traceback (most recent call last):';
const PY_STACK = 'Stack (most recent call last):';
// An indented line that is a log line of its own (`%5p` layouts pad INFO with a space).
const INDENTED_LOG_START = /^[ \t]+\[?(?:(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL|NOTICE)\b|\d{4}-\d{2}-\d{2}[T ]\d)/;
const CARET = /^[ \t]+\^+\s*$/;
// `java.lang.IllegalStateException: boom`, `Error: boom`, `TypeError [ERR_X]: …`, `ValueError`,
// `Exception in thread "main" java.lang.…`.
const EXCEPTION_HEADER = /^(?:Exception in thread "[^"]*" )?(?:[A-Za-z_$][\w$]*\.)*[\w$]*(?:Error|Exception|Throwable|Fault|Failure|Panic)(?: \[[A-Z0-9_]+\])?(?::(?: .*)?)?$/;
// Ruby: `app.rb:3:in 'divide': divided by 0 (ZeroDivisionError)` (header) and `app.rb:7:in '<main>'` (frame).
const RUBY_HEADER = /^\S+:\d+:in [`'].*\)$/;
// Rails' backtrace cleaner writes gem frames as `actionpack (7.1.3) lib/…/render.rb:6:in 'send_action'`.
const RUBY_FRAME = /^(?:from )?\S+(?: \([^)\s]*\) \S+)?:\d+:in [`'][^`']*'$/;
// Node.js prints `/app/server.js:10` above the code frame of an uncaught exception.
const NODE_FRAME_FILE = /^(?:\/|file:\/\/|[A-Za-z]:\\)\S*:\d+$/;
const PY_EXCEPTION_LINE = /^[A-Za-z_][\w.]*(?::|$)/;
const PY_CHAIN = /^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)\s*$/;
const GO_GOROUTINE = /^goroutine \d+ \[[^\]]*\]:?$/;
// Lines of a Go trace between its indented file lines: function calls, `created by`, signal and runtime notes.
const GO_LINE = /^(?:goroutine \d+ \[|\[signal |\[originating from goroutine|created by |runtime(?: stack)?:|exit status \d+$|\.\.\.additional frames elided\.\.\.$|[^\s(]+\(.*\)$)/;
const NODE_TRAILER = /^Node\.js v\d/;

/** The kind of trace a line starts, or null when it starts none. `line` is unindented and not blank. */
export function traceHeader(text: string): Mode | null {
  switch (text.charCodeAt(0)) {
    case 0x54: // T
      if (text.startsWith(PY_TRACEBACK)) return 'python';
      break;
    case 0x53: // S
      if (text.startsWith(PY_STACK)) return 'python';
      break;
    case 0x70: // p
      if (text.startsWith('panic: ')) return 'go';
      break;
    case 0x66: // f
      if (text.startsWith('fatal error: ')) return 'go';
      break;
    case 0x67: // g
      if (GO_GOROUTINE.test(text)) return 'go';
      break;
    case 0x2f: // /
      if (NODE_FRAME_FILE.test(text)) return 'node_source';
      break;
  }
  if (EXCEPTION_HEADER.test(text) || RUBY_HEADER.test(text)) return 'stack';
  return null;
}

interface Held {
  text: string;
  bytes: number;
  flags: string[];
  readAt: Date;
}

export type EmitRecord = (record: LogRecord, bytes: number) => void;

/** One file's folder. `emit` receives every record, in file order, with the file bytes it covers. */
export class LineFolder {
  private record: LogRecord | null = null;
  private mode: Mode = 'line';
  private readonly lines: string[] = [];
  private lineCount = 0;
  private bytes = 0;
  private blanks: Held[] = [];
  private blankBytes = 0;
  /** The trace kind of the first line when it has no level word: the level becomes ERROR (FATAL for Go). */
  private defaultLevel: string | null = null;
  private lastAt = 0;
  /** Parse options, reused for every line (readAt set per line) rather than copied. */
  private readonly parse: ParseOptions;

  constructor(
    private readonly opts: Pick<MultilineOptions, 'maxLines' | 'maxBytes'>,
    parse: Omit<ParseOptions, 'readAt'>,
    private readonly emit: EmitRecord,
  ) {
    this.parse = { ...parse, readAt: new Date(0) };
  }

  private at(readAt: Date): ParseOptions {
    this.parse.readAt = readAt;
    return this.parse;
  }

  /** File bytes read but not handed over yet: the record in hand and the blank lines held after it. */
  get pendingBytes(): number {
    return this.bytes + this.blankBytes;
  }

  /** When the last line was taken in (the `now` given with it), or null when nothing is in hand. */
  get pendingSince(): number | null {
    return this.record ? this.lastAt : null;
  }

  /**
   * Takes one line (without its LF) that covers `bytes` bytes of the file. `flag` marks it (the
   * follower's `partial_line`).
   */
  add(line: Buffer, bytes: number, readAt: Date, now: number, flag?: string): void {
    let i = 0;
    while (i < line.length && (line[i] === SPACE || line[i] === TAB)) i++;
    if (line[i] === OPEN_BRACE) {
      // JSON: never part of a record, and never the start of one.
      this.flush();
      const record = parseLogLine(line, this.at(readAt));
      if (flag) record.flags.push(flag);
      this.emit(record, bytes);
      return;
    }
    const flags: string[] = [];
    if (flag) flags.push(flag);
    const text = lineText(line, this.parse.maxLineBytes, flags);
    if (this.record) {
      this.lastAt = now;
      if (isBlank(text)) {
        if (this.blanks.length < MAX_HELD_BLANKS && mayFollowBlank(this.mode)) {
          this.blanks.push({ text, bytes, flags, readAt });
          this.blankBytes += bytes;
          return;
        }
      } else if (this.continues(text)) {
        this.append(text, bytes, flags, readAt);
        return;
      }
      this.flush();
    }
    const record = parsePlainText(text, flags, this.at(readAt));
    if (isBlank(text)) {
      this.emit(record, bytes); // a blank line starts nothing
      return;
    }
    this.start(record, text, bytes, now);
  }

  /** Hands over the record in hand (and the blank lines held after it, as records of their own). */
  flush(): void {
    if (!this.record) return;
    this.emitRecord(null);
    const blanks = this.blanks;
    this.blanks = [];
    this.blankBytes = 0;
    for (const b of blanks) this.emit(parsePlainText(b.text, b.flags, this.at(b.readAt)), b.bytes);
  }

  /** Forgets the record in hand: its bytes will be read again (the file was truncated under it). */
  discard(): void {
    this.record = null;
    this.lines.length = 0;
    this.lineCount = 0;
    this.bytes = 0;
    this.blanks = [];
    this.blankBytes = 0;
  }

  private start(record: LogRecord, text: string, bytes: number, now: number): void {
    this.record = record;
    this.lineCount = 1;
    this.bytes = bytes;
    this.lastAt = now;
    const header = traceHeader(text);
    this.mode = header ?? 'line';
    this.defaultLevel = header && detectTextLevel(text) === null ? (header === 'go' ? 'FATAL' : 'ERROR') : null;
  }

  /** Does `text` (not blank) continue the record in hand? Moves the mode along when it does. */
  private continues(text: string): boolean {
    const mode = this.mode;
    const c0 = text.charCodeAt(0);
    if (this.blanks.length > 0) {
      switch (mode) {
        case 'python_end':
        case 'python_chain':
          return this.pythonChain(text);
        case 'go':
          return GO_GOROUTINE.test(text);
        case 'code_frame':
          return traceHeader(text) !== null && this.to('stack');
        case 'stack':
          return NODE_TRAILER.test(text);
        default:
          return false;
      }
    }
    if (c0 === SPACE || c0 === TAB) {
      if (INDENTED_LOG_START.test(text)) return false;
      if (mode === 'line' || mode === 'text' || mode === 'stack' || mode === 'code_frame' || mode === 'node_source') {
        if (CARET.test(text)) this.mode = 'code_frame';
        else if (mode === 'line') this.mode = /^\s+at /.test(text) ? 'stack' : 'text';
        else if (mode === 'code_frame' || mode === 'node_source') this.mode = 'stack';
      }
      return true;
    }
    switch (mode) {
      case 'python':
        return PY_EXCEPTION_LINE.test(text) && this.to('python_end');
      case 'python_end':
      case 'python_chain':
        return this.pythonChain(text);
      case 'go':
        return GO_LINE.test(text);
      case 'node_source':
        return this.to('stack'); // the line of source code, unindented as written
      case 'stack':
      case 'text':
      case 'code_frame':
        if (text.startsWith('Caused by: ') || text.startsWith('Suppressed: ') || text === '}' || text === ']' || RUBY_FRAME.test(text)) {
          return this.to('stack');
        }
        return false;
      case 'line': {
        if (this.lineCount !== 1 || !isWarnOrAbove(this.record!.level)) return false;
        const header = traceHeader(text);
        // Go panics, Node.js's uncaught exceptions and the JVM's "Exception in thread" are written by the
        // runtime, never as part of a logger's line: they start records of their own.
        if (header === 'go' || header === 'node_source' || text.startsWith('Exception in thread ')) return false;
        if (header) return this.to(header);
        return RUBY_FRAME.test(text) && this.to('stack');
      }
    }
  }

  /** After a Python exception line: "During handling…" / "The above exception…", then the next traceback. */
  private pythonChain(text: string): boolean {
    if (this.mode === 'python_end') return PY_CHAIN.test(text) && this.to('python_chain');
    return text.startsWith(PY_TRACEBACK) && this.to('python');
  }

  private to(mode: Mode): true {
    this.mode = mode;
    return true;
  }

  private append(text: string, bytes: number, flags: string[], readAt: Date): void {
    const blankBytes = this.blankBytes;
    const extraLines = this.blanks.length + 1;
    if (this.lineCount + extraLines > this.opts.maxLines || this.bytes + blankBytes + bytes > this.opts.maxBytes) {
      // Too long for one record: this one ends here and the trace goes on in the next, with the same
      // time, level and logger. Nothing is dropped.
      const first = this.emitRecord('multiline_split');
      const next = parsePlainText('', [], this.at(readAt));
      next.timestamp = first.timestamp;
      next.level = first.level;
      next.logger = first.logger;
      next.flags.push('multiline_continued');
      this.record = next;
      this.lineCount = 0;
      this.bytes = 0;
      this.defaultLevel = null;
      this.lines.length = 0;
      // The blank lines held, then this line, make up the first lines of the continued record.
      const blanks = this.blanks;
      this.blanks = [];
      this.blankBytes = 0;
      const all = [...blanks, { text, bytes, flags, readAt }];
      next.message = all[0]!.text;
      this.lineCount = 1;
      this.bytes = all[0]!.bytes;
      this.mergeFlags(all[0]!.flags);
      for (const h of all.slice(1)) this.take(h.text, h.bytes, h.flags);
      return;
    }
    for (const b of this.blanks) this.take(b.text, b.bytes, b.flags);
    this.blanks = [];
    this.blankBytes = 0;
    this.take(text, bytes, flags);
  }

  private take(text: string, bytes: number, flags: string[]): void {
    this.lines.push(text);
    this.lineCount++;
    this.bytes += bytes;
    if (flags.length > 0) this.mergeFlags(flags);
  }

  private mergeFlags(flags: string[]): void {
    const own = this.record!.flags;
    for (const f of flags) if (!own.includes(f)) own.push(f);
  }

  /** Emits the record in hand (without the blank lines held after it) and returns it. */
  private emitRecord(flag: string | null): LogRecord {
    const record = this.record!;
    if (this.lines.length > 0) {
      record.message = `${record.message}\n${this.lines.join('\n')}`;
      if (this.defaultLevel) record.level = this.defaultLevel;
      if (record.flags.includes('truncated')) record.raw = record.message;
    }
    if (flag) record.flags.push(flag);
    const bytes = this.bytes;
    this.record = null;
    this.lines.length = 0;
    this.lineCount = 0;
    this.bytes = 0;
    this.defaultLevel = null;
    this.emit(record, bytes);
    return record;
  }
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== TAB) return false;
  }
  return true;
}

function mayFollowBlank(mode: Mode): boolean {
  return mode === 'python_end' || mode === 'python_chain' || mode === 'go' || mode === 'code_frame' || mode === 'stack';
}

function isWarnOrAbove(level: string): boolean {
  return level === 'WARN' || level === 'ERROR' || level === 'FATAL';
}
