// The journald source: follows the configured units' journal entries through one `journalctl --follow
// -o json` child, and hands them to the tailer like lines of a file.
//
//   journalctl -o json --follow --after-cursor C -u A -u B ──stdout (one entry per line)──► parse ──LogBatch──► tailer
//        ▲ respawned after its last emitted cursor                        pause the pipe ◄── window full / PAUSE_TAILING
//
// Why a resident child and not `journalctl --after-cursor C -n MAX` every second: measured with
// bench/journal-source.ts, a poll costs journalctl's start and the opening of every journal file each
// time (about 20 ms of CPU here, 2 % of a core at one poll a second, more on a host with many journal
// files), while the follower sleeps on inotify and costs about 1 MB of anonymous memory; its other
// resident pages are the shared libraries and the mapped journal files, which are page cache shared
// with journald. A child whose reader is gone (the agent killed) exits by itself: journalctl watches
// its stdout for POLLHUP.
//
// Exactly once: each entry carries its cursor; a batch's checkpoint is the cursor of its last entry,
// and the writer commits it with the rows (path `journald` in agent_checkpoints.files). Entries still
// in the pipe when the agent stops were never handed out, so the next start reads them again.
//
// Backpressure: while the tailer's window is full (or tailing is paused because the spool is full)
// the pipe is not read; journalctl then blocks on write, and entries wait in the journal. What one
// pipe read brought in beyond that point is held unparsed (at most 64 KiB) until reading may go on.

import { spawn, type ChildProcess } from 'node:child_process';
import type { FileCheckpoint, LogRecord } from '../../supervisor/messages.js';
import type { FollowerSink } from './follow.js';
import { JOURNAL_CHECKPOINT_PATH, cursorRealtimeUs, journalctlArgs, parseJournalEntry } from './journal-entry.js';

export interface JournalFollowerOptions {
  units: readonly string[];
  directory: string | null;
  /** The journalctl binary (looked up in PATH unless a path). */
  journalctl: string;
  maxBatchRecords: number;
  maxBatchBytes: number;
  maxLineBytes: number;
  /** First wait before running journalctl again after it failed; doubles up to restartMaxMs. */
  restartBaseMs: number;
  restartMaxMs: number;
}

const LF = 0x0a;
/** stderr kept for the error message: the last lines say why journalctl stopped. */
const STDERR_KEEP = 2048;
/** A child that ran this long before failing starts the backoff over. */
const HEALTHY_RUN_MS = 30_000;
const KILL_GRACE_MS = 2_000;

export class JournalFollower {
  readonly path = JOURNAL_CHECKPOINT_PATH;
  private cursor: string | null = null;
  /** After a cursor journalctl refused: start at this time, and leave out entries up to it (they were stored). */
  private sinceUs: number | null = null;
  private child: ChildProcess | null = null;
  private childStartedAt = 0;
  private exited: Promise<void> | null = null;
  private stderrTail = '';
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Output read from the pipe but not split into entries, because the tailer could take no more then. */
  private held: Buffer | null = null;
  /** Inside an entry too long to keep: skip to the next LF. */
  private discarding = false;
  private batch: { records: LogRecord[]; bytes: number } | null = null;
  private paused = false;
  private failures = 0;
  private nextStartAt = 0;
  private lastProblem: string | null = null;
  private started = false;
  private closed = false;
  /** An entry line longer than this cannot be a journal entry worth keeping whole (MESSAGE is cut at maxLineBytes anyway). */
  private readonly lineCap: number;

  constructor(private readonly opts: JournalFollowerOptions, private readonly sink: FollowerSink) {
    // A MESSAGE of invalid UTF-8 is written as an array of byte values: up to 4 characters per byte.
    this.lineCap = Math.max(1024 * 1024, opts.maxLineBytes * 5);
  }

  checkpoint(): FileCheckpoint {
    const cp: FileCheckpoint = { path: this.path, identity: null, offset: 0 };
    if (this.cursor !== null) cp.cursor = this.cursor;
    return cp;
  }

  async init(checkpoint: FileCheckpoint | null): Promise<void> {
    this.cursor = typeof checkpoint?.cursor === 'string' && checkpoint.cursor ? checkpoint.cursor : null;
    this.started = true;
    this.spawnChild();
  }

  /** Called on each tailer poll: restarts a failed journalctl when its backoff is over, resumes reading when allowed. */
  async poll(): Promise<boolean> {
    if (this.closed || !this.started) return false;
    if (!this.child && this.sink.now() >= this.nextStartAt) this.spawnChild();
    if (this.child && this.sink.canRead()) {
      const held = this.held;
      this.held = null;
      if (held) this.consume(held);
      if (this.paused && !this.held) {
        this.paused = false;
        this.child.stdout?.resume();
      }
    }
    return false;
  }

  /** Hands over the batch in hand and ends journalctl. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flushBatch();
    const child = this.child;
    const exited = this.exited;
    if (!child || !exited) return;
    child.stdout?.removeAllListeners('data');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    try { await exited; } finally { clearTimeout(timer); }
  }

  private spawnChild(): void {
    if (this.closed || this.child) return;
    const args = journalctlArgs({ units: this.opts.units, directory: this.opts.directory, cursor: this.cursor, sinceUs: this.sinceUs, follow: true });
    let child: ChildProcess;
    try {
      child = spawn(this.opts.journalctl, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      this.failed(`cannot run ${this.opts.journalctl}: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? null);
      return;
    }
    this.child = child;
    this.childStartedAt = this.sink.now();
    this.stderrTail = '';
    this.pending = [];
    this.pendingBytes = 0;
    this.held = null;
    this.discarding = false;
    this.paused = false;
    let spawnError: NodeJS.ErrnoException | null = null;
    this.exited = new Promise<void>((resolve) => {
      child.once('error', (err: NodeJS.ErrnoException) => { spawnError = err; });
      child.once('close', (code, signal) => {
        if (this.child === child) this.child = null;
        resolve();
        if (this.closed) return;
        this.flushBatch();
        // Unread output of this child: the next one reads it again after the last handed-out cursor.
        this.held = null;
        this.pending = [];
        this.pendingBytes = 0;
        if (spawnError) {
          const missing = spawnError.code === 'ENOENT';
          this.failed(missing ? `${this.opts.journalctl} not found: install systemd's journalctl, or remove monitoring.journal_units`
            : `cannot run ${this.opts.journalctl}: ${spawnError.message}`, spawnError.code ?? null);
        } else if (this.cursor !== null && /Failed to seek to cursor/.test(this.stderrTail)) {
          this.cursorRefused(this.cursor);
        } else {
          const why = lastLine(this.stderrTail) || (signal ? `killed by ${signal}` : `exited with code ${code}`);
          this.failed(`journalctl stopped: ${why}`, code === null ? signal : `exit ${code}`);
        }
      });
    });
    child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_KEEP);
      // Exit status 0 and no entries: journalctl shows only the user's own journal to a user outside the
      // systemd-journal and adm groups, and says so once on stderr.
      if (/not seeing messages from other users/.test(this.stderrTail)) {
        this.problem('journalctl cannot read the system journal: add the agent\'s user to the systemd-journal group ' +
          '(SupplementaryGroups=systemd-journal in its unit)', 'not_in_journal_group');
      }
    });
  }

  private onData(chunk: Buffer): void {
    if (this.held) {
      // Data that was on its way when the pipe was paused: it waits behind what is held.
      this.held = Buffer.concat([this.held, chunk]);
      this.pause();
      return;
    }
    this.consume(chunk);
  }

  /**
   * Splits entries off `chunk` while the tailer may take more. When it may not (window full, tailing
   * paused), the rest of the chunk is held, unparsed, and the pipe paused: no entry is read past the
   * pause, so none can reach a writer that would have to drop it. At most one pipe read is held.
   */
  private consume(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      if (!this.sink.canRead()) {
        this.flushBatch();
        if (start < chunk.length) this.held = Buffer.from(chunk.subarray(start));
        this.pause();
        return;
      }
      const nl = chunk.indexOf(LF, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      let line: Buffer = piece;
      if (this.pending.length) {
        this.pending.push(piece);
        line = Buffer.concat(this.pending, this.pendingBytes + piece.length);
        this.pending = [];
        this.pendingBytes = 0;
      }
      this.entry(line);
    }
    if (start < chunk.length && !this.discarding) {
      const rest = chunk.subarray(start);
      if (this.pendingBytes + rest.length > this.lineCap) {
        // Its cursor is inside the part we would have to keep: the entry is skipped, and said so.
        this.pending = [];
        this.pendingBytes = 0;
        this.discarding = true;
        this.sink.event('journal_entry_skipped', { reason: 'entry longer than the limit', limitBytes: this.lineCap });
      } else {
        this.pending.push(Buffer.from(rest));
        this.pendingBytes += rest.length;
      }
    }
    this.flushBatch();
    if (!this.sink.canRead()) this.pause();
  }

  private pause(): void {
    if (this.paused || !this.child) return;
    this.paused = true;
    this.child.stdout?.pause();
  }

  private entry(line: Buffer): void {
    if (line.length === 0) return;
    const parsed = parseJournalEntry(line.toString('utf8'), {
      maxLineBytes: this.opts.maxLineBytes,
      now: this.sink.now,
      units: this.opts.units,
    });
    if (!parsed.ok) {
      // journalctl wrote something that is not an entry: nothing to store, and no cursor to move to.
      this.sink.event('journal_entry_skipped', { reason: parsed.reason, bytes: line.length });
      return;
    }
    if (this.lastProblem !== null) {
      this.sink.log('info', 'journal readable again', { units: this.opts.units });
      this.lastProblem = null;
    }
    this.failures = 0;
    this.cursor = parsed.cursor;
    this.batch ??= { records: [], bytes: 0 };
    this.batch.bytes += line.length + 1;
    if (this.sinceUs !== null && parsed.realtimeUs !== null && parsed.realtimeUs <= this.sinceUs) {
      // At or before the refused cursor's time: stored already. Its cursor still moves on (an empty batch).
    } else {
      this.sinceUs = null;
      this.batch.records.push(parsed.record);
    }
    if (this.batch.records.length >= this.opts.maxBatchRecords || this.batch.bytes >= this.opts.maxBatchBytes) this.flushBatch();
  }

  private flushBatch(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = null;
    this.sink.emit({ records: batch.records, checkpoint: this.checkpoint(), bytes: batch.bytes });
  }

  /**
   * journalctl refused the committed cursor (not one of its cursors: edited, or from another tool). Not
   * retried as is, which would fail forever: resumed at the cursor's time when it carries one, else from
   * now, and reported as a possible loss.
   */
  private cursorRefused(cursor: string): void {
    const now = this.sink.now();
    const atUs = cursorRealtimeUs(cursor);
    this.sinceUs = atUs ?? now * 1000;
    this.cursor = null;
    this.nextStartAt = now;
    const detail = { code: 'OBS_ERR_JOURNAL', cursor, resumeAt: new Date(Math.floor(this.sinceUs / 1000)).toISOString() };
    this.sink.log('error', 'journalctl refused the committed journal cursor; resuming at its time', detail);
    this.sink.event('lines_possibly_lost', { reason: 'journal_cursor_refused', ...detail });
  }

  /** journalctl could not run or stopped: said once per distinct cause, then tried again with backoff. */
  private failed(message: string, cause: string | null): void {
    const now = this.sink.now();
    if (now - this.childStartedAt >= HEALTHY_RUN_MS) this.failures = 0;
    this.failures++;
    const delay = Math.min(this.opts.restartMaxMs, this.opts.restartBaseMs * 2 ** (this.failures - 1));
    this.nextStartAt = now + delay;
    this.problem(message, cause ?? message, delay);
  }

  private problem(message: string, key: string, retryInMs?: number): void {
    if (this.lastProblem === key) return;
    this.lastProblem = key;
    const detail = { code: 'OBS_ERR_JOURNAL', units: this.opts.units, directory: this.opts.directory, error: message,
      ...(retryInMs === undefined ? {} : { retryInMs }) };
    this.sink.log('error', 'cannot follow the journal', detail);
    this.sink.event('journal_unavailable', detail);
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}
