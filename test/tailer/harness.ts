// Shared by the tailer tests and bench/tailer.ts: a tailer driven through createTailer's contract with a
// collecting context, a writer of numbered lines, the real logrotate, and bounded waits.

import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { DEFAULTS, type AgentConfig } from '../../src/supervisor/config.js';
import type { Actor } from '../../src/supervisor/actor.js';
import type { CollectorMessage, FileCheckpoint, LogBatch, LogRecord, AgentEvent } from '../../src/supervisor/messages.js';
import { createTailerWith, type TailerOptions } from '../../src/workers/tailer/tailer.js';

export const FAST: Partial<TailerOptions> = { pollMs: 50, rotationIdleMs: 150, watchDebounceMs: 10 };

export function tempDir(prefix = 'observ-tailer-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function agentConfig(logFiles: string[], maxLineBytes = 64 * 1024, journal: Pick<AgentConfig, 'journalUnits' | 'journalDirectory'> = { journalUnits: [], journalDirectory: null }): AgentConfig {
  return {
    app: 'test-app', vpsName: 'test-vps', configFile: '/nonexistent/config.yml', stateDir: '/nonexistent/state',
    enabled: true, postgresUrl: 'postgresql://127.0.0.1/none', collectionInterval: 60, healthChecks: [],
    logFiles, ...journal, flushInterval: 5, placement: 'compact', maxLineBytes, multiline: DEFAULTS.multiline, spoolMaxBytes: 1 << 20, diskPath: '/', dbTimeout: 30, dbIdleClose: 20, service: null, releaseDir: '/nonexistent/current',
  };
}

export interface RunningTailer {
  tailer: Actor;
  messages: CollectorMessage[];
  batches: LogBatch[];
  events: AgentEvent[];
  records(): LogRecord[];
  /** Checkpoint of the last LOGS batch for a path (what the writer would have committed last). */
  lastCheckpoint(path: string): FileCheckpoint | null;
  /** Sends COMMITTED for everything sent so far (when autoCommit is off). */
  commitAll(): void;
  uncommittedBytes(): number;
  stop(): Promise<void>;
}

export async function startTailer(
  files: string[],
  options: Partial<TailerOptions> & { checkpoints?: FileCheckpoint[]; autoCommit?: boolean; maxLineBytes?: number;
    journal?: Pick<AgentConfig, 'journalUnits' | 'journalDirectory'> } = {},
): Promise<RunningTailer> {
  const messages: CollectorMessage[] = [];
  const batches: LogBatch[] = [];
  const events: AgentEvent[] = [];
  const autoCommit = options.autoCommit ?? true;
  const abort = new AbortController();
  let uncommitted = 0;
  let pendingCheckpoints: FileCheckpoint[] = [];
  // eslint-disable-next-line prefer-const
  let tailer: Actor;
  const commit = () => {
    if (uncommitted === 0 && pendingCheckpoints.length === 0) return;
    const bytes = uncommitted;
    const filesCommitted = pendingCheckpoints;
    uncommitted = 0;
    pendingCheckpoints = [];
    tailer.handle({ type: 'COMMITTED', files: filesCommitted, bytes });
  };
  const ctx = {
    signal: abort.signal,
    send(message: CollectorMessage) {
      messages.push(message);
      if (message.type === 'LOGS') {
        batches.push(message.batch);
        uncommitted += message.batch.bytes;
        pendingCheckpoints.push(message.batch.checkpoint);
        // Like the writer: a commit comes back a little later, asynchronously.
        if (autoCommit) setImmediate(commit);
      } else if (message.type === 'EVENT') {
        events.push(message.event);
      }
    },
  };
  const { checkpoints = [], autoCommit: _a, maxLineBytes, journal, ...tailerOptions } = options;
  void _a;
  tailer = createTailerWith({ ...FAST, ...tailerOptions })({ config: agentConfig(files, maxLineBytes, journal), checkpoints }, ctx);
  await tailer.start();
  return {
    tailer, messages, batches, events,
    records: () => batches.flatMap((b) => b.records),
    lastCheckpoint(path) {
      for (let i = batches.length - 1; i >= 0; i--) if (batches[i]!.checkpoint.path === path) return batches[i]!.checkpoint;
      return null;
    },
    commitAll: commit,
    uncommittedBytes: () => uncommitted,
    async stop() {
      await tailer.stop();
      abort.abort();
    },
  };
}

/** Waits until `condition` holds, polling every 10 ms; throws after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `n=000042 INFO …`: numbered lines, long enough that a file gets its fingerprint after a line or two. */
export function numberedLine(n: number): string {
  return `n=${String(n).padStart(7, '0')} INFO request served path=/api/items/${n} status=200 bytes=${(n * 7919) % 100000} ` +
    'user_agent="Mozilla/5.0 (X11; Linux x86_64)" trace=0123456789abcdef';
}

export function numberOf(record: LogRecord): number {
  const m = /^n=(\d+) /.exec(record.message);
  if (!m) throw new Error(`not a numbered line: ${record.message.slice(0, 80)}`);
  return Number(m[1]);
}

/**
 * Writes numbered lines through one descriptor, as an app does: it keeps writing to the file it
 * opened (even after a rename) until told to reopen. Opened with O_APPEND, like loggers do.
 */
export class LineWriter {
  next = 1;
  private fd: number;
  private timer: NodeJS.Timeout | null = null;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'a');
  }
  write(count: number): void {
    let text = '';
    for (let i = 0; i < count; i++) text += numberedLine(this.next++) + '\n';
    writeSync(this.fd, text);
  }
  writeRaw(text: string): void {
    writeSync(this.fd, text);
  }
  reopen(): void {
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
  }
  /** Writes `perTick` lines every `everyMs` until stopped. */
  start(perTick: number, everyMs = 5): void {
    this.timer = setInterval(() => this.write(perTick), everyMs);
  }
  stopLoop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
  close(): void {
    this.stopLoop();
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
  get written(): number {
    return this.next - 1;
  }
}

/** Runs the real logrotate once, forced, with its own config and state file in `dir`. */
export async function logrotate(dir: string, logPath: string, directives: string[]): Promise<void> {
  const conf = join(dir, 'logrotate.conf');
  writeFileSync(conf, `${logPath} {\n${directives.map((d) => `  ${d}\n`).join('')}}\n`, { mode: 0o644 });
  const child = spawn('logrotate', ['-f', '-s', join(dir, 'logrotate.state'), conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`logrotate exited with ${code}: ${stderr}`);
}

export async function hasLogrotate(): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('logrotate', ['--version'], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

export interface Delivery {
  received: number;
  duplicates: number[];
  outOfOrder: number;
  missing: number[];
}

/** Compares the numbered lines received with 1..written. */
export function delivery(records: LogRecord[], written: number): Delivery {
  const seen = new Set<number>();
  const duplicates: number[] = [];
  let outOfOrder = 0;
  let last = 0;
  for (const r of records) {
    const n = numberOf(r);
    if (seen.has(n)) duplicates.push(n);
    seen.add(n);
    if (n < last) outOfOrder++;
    last = n;
  }
  const missing: number[] = [];
  for (let n = 1; n <= written; n++) if (!seen.has(n)) missing.push(n);
  return { received: records.length, duplicates, outOfOrder, missing };
}

/** A scratch directory removed after the test. */
export function scratchDir(t: TestContext): string {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  return dir;
}

/** A scratch directory with one log file and a LineWriter on it, both cleaned up after the test. */
export function logFixture(t: TestContext, name = 'app.log'): { dir: string; file: string; writer: LineWriter } {
  const dir = scratchDir(t);
  const file = join(dir, name);
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  return { dir, file, writer };
}

/** A tailer on `files`, stopped after the test. */
export async function tailing(t: TestContext, files: string[], options: Parameters<typeof startTailer>[1] = {}): Promise<RunningTailer> {
  const run = await startTailer(files, options);
  t.after(() => run.stop());
  return run;
}

/**
 * Waits for `count` lines, lets a little more time pass (nothing more may come), and checks that they
 * are exactly the numbered lines first … first + count - 1, in order.
 */
export async function expectLines(run: RunningTailer, first: number, count: number, what: string, settleMs = 100, message?: string): Promise<void> {
  await waitFor(() => run.records().length >= count, 3000, what);
  await sleep(settleMs);
  assert.deepEqual(run.records().map(numberOf), Array.from({ length: count }, (_, i) => first + i), message);
}
