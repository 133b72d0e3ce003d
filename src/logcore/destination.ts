// Where logcore lines go: one pino instance over one sonic-boom stream per target (a file path or
// stdout), shared by every logger that writes there, plus the process hooks that keep lines safe.
//
//   logger.info() ──► pino (JSON line) ──► sonic-boom buffer ──write(2) in batches──► file / stdout
//                                              ▲ flushSync on: exit, SIGTERM/SIGINT, timer, flush()
//                                              └ reopen on: SIGHUP, reopen() (after logrotate)
//
// Why batches written synchronously instead of sonic-boom's `sync: false`: with `sync: false` a
// batch can be in flight in libuv's thread pool when the process exits; if the pool is busy it is
// never written, and the synchronous exit flush writes later lines before it. Here a log call only
// appends to memory; once BUFFER_BYTES are pending (or FLUSH_INTERVAL_MS passes) the batch is
// written from the main thread in one write(2). Nothing is ever in flight elsewhere, so the exit
// flush is complete and in order.

import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';

type SonicBoom = ReturnType<typeof pino.destination>;

/** Bytes buffered before a batch is written (one write(2) per batch). */
export const BUFFER_BYTES = 4096;
/** The longest a line waits in memory when the application logs little. */
export const FLUSH_INTERVAL_MS = 100;
/** Past this many unwritten bytes (disk full, stdout reader gone) new lines are dropped and counted. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export const STDOUT = 'stdout';

// Formatting a Date is a sixth of a line's cost; a busy process logs many lines per millisecond.
let cachedMillis = -1;
let cachedField = '';
function timestampField(): string {
  const now = Date.now();
  if (now !== cachedMillis) {
    cachedMillis = now;
    cachedField = `"timestamp":"${new Date(now).toISOString()}"`;
  }
  return cachedField;
}

export class Destination {
  readonly target: string;
  readonly pino: pino.Logger;
  private readonly stream: SonicBoom;
  private readonly timer: NodeJS.Timeout;
  private pending = false;
  private closing: Promise<void> | null = null;
  private errorReported = false;
  private streamClosed = false;
  /** Lines dropped because MAX_BUFFERED_BYTES were already waiting. */
  dropped = 0;

  constructor(target: string) {
    this.target = target;
    if (target === STDOUT) {
      this.stream = pino.destination({ fd: 1, sync: true, minLength: BUFFER_BYTES, maxLength: MAX_BUFFERED_BYTES });
    } else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      // Opened synchronously so a path that cannot be written fails getLogger() itself, loudly.
      this.stream = pino.destination({ dest: target, sync: true, minLength: BUFFER_BYTES, maxLength: MAX_BUFFERED_BYTES });
    }
    this.stream.on('error', (error: Error) => this.report(error));
    this.stream.once('close', () => {
      this.streamClosed = true;
    });
    this.stream.on('drop', () => {
      this.dropped += 1;
    });
    this.pino = pino(
      {
        level: 'trace',
        base: null,
        // pino writes the level formatter's output first and the timestamp second, and the message
        // key last; the line format wants timestamp, level, logger, message, context, exception.
        // So the level formatter writes only the opening brace, the timestamp function writes the
        // first key, and level..exception travel in the log object, whose key order pino keeps.
        formatters: { level: () => ({}) },
        timestamp: timestampField,
        messageKey: 'message',
      },
      this.stream,
    );
    this.timer = setInterval(() => {
      if (this.pending) this.flushSync();
    }, FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /** Hands a fully built line object to pino. */
  write(line: object): void {
    if (this.closing !== null) return;
    this.pino.info(line);
    this.pending = true;
  }

  flushSync(): void {
    this.pending = false;
    if (this.streamClosed) return;
    try {
      this.stream.flushSync();
    } catch (error) {
      this.report(error as Error);
    }
  }

  /** Starts writing to a fresh file at the configured path (the old one was renamed by logrotate). */
  reopen(): void {
    if (this.target === STDOUT || this.closing !== null) return;
    this.flushSync();
    try {
      this.stream.reopen();
      this.errorReported = false;
    } catch (error) {
      // sonic-boom keeps the old descriptor; lines keep going to the renamed file, not nowhere.
      this.report(error as Error);
    }
  }

  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.flushSync();
    clearInterval(this.timer);
    unregister(this);
    this.closing = new Promise<void>((resolve) => {
      if (this.streamClosed) {
        resolve();
        return;
      }
      this.stream.once('close', () => resolve());
      try {
        this.stream.end();
      } catch {
        resolve();
      }
    });
    return this.closing;
  }

  // A logger has nowhere to log its own trouble but stderr; say it once, not once per line.
  private report(error: Error): void {
    if (this.errorReported) return;
    this.errorReported = true;
    try {
      process.stderr.write(`logcore: cannot write to ${this.target}: ${error.message}\n`);
    } catch {
      // stderr is gone too; nothing left to tell.
    }
  }
}

// One destination per target, so loggers sharing a file share its buffer, order and rotation.
const destinations = new Map<string, Destination>();

export function destinationFor(logFile: string | undefined): Destination {
  const target = logFile === undefined ? STDOUT : path.resolve(logFile);
  const existing = destinations.get(target);
  if (existing !== undefined) return existing;
  const created = new Destination(target);
  destinations.set(target, created);
  syncProcessHooks();
  return created;
}

function unregister(destination: Destination): void {
  if (destinations.get(destination.target) !== destination) return;
  destinations.delete(destination.target);
  syncProcessHooks();
}

export function flushAllSync(): void {
  for (const destination of destinations.values()) destination.flushSync();
}

export function reopenAll(): void {
  for (const destination of destinations.values()) destination.reopen();
}

// 'exit' covers process.exit(), the end of the event loop and uncaught exceptions.
const onExit = (): void => flushAllSync();
const onHangup = (): void => reopenAll();
// SIGTERM (systemd stop) and SIGINT end the process without an 'exit' event. When logcore is the
// only listener it flushes and re-raises, so the process still dies of the signal as it would have;
// when the application listens too, the application decides and logcore only flushes.
const terminationSignals = ['SIGTERM', 'SIGINT'] as const;
const onTermination = (signal: NodeJS.Signals): void => {
  flushAllSync();
  if (process.listenerCount(signal) === 1) {
    removeProcessHooks();
    process.kill(process.pid, signal);
  }
};

let hooksInstalled = false;
let hangupInstalled = false;

// Hooks exist only while destinations do; SIGHUP only while a file does (on a terminal, SIGHUP
// should still end a process that logs to stdout).
function syncProcessHooks(): void {
  const wantHooks = destinations.size > 0;
  const wantHangup = [...destinations.keys()].some((target) => target !== STDOUT);
  if (wantHooks && !hooksInstalled) {
    process.on('exit', onExit);
    for (const signal of terminationSignals) process.on(signal, onTermination);
  } else if (!wantHooks && hooksInstalled) {
    process.removeListener('exit', onExit);
    for (const signal of terminationSignals) process.removeListener(signal, onTermination);
  }
  hooksInstalled = wantHooks;
  if (wantHangup && !hangupInstalled) process.on('SIGHUP', onHangup);
  else if (!wantHangup && hangupInstalled) process.removeListener('SIGHUP', onHangup);
  hangupInstalled = wantHangup;
}

function removeProcessHooks(): void {
  destinations.clear();
  syncProcessHooks();
}
