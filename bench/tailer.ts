// Tailer figures, one JSON object on stdout:
//   catchUp      — lines/s reading a large existing file through createTailer (commits acknowledged at
//                  once, as a fast writer would), with the peak RSS growth while doing it;
//   baselines    — the same file read and split into lines without parsing, and parseLogLine alone;
//   steady       — CPU % of this process while another process writes 1,000 lines/s, beside the CPU %
//                  of the same process idle for as long; with the defaults and with fs.watch on;
//   rotation     — numbered lines lost in each rotation scenario (needs the logrotate binary);
//   multiline    — the cost of folding stack traces: catching up with folding on (the default, as in
//                  catchUp) against off, on the same file and on one where a third of the lines are
//                  trace lines; LineFolder alone against parseLogLine alone; and the memory held by one
//                  open record while a trace far over max_bytes goes by (the bound is max_bytes).
//
// Usage: node dist/bench/tailer.js [--lines 500000] [--seconds 10] [--no-rotation] [--no-steady]

import { mkdtempSync, rmSync, openSync, writeSync, closeSync, statSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { CollectorMessage, FileCheckpoint } from '../src/supervisor/messages.js';
import type { Actor } from '../src/supervisor/actor.js';
import { createTailerWith, type TailerOptions } from '../src/workers/tailer/tailer.js';
import { parseLogLine } from '../src/workers/tailer/parse.js';
import { LineFolder, type MultilineOptions } from '../src/workers/tailer/multiline.js';
import { DEFAULTS } from '../src/supervisor/config.js';
import {
  agentConfig, delivery, hasLogrotate, logrotate, LineWriter, sleep, startTailer, waitFor,
} from '../test/tailer/harness.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const LINES = arg('lines', 500_000);
const SECONDS = arg('seconds', 10);
const ROTATION = !args.includes('--no-rotation');
const STEADY = !args.includes('--no-steady');

function logcoreLine(n: number): string {
  return JSON.stringify({
    timestamp: new Date(1_770_582_600_000 + n).toISOString(), level: n % 50 === 0 ? 'ERROR' : 'INFO',
    logger: 'my_app', message: `User action ${n}`, context: { user_id: n % 9973, path: `/api/items/${n % 1000}` },
  });
}

function writeLargeFile(path: string, lines: number, line: (n: number) => string = mixedLine): void {
  const fd = openSync(path, 'w');
  for (let n = 0; n < lines;) {
    let block = '';
    for (let i = 0; i < 5000 && n < lines; i++, n++) block += line(n) + '\n';
    writeSync(fd, block);
  }
  closeSync(fd);
}

function mixedLine(n: number): string {
  return n % 4 === 3 ? `2026-02-08 20:30:00,123 WARN [worker-${n % 8}] slow query ${n} took 1200 ms` : logcoreLine(n);
}

// A plain-text log where a third of the lines belong to traces: every 30 lines, an ERROR line and a JVM
// trace of 9 lines (header, frames, Caused by, "... N more").
const TRACE_LINES = [
  'java.lang.IllegalStateException: Order has no items',
  '\tat com.example.shop.orders.OrderService.checkout(OrderService.java:87)',
  '\tat com.example.shop.orders.OrderController.checkout(OrderController.java:42)',
  '\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)',
  'Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available',
  '\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)',
  '\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)',
  '\t... 4 more',
  '\tat java.base/java.lang.Thread.run(Thread.java:1583)',
];
function tracedLine(n: number): string {
  const k = n % 30;
  if (k === 20) return `2026-02-08 20:30:00.${String(n % 1000).padStart(3, '0')} ERROR 4242 --- [exec-${n % 8}] c.e.shop.Orders : checkout ${n} failed`;
  if (k > 20) return TRACE_LINES[k - 21]!;
  return `2026-02-08 20:30:00.${String(n % 1000).padStart(3, '0')}  INFO 4242 --- [exec-${n % 8}] c.e.shop.Orders : request ${n} served in 4 ms`;
}

/** Runs createTailer on `files` with a context that only counts, committing each batch at once. */
async function countingTailer(files: string[], checkpoints: FileCheckpoint[] = [], options: Partial<TailerOptions> = {}) {
  let records = 0;
  let tailer!: Actor;
  const abort = new AbortController();
  const ctx = {
    signal: abort.signal,
    send(message: CollectorMessage) {
      if (message.type !== 'LOGS') return;
      records += message.batch.records.length;
      const { bytes, checkpoint } = message.batch;
      setImmediate(() => tailer.handle({ type: 'COMMITTED', files: [checkpoint], bytes }));
    },
  };
  tailer = createTailerWith(options)({ config: agentConfig(files), checkpoints }, ctx);
  await tailer.start();
  return { count: () => records, stop: async () => { await tailer.stop(); abort.abort(); } };
}

/** Reads `file` to its end through createTailer; `records` is how many records that makes. */
async function catchUpOnce(file: string, records: number, options: Partial<TailerOptions> = {}) {
  const lines = LINES;
  const bytes = statSync(file).size;
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 20);
  const started = process.hrtime.bigint();
  const run = await countingTailer([file], [], options);
  // The last record waits for its quiet interval: count up to the one before it, then time that.
  await waitFor(() => run.count() >= records - 1, 600_000, 'the whole file');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  await waitFor(() => run.count() >= records, 10_000, 'the last record');
  await run.stop();
  return {
    lines, records: run.count(), megabytes: +(bytes / 1048576).toFixed(1), seconds: +seconds.toFixed(2),
    linesPerSec: Math.round(lines / seconds), megabytesPerSec: +(bytes / 1048576 / seconds).toFixed(1),
    rssGrowthMb: +((rssPeak - rssBefore) / 1048576).toFixed(1),
  };
}

async function catchUp(dir: string) {
  const file = join(dir, 'large.log');
  writeLargeFile(file, LINES);
  const bytes = statSync(file).size;
  const timed = await catchUpOnce(file, LINES);
  const seconds = timed.seconds;
  const rssPeak = timed.rssGrowthMb * 1048576;
  const rssBefore = 0;

  // Baseline 1: the same bytes read in 64 KiB chunks and split at LF, without parsing.
  const t0 = process.hrtime.bigint();
  const handle = await open(file, 'r');
  const buf = Buffer.allocUnsafe(64 * 1024);
  let pos = 0;
  let splitLines = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    let i = -1;
    while ((i = buf.indexOf(10, i + 1)) !== -1 && i < bytesRead) splitLines++;
    pos += bytesRead;
  }
  await handle.close();
  const splitSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  // Baseline 2: parseLogLine alone on the first 100k lines held in memory, beside LineFolder.
  const inMemory = parseAgainstFold(file, 30 * 1024 * 1024);

  // Folding on (the default) and off, on the same file: the cost for logs without traces.
  const foldingOff = await catchUpOnce(file, LINES, { multiline: { ...DEFAULTS.multiline, enabled: false } });
  return {
    catchUp: {
      lines: LINES, megabytes: +(bytes / 1048576).toFixed(1), seconds: +seconds.toFixed(2),
      linesPerSec: Math.round(LINES / seconds), megabytesPerSec: +(bytes / 1048576 / seconds).toFixed(1),
      rssGrowthMb: +((rssPeak - rssBefore) / 1048576).toFixed(1),
    },
    baselines: {
      readAndSplitLinesPerSec: Math.round(splitLines / splitSeconds),
      ...inMemory,
      catchUpFoldingOffLinesPerSec: foldingOff.linesPerSec,
      catchUpFoldingOffRssGrowthMb: foldingOff.rssGrowthMb,
    },
  };
}

/**
 * parseLogLine alone against LineFolder (which parses each line too) on the first 100k lines of a
 * file's first `bytes`, held in memory: best of five, taking turns, as the machine may be busy.
 */
function parseAgainstFold(file: string, bytes: number): { parseOnlyLinesPerSec: number; foldLinesPerSec: number } {
  const sample = readFileSync(file).subarray(0, bytes);
  const lines: Buffer[] = [];
  for (let start = 0, i; (i = sample.indexOf(10, start)) !== -1 && lines.length < 100_000; start = i + 1) lines.push(sample.subarray(start, i));
  const opts = { readAt: new Date(), sourceFile: file, maxLineBytes: 64 * 1024 };
  let parseSeconds = Infinity;
  let foldSeconds = Infinity;
  for (let round = 0; round < 5; round++) {
    const t1 = process.hrtime.bigint();
    for (const line of lines) parseLogLine(line, opts);
    parseSeconds = Math.min(parseSeconds, Number(process.hrtime.bigint() - t1) / 1e9);
    foldSeconds = Math.min(foldSeconds, foldOnce(lines, file));
  }
  return { parseOnlyLinesPerSec: Math.round(lines.length / parseSeconds), foldLinesPerSec: Math.round(lines.length / foldSeconds) };
}

/** Seconds for LineFolder (parsing included) to take `lines` held in memory. */
function foldOnce(lines: Buffer[], file: string): number {
  const folder = new LineFolder(DEFAULTS.multiline, { sourceFile: file, maxLineBytes: 64 * 1024 }, () => undefined);
  const readAt = new Date();
  const t0 = process.hrtime.bigint();
  for (const line of lines) folder.add(line, line.length + 1, readAt, 0);
  folder.flush();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Folding on and off on a log where a third of the lines are trace lines, and the memory of one open record. */
async function multilineCost(dir: string) {
  const file = join(dir, 'traces.log');
  writeLargeFile(file, LINES, tracedLine);
  const records = LINES - Math.floor(LINES / 30) * TRACE_LINES.length - Math.max(0, (LINES % 30) - 21);
  // Twice each, taking turns; the faster run of each is kept (the machine may be busy).
  const faster = <T extends { linesPerSec: number }>(a: T, b: T) => (a.linesPerSec >= b.linesPerSec ? a : b);
  let on = await catchUpOnce(file, records);
  let off = await catchUpOnce(file, LINES, { multiline: { ...DEFAULTS.multiline, enabled: false } });
  on = faster(on, await catchUpOnce(file, records));
  off = faster(off, await catchUpOnce(file, LINES, { multiline: { ...DEFAULTS.multiline, enabled: false } }));
  // In memory, on the plain-text lines of this file (no JSON to pass by): LineFolder against parseLogLine.
  const inMemory = parseAgainstFold(file, 10 * 1024 * 1024);
  return {
    tracesFile: {
      traceLineShare: +(TRACE_LINES.length / 30).toFixed(2), foldingOn: on, foldingOff: off,
      ...inMemory,
    },
    openRecordMemory: openRecordMemory(DEFAULTS.multiline),
  };
}

/**
 * A Go dump of 200,000 lines (goroutine sections) through one folder whose line limit is out of the way:
 * the bytes it holds never exceed max_bytes, and the heap does not grow with the trace.
 */
function openRecordMemory(options: MultilineOptions) {
  const lines = [Buffer.from('panic: boom'), Buffer.from('')];
  for (let g = 0; lines.length < 200_000; g++) {
    lines.push(Buffer.from(`goroutine ${g} [chan receive]:`), Buffer.from(`main.worker(0xc000${g.toString(16)})`),
      Buffer.from(`\t/src/app/worker.go:${g % 500} +0x1d`), Buffer.from(''));
  }
  const bytes = lines.reduce((sum, l) => sum + l.length + 1, 0);
  let records = 0;
  const folder = new LineFolder({ ...options, maxLines: 1_000_000 }, { sourceFile: 'dump.log', maxLineBytes: 64 * 1024 }, () => { records++; });
  const readAt = new Date();
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  let heldPeak = 0;
  let retainedPeak = NaN;
  for (let i = 0; i < lines.length; i++) {
    folder.add(lines[i]!, lines[i]!.length + 1, readAt, 0);
    heldPeak = Math.max(heldPeak, folder.pendingBytes);
    if (i % 1000 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    if (i % 9973 === 9972 && global.gc) {
      // Now and then, with a record open: what the folder keeps alive once garbage is collected.
      global.gc();
      retainedPeak = Math.max(Number.isNaN(retainedPeak) ? 0 : retainedPeak, process.memoryUsage().heapUsed - heapBefore);
    }
  }
  folder.flush();
  return {
    traceLines: lines.length, traceBytes: bytes, records, maxBytes: options.maxBytes, largestHeldBytes: heldPeak,
    // Peak heap growth includes garbage not collected yet; retained is what stays alive (needs --expose-gc).
    heapGrowthPeakMb: +((heapPeak - heapBefore) / 1048576).toFixed(1),
    heapRetainedPeakKb: Number.isNaN(retainedPeak) ? null : Math.round(retainedPeak / 1024),
    heldBytesBound: 'max_bytes, plus at most two blank lines held after the record',
  };
}

/** CPU of this process over `seconds` (user + system) as a percent of one core. */
async function cpuPercentOver(seconds: number, during: () => Promise<void> = () => sleep(seconds * 1000)): Promise<number> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await during();
  const cpu = process.cpuUsage(cpu0);
  const wall = Number(process.hrtime.bigint() - t0) / 1e3;
  return +((100 * (cpu.user + cpu.system)) / wall).toFixed(2);
}

let steadyRuns = 0;

async function steady(dir: string, options: Partial<TailerOptions>) {
  const file = join(dir, `steady-${options.watch ? 'watch' : 'poll'}-${++steadyRuns}.log`);
  const idleCpuPercent = await cpuPercentOver(SECONDS);
  const run = await countingTailer([file], [], options);
  // The app: another process writing 1,000 lines/s (10 lines every 10 ms), one write per line.
  const script = `
    const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(file)}, 'a'); let n = 0;
    const line = (n) => JSON.stringify({timestamp: new Date().toISOString(), level: 'INFO', logger: 'app',
      message: 'request served ' + n, context: {path: '/api/items/' + (n % 100), status: 200}}) + '\\n';
    const t = setInterval(() => { for (let i = 0; i < 10; i++) fs.writeSync(fd, line(n++)); }, 10);
    setTimeout(() => { clearInterval(t); process.stdout.write(String(n)); }, ${SECONDS * 1000});`;
  let written = '';
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.on('data', (d) => (written += d));
  await sleep(500); // let the writer settle
  const before = run.count();
  const tailerCpuPercent = await cpuPercentOver(SECONDS - 1);
  const linesDuring = run.count() - before;
  await new Promise((r) => child.on('close', r));
  await waitFor(() => run.count() >= Number(written), 10_000, 'the steady lines');
  await run.stop();
  return {
    linesPerSec: Math.round(linesDuring / (SECONDS - 1)),
    tailerCpuPercent, idleProcessCpuPercent: idleCpuPercent, linesWritten: Number(written), linesReceived: run.count(),
  };
}

/** Numbered lines lost per rotation scenario, with an app writing ~1,000 lines/s. */
async function rotationLosses(dir: string) {
  if (!ROTATION) return null;
  if (!(await hasLogrotate())) return { skipped: 'logrotate binary not installed' };
  const scenarios: Record<string, (sub: string, file: string, w: LineWriter) => Promise<void>> = {
    // logrotate create; the app keeps writing to the old file for 1 s before it reopens.
    createWithLateReopen: async (sub, file, w) => {
      await logrotate(sub, file, ['rotate 5', 'create', 'nocompress']);
      await sleep(1000);
      w.reopen();
    },
    copytruncate: async (sub, file) => {
      await logrotate(sub, file, ['rotate 5', 'copytruncate', 'nocompress']);
    },
    twoRotationsWithinOnePoll: async (sub, file, w) => {
      await logrotate(sub, file, ['rotate 5', 'create', 'nocompress']);
      w.reopen();
      await logrotate(sub, file, ['rotate 5', 'create', 'nocompress']);
      w.reopen();
    },
  };
  const out: Record<string, unknown> = {};
  for (const [name, rotate] of Object.entries(scenarios)) {
    const sub = mkdtempSync(join(dir, `${name}-`));
    const file = join(sub, 'app.log');
    const w = new LineWriter(file);
    const run = await startTailer([file], { pollMs: 250, rotationIdleMs: 500 });
    w.start(5, 5);
    await sleep(500);
    await rotate(sub, file, w);
    await sleep(500);
    w.stopLoop();
    await sleep(1500);
    await run.stop();
    w.close();
    const d = delivery(run.records(), w.written);
    out[name] = { written: w.written, lost: d.missing.length, duplicates: d.duplicates.length, lossEventsReported: run.events.length };
  }
  // Rotation while the agent is stopped (create, new file already longer than the stored offset).
  {
    const sub = mkdtempSync(join(dir, 'stopped-'));
    const file = join(sub, 'app.log');
    const w = new LineWriter(file);
    w.write(1000);
    const first = await startTailer([file]);
    await waitFor(() => first.records().length >= 1000);
    await first.stop();
    w.write(500);
    await logrotate(sub, file, ['rotate 5', 'create', 'nocompress']);
    w.reopen();
    w.write(2000);
    const second = await startTailer([file], { checkpoints: [first.lastCheckpoint(file)!] });
    await waitFor(() => second.records().length >= 2500, 5000).catch(() => undefined);
    await sleep(300);
    await second.stop();
    w.close();
    const d = delivery([...first.records(), ...second.records()], w.written);
    out.rotatedWhileStopped = { written: w.written, lost: d.missing.length, duplicates: d.duplicates.length, lossEventsReported: second.events.length };
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'observ-bench-tailer-'));
try {
  const { catchUp: c, baselines } = await catchUp(dir);
  const multiline = await multilineCost(dir);
  const pollOnly = STEADY ? await steady(dir, {}) : null;
  const withWatch = STEADY ? await steady(dir, { watch: true }) : null;
  const foldingOff = STEADY ? await steady(dir, { multiline: { ...DEFAULTS.multiline, enabled: false } }) : null;
  const rotation = await rotationLosses(dir);
  process.stdout.write(JSON.stringify({
    bench: 'tailer', node: process.version, catchUp: c, baselines, multiline, steady1000LinesPerSec: { default: pollOnly, withFsWatch: withWatch, foldingOff }, rotation,
  }, null, 2) + '\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
