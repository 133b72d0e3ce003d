// The tailer actor: follows every configured log file (and the journal of config.journalUnits) and
// sends LOGS batches towards the writer.
//
//   config.logFiles ──► FileFollower (one per path) ──LogBatch──► ctx.send({type:'LOGS'}) ──► writer
//   config.journalUnits ► JournalFollower (journalctl) ─┘                                      │
//          ▲                     ▲                                                             │
//   stat poll (truth)   fs.watch (only hastens a poll)        COMMITTED {bytes} ◄── supervisor ◄┘
//
// Flow control: bytes sent but not yet committed form a bounded window; reading stops while it is
// full and resumes when COMMITTED frees it (or on RESUME_TAILING after a PAUSE_TAILING). Lines wait
// safely in their files meanwhile, so nothing is buffered without bound here.
//
// The durable position is the checkpoint the writer commits with the rows; the tailer resumes from
// whatever checkpoint it is given (start.checkpoints), and every checkpoint it emits is a valid one.

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Actor, ActorContext, ActorFactory, CollectorsStart } from '../../supervisor/actor.js';
import { assertNever, type ControlMessage, type FileCheckpoint, type LogBatch } from '../../supervisor/messages.js';
import { FileFollower, isRotatedSibling, type FollowerOptions, type FollowerSink } from './follow.js';
import type { MultilineOptions } from './multiline.js';

export interface TailerOptions extends Omit<FollowerOptions, 'maxLineBytes' | 'multiline'> {
  /** Stat every file this often. The source of truth; fs.watch events only bring a poll forward. */
  pollMs: number;
  /** Bytes sent but not committed yet, across all files, before reading stops. */
  windowBytes: number;
  /** Use fs.watch on the files' directories to react sooner than the next poll. */
  watch: boolean;
  /** Minimum gap between polls brought forward by fs.watch (coalesces bursts of writes). */
  watchDebounceMs: number;
  /** Overrides config.maxLineBytes (tests). */
  maxLineBytes?: number;
  /** Overrides config.multiline (tests, benchmarks). */
  multiline?: MultilineOptions;
  /** Clock (tests). */
  now: () => number;
  /** The journalctl binary of the journald source (tests point it elsewhere). */
  journalctl: string;
  /** Backoff of the journald source after journalctl failed: first wait, doubling up to the max. */
  journalRestartBaseMs: number;
  journalRestartMaxMs: number;
}

export const TAILER_DEFAULTS: TailerOptions = {
  // Each poll stats every file and re-reads its first bytes (the fingerprint). At 250 ms that was a
  // quarter of a typical agent's CPU (stat + head reads 130 ms of 550 ms in a 53 s CPU profile, Node 22,
  // --jitless); lines wait for the writer's 5 s flush anyway, so 1 s adds at most a second to a line's
  // way into the database.
  pollMs: 1000,
  chunkBytes: 64 * 1024,
  // Small batches die young: a batch of 1,000 records (about 1 MB of objects) outlives the 1 MB
  // semi-space while it is built or structured-cloned, so it was promoted and piled up as old-space
  // garbage. At 250 records / 64 KiB the isolated catch-up of 100 MB peaked 6-7 MB lower (91 vs
  // 96-101 MB); compact unchanged. A typical workload never fills a batch within one poll.
  maxBatchRecords: 250,
  maxBatchBytes: 64 * 1024,
  // Twice the writer's 512 KiB batch: the next batch is read while the previous one is spooled.
  windowBytes: 1024 * 1024,
  rotationIdleMs: 500,
  rotationMaxGraceMs: 30_000,
  flushPartialAfterMs: 10_000,
  passBudgetBytes: 1024 * 1024,
  // Off by default: measured at 1,000 lines/s, fs.watch doubles the tailer's CPU (1.4 % against 0.7 %)
  // for no gain in correctness, since rotated files are read through open descriptors or found again.
  watch: false,
  watchDebounceMs: 50,
  now: Date.now,
  journalctl: 'journalctl',
  journalRestartBaseMs: 1000,
  journalRestartMaxMs: 60_000,
};

/** What the tailer needs of a source: a file follower or the journal follower. */
interface Source {
  readonly path: string;
  init(checkpoint: FileCheckpoint | null): Promise<void>;
  poll(): Promise<boolean>;
  close(): Promise<void>;
  /** When an open multi-line record must be handed over (files only; the journal has none). */
  nextDueAt?(): number | null;
}

/** A tailer factory with other timings or limits (tests, benchmarks). */
export function createTailerWith(options: Partial<TailerOptions> = {}): ActorFactory {
  return (start, ctx) => new Tailer(start, ctx, { ...TAILER_DEFAULTS, ...options });
}

export const createTailer: ActorFactory = createTailerWith();

class Tailer implements Actor {
  readonly name = 'tailer' as const;
  private readonly followers: Source[];
  private readonly sink: FollowerSink;
  private inFlightBytes = 0;
  private paused = false;
  private stopping = false;
  private started = false;
  private timer: NodeJS.Timeout | null = null;
  private timerDueAt = 0;
  private running: Promise<void> | null = null;
  private rerun = false;
  private stopPromise: Promise<void> | null = null;
  private readonly watchers = new Map<string, FSWatcher | null>();
  private readonly watchedNames = new Map<string, string[]>();

  constructor(
    private readonly start_: CollectorsStart,
    private readonly ctx: ActorContext,
    private readonly options: TailerOptions,
  ) {
    const paths = start_.config.logFiles;
    const sink: FollowerSink = {
      canRead: () => !this.paused && !this.stopping && this.inFlightBytes < options.windowBytes,
      emit: (batch) => this.emit(batch),
      event: (kind, detail) =>
        ctx.send({ type: 'EVENT', event: { timestamp: new Date(options.now()).toISOString(), kind, detail } }),
      log: (level, message, context) => ctx.send({ type: 'LOG', level, actor: 'tailer', message, context }),
      now: options.now,
    };
    const followerOptions: FollowerOptions = {
      ...options,
      maxLineBytes: options.maxLineBytes ?? start_.config.maxLineBytes,
      multiline: options.multiline ?? start_.config.multiline,
    };
    this.followers = paths.map(
      (p) => new FileFollower(p, followerOptions, sink, new Set(paths.filter((other) => other !== p))),
    );
    this.sink = sink;
    for (const p of paths) {
      const dir = dirname(p);
      const names = this.watchedNames.get(dir) ?? [];
      names.push(basename(p));
      this.watchedNames.set(dir, names);
    }
  }

  start(): Promise<void> {
    this.startPromise ??= this.startOnce();
    return this.startPromise;
  }

  private startPromise: Promise<void> | null = null;

  private async startOnce(): Promise<void> {
    if (this.stopping) return;
    const units = this.start_.config.journalUnits ?? [];
    if (units.length) {
      // Loaded only when used: node:child_process alone adds about 2 MB of RSS to an agent.
      const { JournalFollower } = await import('./journal.js');
      if (this.stopping) return;
      const o = this.options;
      this.followers.push(new JournalFollower({
        units, directory: this.start_.config.journalDirectory ?? null, journalctl: o.journalctl,
        maxBatchRecords: o.maxBatchRecords, maxBatchBytes: o.maxBatchBytes, maxLineBytes: o.maxLineBytes ?? this.start_.config.maxLineBytes,
        restartBaseMs: o.journalRestartBaseMs, restartMaxMs: o.journalRestartMaxMs,
      }, this.sink));
    }
    const byPath = new Map(this.start_.checkpoints.map((c) => [c.path, c]));
    for (const f of this.followers) {
      if (this.stopping) return;
      try {
        await f.init(byPath.get(f.path) ?? null);
      } catch (err) {
        // Unreadable now (permissions, I/O): it is retried from the checkpoint-less state on each poll.
        this.log('warn', 'cannot open log file at start; will keep trying', { path: f.path, error: (err as Error).message });
      }
    }
    this.ctx.signal.addEventListener('abort', () => void this.stop(), { once: true });
    if (this.ctx.signal.aborted) {
      void this.stop();
      return;
    }
    this.started = true;
    this.log('info', 'tailing log files', { files: this.followers.map((f) => f.path), journalUnits: this.start_.config.journalUnits ?? [] });
    this.schedule(0);
  }

  handle(message: ControlMessage): void {
    switch (message.type) {
      case 'COMMITTED':
        this.inFlightBytes = Math.max(0, this.inFlightBytes - message.bytes);
        this.schedule(0);
        return;
      case 'PAUSE_TAILING':
        if (!this.paused) this.log('warn', 'tailing paused', { reason: message.reason });
        this.paused = true;
        return;
      case 'RESUME_TAILING':
        if (this.paused) this.log('info', 'tailing resumed');
        this.paused = false;
        this.schedule(0);
        return;
      case 'STOP':
        void this.stop().then(() => this.ctx.send({ type: 'STOPPED', actor: 'tailer' }));
        return;
      default:
        assertNever(message, 'tailer');
    }
  }

  /** Stops reading, sends the batch in hand, closes every file. Idempotent. */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.stopping = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      for (const w of this.watchers.values()) w?.close();
      this.watchers.clear();
      // A start still opening files finishes first, so that no descriptor is left open behind us.
      await this.startPromise?.catch(() => undefined);
      await this.running;
      await Promise.all(this.followers.map((f) => f.close()));
    })();
    return this.stopPromise;
  }

  private emit(batch: LogBatch): void {
    this.inFlightBytes += batch.bytes;
    this.ctx.send({ type: 'LOGS', batch });
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>): void {
    this.ctx.send({ type: 'LOG', level, actor: 'tailer', message, context });
  }

  /** Runs a poll of every file after `delayMs`, unless one is due sooner already. */
  private schedule(delayMs: number): void {
    if (this.stopping || !this.started) return;
    if (this.running) {
      if (delayMs < this.options.pollMs) this.rerun = true;
      return;
    }
    const dueAt = this.options.now() + delayMs;
    if (this.timer) {
      if (this.timerDueAt <= dueAt) return;
      clearTimeout(this.timer);
    }
    this.timerDueAt = dueAt;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.pollAll().finally(() => {
        this.running = null;
        this.afterPoll();
      });
    }, delayMs);
  }

  private more = false;

  private async pollAll(): Promise<void> {
    this.rerun = false;
    let more = false;
    for (const f of this.followers) {
      if (this.stopping) break;
      try {
        if (await f.poll()) more = true;
      } catch (err) {
        this.log('error', 'log file poll failed', { path: f.path, error: (err as Error).message });
      }
    }
    this.more = more;
  }

  private afterPoll(): void {
    if (this.stopping) return;
    if (this.options.watch) this.ensureWatchers();
    // Data left within the budget: go on at once (after other I/O had its turn).
    if (this.more) this.schedule(0);
    else if (this.rerun) this.schedule(this.options.watchDebounceMs);
    else this.schedule(this.untilRecordDue());
  }

  /**
   * The next poll's delay: pollMs, or sooner when an open multi-line record is due before then (a
   * multiline timeout shorter than the poll). Not while reading is held back: COMMITTED or
   * RESUME_TAILING brings the poll forward then, and a due record must not make the tailer spin.
   */
  private untilRecordDue(): number {
    const { pollMs } = this.options;
    if (this.paused || this.inFlightBytes >= this.options.windowBytes) return pollMs;
    let due = Infinity;
    for (const f of this.followers) due = Math.min(due, f.nextDueAt?.() ?? Infinity);
    // At least 10 ms: a record due now is handed over by this poll's reading, not by a rush of polls.
    return Math.max(10, Math.min(pollMs, due - this.options.now()));
  }

  /** Watches each directory that exists; a missing one is tried again after each poll. */
  private ensureWatchers(): void {
    for (const [dir, names] of this.watchedNames) {
      if (this.watchers.get(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (event, filename) => {
          // Appends ('change') wait for the poll: waking on each write costs more CPU than it saves
          // latency. Renames, creations and deletions are what must be seen quickly.
          if (event !== 'rename') return;
          const name = filename?.toString();
          if (!name || names.some((n) => n === name || isRotatedSibling(n, name))) {
            this.schedule(this.options.watchDebounceMs);
          }
        });
        w.on('error', () => {
          w.close();
          this.watchers.set(dir, null);
        });
        this.watchers.set(dir, w);
      } catch {
        this.watchers.set(dir, null);
      }
    }
  }
}
