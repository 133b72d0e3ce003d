// The writer: batches samples, probe results and log lines by rows, bytes and time, makes each batch
// durable in the spool, then stores it in PostgreSQL exactly once.
//
//   add*() ──► buffer ──seal (rows/bytes/timer)──► spool (append + fdatasync) ──► onDurable (tailer may move on)
//              (log lines are COPY text from the moment they arrive; see Writer.logText)
//                                                    │
//                     drain, in seq order ◄──────────┘   one transaction per batch:
//   BEGIN → lock the agent's checkpoint row → (skip if batch.seq ≤ committed seq) →
//   COPY vps_metrics → COPY health_checks → COPY log_entries → COPY agent_events →
//   UPDATE agent_checkpoints (seq + every file's identity and offset) → COMMIT → NOTIFY observ_batch
//   → ack in the spool (its segment is deleted once all its batches are committed) → onCommitted
//
// Memory: a batch is bounded by bytes (maxBatchBytes, 512 KiB) as well as rows, lives in reused buffers
// (scratch.ts), goes to disk from one frame and comes back as views of one read buffer, and reaches
// COPY in 64 KiB pieces of those bytes, never decoded to a string again. Catching up a 100 MB log
// peaked at 80 MB RSS with 4 MB batches held as parsed records; docs/footprint.md has the figures now.
//
// Sealing never waits for the database, so a database that is down or frozen only makes the spool
// grow; sampling, probing and tailing keep their cadence. The spool is written before PostgreSQL, so
// the newest spooled record is always at least as new as the database's checkpoint: the agent
// resumes from whichever is newer, and the batch sequence turns every replay into a no-op.
//
// Every database step has a deadline: connect timeout, query_timeout and statement_timeout per
// statement, and one deadline over the whole transaction (COPY is not covered by query_timeout)
// that destroys the connection when it passes. Reconnects use capped exponential backoff with jitter.

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import { connect, loadCopyFrom, redactUrl, type PgClient } from '../../db/pg.js';
import { ClosedError, ObservError } from '../../errors.js';
import type { AgentEvent, DeploymentRecord, FileCheckpoint, LogRecord, MetricSample, ProbeResult } from '../../supervisor/messages.js';
import { releaseEntry } from '../deploys/release.js';
import { double, encodeCopyRow, hasNul, int4, jsonForPg, real, timestamp } from './copy-encode.js';
import { ByteBuffer } from './scratch.js';
import { Spool, type CorruptionReport, type SpoolBytes, type SpoolHeader, type SpoolRawRecord, type SpoolRows, type SpoolSections } from './spool.js';

const require = createRequire(import.meta.url);

export const AGENT_VERSION: string = (require('../../../../package.json') as { version: string }).version;

/** One unit of storage, before encoding. */
export interface Batch {
  seq: number;
  createdAt: string;
  metrics: MetricSample[];
  probes: ProbeResult[];
  logs: LogRecord[];
  events: AgentEvent[];
  /** Position of every file after this batch (cumulative: files not read since keep their position). */
  files: FileCheckpoint[];
}

/** What callbacks learn about a batch. */
export interface BatchInfo {
  seq: number;
  files: FileCheckpoint[];
  rows: SpoolRows;
  /** Bytes of log files consumed by the batch's lines. */
  logBytes: number;
}

export interface WriterOptions {
  postgresUrl: string;
  vpsName: string;
  app: string;
  collectionInterval: number;
  /**
   * The health checks this agent runs (seconds), stored with every checkpoint: the hub shows these and
   * no others on the fleet overview (migration 110).
   */
  healthChecks?: readonly AgentHealthCheck[];
  flushIntervalMs: number;
  /** Directory of the spool (under the agent's state dir). */
  spoolDir: string;
  /** Bound on the spool's size on disk. */
  spoolMaxBytes: number;
  maxBatchRows?: number;
  /**
   * A batch is sealed at this many bytes (of COPY text, plus an estimate for samples); capped at spoolMaxBytes / 8.
   * Default 512 KiB: a batch sits in three reused buffers (scratch.ts), and at 1 MiB they held 3.7-4 MB of a busy
   * agent (1,000 lines/s); 512 KiB took busy RSS max 62.3 → 60.8 MB on Node 24, 60.5 → 59.6 on 22, at the same CPU
   * (bench/agent-footprint, one run each). A typical agent's batches are sealed by flush_interval long before.
   */
  maxBatchBytes?: number;
  /** Per-statement deadline (query_timeout; statement_timeout is set a little below it). */
  queryTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Deadline over one whole batch transaction, COPY included; the connection is destroyed when it passes. */
  flushTimeoutMs?: number;
  /**
   * The connection is closed once no batch has been stored for this long (ms; 0 keeps it open), so a
   * database with fewer connection slots than agents still receives everything. Default 20 s.
   */
  idleCloseMs?: number;
  /** Reconnect backoff: base and cap (ms). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Spool fill ratio at which tailing pauses, and the one below which it resumes. */
  pauseAt?: number;
  resumeAt?: number;
  /** Runs once on the first connection of the process (migrations). */
  prepareConnection?: (client: PgClient) => Promise<void>;
  /** A batch is durable in the spool: the tailer may release the lines it holds for it. */
  onDurable?: (batch: BatchInfo) => void;
  /** A batch is committed in PostgreSQL (now, or found committed before). */
  onCommitted?: (batch: BatchInfo) => void;
  /** Tailing should pause (spool nearly full) or may resume. */
  onBackpressure?: (paused: boolean) => void;
  /** Own diagnostics. */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;
}

export interface CommittedState {
  seq: number;
  files: FileCheckpoint[];
}

/** Where the agent resumes: file positions and where they came from. */
export interface ResumeState extends CommittedState {
  source: 'database' | 'spool' | 'none';
  databaseReachable: boolean;
}

export interface WriterStats {
  batchesSpooled: number;
  batchesCommitted: number;
  batchesDuplicate: number;
  rowsCommitted: number;
  rowsRejected: number;
  flushErrors: number;
  metricsThinned: number;
  probesThinned: number;
  logLinesDropped: number;
  eventsDropped: number;
  spoolCorruptBytes: number;
}

/** vps_metrics as agents before the app columns wrote it: spool records of that version still replay. */
const METRIC_COLUMNS_V1 = ['timestamp', 'vps_name', 'app_name', 'cpu_percent', 'memory_percent', 'memory_mb', 'disk_percent', 'disk_gb',
  'load_avg_1m', 'load_avg_5m', 'load_avg_15m', 'cpu_user', 'cpu_system', 'cpu_iowait', 'cpu_steal', 'memory_available_mb',
  'swap_percent', 'swap_used_mb', 'disk_free_gb', 'disk_read_bps', 'disk_write_bps', 'net_rx_bps', 'net_tx_bps', 'uptime_seconds', 'mounts'];
const METRIC_COLUMNS = [...METRIC_COLUMNS_V1, 'app_source', 'app_processes', 'app_cpu_percent', 'app_rss_mb', 'app_threads',
  'app_open_files', 'app_restarts'];
const HEALTH_COLUMNS = ['timestamp', 'vps_name', 'app_name', 'url', 'status_code', 'response_time_ms', 'success', 'error_message', 'cert_days_left'];
const LOG_COLUMNS = ['timestamp', 'vps_name', 'app_name', 'level', 'message', 'context', 'logger', 'exception', 'source_file', 'flags', 'raw'];
const EVENT_COLUMNS = ['timestamp', 'vps_name', 'app_name', 'kind', 'detail'];

const TABLES: Array<{ table: string; columns: string[]; section: keyof SpoolSections }> = [
  { table: 'vps_metrics', columns: METRIC_COLUMNS, section: 'metrics' },
  { table: 'health_checks', columns: HEALTH_COLUMNS, section: 'health' },
  { table: 'log_entries', columns: LOG_COLUMNS, section: 'logs' },
  { table: 'agent_events', columns: EVENT_COLUMNS, section: 'events' },
];

/** COPY text of a batch. Pure: every value is made storable (see copy-encode.ts). */
export function encodeBatch(batch: Batch, vps: string, app: string): SpoolSections {
  const fallbackTs = batch.createdAt;
  return { metrics: encodeMetricRows(batch.metrics, vps, app, fallbackTs), health: encodeProbeRows(batch.probes, vps, app, fallbackTs),
    logs: encodeLogRows(batch.logs, vps, app, fallbackTs), events: encodeEventRows(batch.events, vps, app, fallbackTs) };
}

export function encodeMetricRows(samples: readonly MetricSample[], vps: string, app: string, fallbackTs: string): string {
  let metrics = '';
  for (const m of samples) {
    metrics += encodeCopyRow([timestamp(m.timestamp) ?? fallbackTs, vps, app, real(m.cpuPercent), real(m.memoryPercent), real(m.memoryMb),
      real(m.diskPercent), real(m.diskGb), real(m.loadAvg1m), real(m.loadAvg5m), real(m.loadAvg15m), real(m.cpuUser), real(m.cpuSystem),
      real(m.cpuIowait), real(m.cpuSteal), real(m.memoryAvailableMb), real(m.swapPercent), real(m.swapUsedMb), real(m.diskFreeGb),
      double(m.diskReadBps), double(m.diskWriteBps), double(m.netRxBps), double(m.netTxBps), double(m.uptimeSeconds),
      // A JSON array (jsonb), not a text[]: encodeCopyValue treats JS arrays as text[] literals.
      m.mounts ? jsonForPg(m.mounts).text : null,
      m.app?.source ?? null, int4(m.app?.processes), real(m.app?.cpuPercent), real(m.app?.rssMb), int4(m.app?.threads),
      int4(m.app?.openFiles), int4(m.app?.restarts)]);
  }
  return metrics;
}

export function encodeProbeRows(results: readonly ProbeResult[], vps: string, app: string, fallbackTs: string): string {
  let health = '';
  for (const p of results) {
    health += encodeCopyRow([timestamp(p.timestamp) ?? fallbackTs, vps, app, p.url ?? '', int4(p.statusCode), real(p.responseTimeMs),
      p.success === true, p.errorMessage, real(p.certDaysLeft)]);
  }
  return health;
}

/** COPY text of log records; a record without a usable timestamp gets `fallbackTs` and the bad_timestamp flag. */
export function encodeLogRows(records: readonly LogRecord[], vps: string, app: string, fallbackTs: string): string {
  let logs = '';
  for (const r of records) {
    let flags = r.flags ?? [];
    const ts = timestamp(r.timestamp);
    if (!ts && !flags.includes('bad_timestamp')) flags = [...flags, 'bad_timestamp'];
    // JSON is encoded once here, so its NUL check comes for free.
    const context = r.context == null ? null : jsonForPg(r.context);
    const exception = r.exception == null ? null : jsonForPg(r.exception);
    if (!flags.includes('nul_removed') && (context?.nulRemoved || exception?.nulRemoved || hasNul(r.message) || hasNul(r.raw) ||
        hasNul(r.logger) || hasNul(r.level) || hasNul(r.sourceFile))) {
      flags = [...flags, 'nul_removed'];
    }
    logs += encodeCopyRow([ts ?? fallbackTs, vps, app, r.level ?? 'INFO', r.message ?? '', context?.text ?? null, r.logger,
      exception?.text ?? null, r.sourceFile, flags.length ? flags : null, r.raw]);
  }
  return logs;
}

export function encodeEventRows(events: readonly AgentEvent[], vps: string, app: string, fallbackTs: string): string {
  let out = '';
  for (const e of events) out += encodeCopyRow([timestamp(e.timestamp) ?? fallbackTs, vps, app, e.kind ?? 'unknown', e.detail ?? {}]);
  return out;
}

/** COPY data goes to the socket in pieces of about this size: never one string or buffer the size of a batch. */
export const COPY_CHUNK_BYTES = 64 * 1024;

/** COPY text of one table: text (tests, benchmarks) or bytes read from the spool (the writer). */
type Section = string | Buffer;

/**
 * The COPY data in pieces. Bytes are sliced without copying (COPY data need not be cut at rows);
 * text is cut after a newline, so no character is split, and encoded one piece at a time.
 */
export function* copyChunks(payload: Section, chunkBytes = COPY_CHUNK_BYTES): Generator<Buffer> {
  if (typeof payload !== 'string') {
    for (let at = 0; at < payload.length; at += chunkBytes) yield payload.subarray(at, Math.min(payload.length, at + chunkBytes));
    return;
  }
  for (let at = 0; at < payload.length;) {
    const nl = payload.indexOf('\n', at + Math.max(1, chunkBytes >> 1));
    const end = nl === -1 ? payload.length : nl + 1;
    yield Buffer.from(payload.slice(at, end), 'utf8');
    at = end;
  }
}

function indexOfNewline(payload: Section, from: number): number {
  return typeof payload === 'string' ? payload.indexOf('\n', from) : payload.indexOf(10, from);
}

function nextLine(payload: Section, start: number): number {
  const nl = indexOfNewline(payload, start);
  return nl === -1 ? payload.length : nl + 1;
}

function countRows(payload: Section): number {
  let n = 0;
  for (let i = indexOfNewline(payload, 0); i !== -1; i = indexOfNewline(payload, i + 1)) n++;
  return n;
}

async function copyIn(client: PgClient, table: string, columns: string[], payload: Section): Promise<void> {
  if (!payload.length) return;
  const from = loadCopyFrom();
  const stream = client.query(from(`COPY ${table} (${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`));
  await pipeline(Readable.from(copyChunks(payload)), stream);
}

/**
 * The vps_metrics columns of spooled COPY text, told by the field count of its first row (a TAB
 * inside a value is always escaped): a spool written before an upgrade replays into the same columns.
 */
export function metricColumnsOf(payload: Section): string[] {
  const end = indexOfNewline(payload, 0);
  let tabs = 0;
  for (let i = 0; i < (end === -1 ? payload.length : end); i++) {
    if ((typeof payload === 'string' ? payload.charCodeAt(i) : payload[i]) === 9) tabs++;
  }
  return tabs + 1 === METRIC_COLUMNS_V1.length ? METRIC_COLUMNS_V1 : METRIC_COLUMNS;
}

/** The rows cut to the columns of a schema from before migration 050 (the app's fields dropped). */
export function withoutAppFields(payload: Section): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const pieces: Buffer[] = [];
  for (let start = 0; start < bytes.length;) {
    const end = nextLine(bytes, start);
    let cut = start;
    for (let tabs = 0; cut < end && tabs < METRIC_COLUMNS_V1.length; cut++) if (bytes[cut] === 9 || bytes[cut] === 10) tabs++;
    pieces.push(bytes.subarray(start, cut - 1), NEWLINE);
    start = end;
  }
  return Buffer.concat(pieces);
}
const NEWLINE = Buffer.from('\n');

/** Reads the committed checkpoint of an agent (seq 0 and no files when it never committed). */
export async function readCheckpoint(client: PgClient, vps: string, app: string): Promise<CommittedState> {
  const r = await client.query<{ batch_seq: string; files: FileCheckpoint[] }>(
    'SELECT batch_seq, files FROM agent_checkpoints WHERE vps_name = $1 AND app_name = $2', [vps, app]);
  if (!r.rowCount) return { seq: 0, files: [] };
  return { seq: Number(r.rows[0]!.batch_seq), files: r.rows[0]!.files ?? [] };
}

/** One health check as the hub sees it in agent_checkpoints.health_checks (seconds). */
export interface AgentHealthCheck { url: string; interval: number; timeout: number }

export interface StoreIdentity {
  vps: string;
  app: string;
  collectionInterval: number;
  startedAt: string;
  /** JSON of the agent's health checks; undefined against a schema before migration 110 (the 7-argument save). */
  healthChecks?: string;
  /** Highest seq this agent has issued; a checkpoint above it (and above the clock in µs) is not its own. */
  seqCeiling?: number;
  /**
   * Server-side deadline per statement of the batch's transaction (ms), set with SET LOCAL: nothing in
   * the write path is session-scoped, so it holds through PgBouncer in transaction pooling.
   */
  statementTimeoutMs?: number;
}

/** BEGIN, with a statement_timeout that ends with the transaction (one round trip: the simple protocol). */
function beginWithTimeout(statementTimeoutMs: number | undefined): string {
  return statementTimeoutMs ? `BEGIN; SET LOCAL statement_timeout = ${Math.max(1, Math.round(statementTimeoutMs))}` : 'BEGIN';
}

export interface StoreOutcome {
  outcome: 'committed' | 'duplicate';
  /** Rows the server refused (row-by-row mode only), per table. */
  rejected: Record<string, number>;
  /** Set when the checkpoint was ahead of every seq this agent issued: the batch was stored anyway. */
  checkpointAhead?: { committedSeq: string };
}

/**
 * Whether a committed seq cannot be this agent's own: seqs start at the clock in µs and grow by one
 * per batch, so a genuine one is at most the highest seq issued, and below the clock in µs.
 */
export function isCheckpointAhead(committedSeq: number, seqCeiling = 0): boolean {
  return committedSeq > Math.max(seqCeiling, Date.now() * 1000);
}

/** 42703 undefined_column on one of the app columns: a schema from before migration 050. */
function isMissingAppColumn(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '42703' && /"app_[a-z_]+"/.test((err as Error).message ?? '');
}

/**
 * The database has no 8-argument observ_checkpoint_save (42883: before migration 110), or this login may
 * not call it (42501: sql/roles.sql not run again since), while the 7-argument one still works.
 */
function isMissingCheckListSave(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const message = (err as Error | null)?.message ?? '';
  return (code === '42883' && /function observ_checkpoint_save\(/.test(message))
    || (code === '42501' && /^permission denied for function observ_checkpoint_save\b/.test(message));
}

/** SQLSTATE classes that mean "this data", not "this connection": retrying the same rows cannot help. */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|54)/.test(code);
}

/**
 * Stores one encoded batch exactly once, in one transaction. Returns 'duplicate' when its seq was
 * already committed. With `rowByRow`, each row is copied under its own savepoint and rows the server
 * refuses are counted (and reported in agent_events) instead of failing the batch.
 * Throws on any other error (nothing is committed then).
 */
export async function storeEncoded(client: PgClient, seq: number, files: FileCheckpoint[], sections: SpoolSections | SpoolBytes,
  who: StoreIdentity, options: { rowByRow?: boolean; withoutAppColumns?: boolean } = {}): Promise<StoreOutcome> {
  const rejected: Record<string, number> = {};
  let checkpointAhead: StoreOutcome['checkpointAhead'];
  await client.query(beginWithTimeout(who.statementTimeoutMs));
  try {
    // Keyed by the login (migration 040): a login that does not hold this vps/app is refused (42501).
    const cur = await client.query<{ batch_seq: string }>('SELECT observ_checkpoint_lock($1, $2) AS batch_seq', [who.vps, who.app]);
    const committed = cur.rows[0]!.batch_seq;
    if (Number(committed) >= seq) {
      if (!isCheckpointAhead(Number(committed), who.seqCeiling)) {
        await client.query('ROLLBACK');
        return { outcome: 'duplicate', rejected };
      }
      // Not a seq this agent issued: skipping would silently drop its data. Store, reset, report.
      checkpointAhead = { committedSeq: committed };
      await client.query(`INSERT INTO agent_events (timestamp, vps_name, app_name, kind, detail) VALUES (now(), $1, $2, 'checkpoint_ahead', $3::jsonb)`,
        [who.vps, who.app, JSON.stringify({ code: 'OBS_ERR_CHECKPOINT_AHEAD', committedSeq: committed, seq, seqCeiling: who.seqCeiling ?? null })]);
    }
    let firstError = '';
    for (const { table, columns: current, section } of TABLES) {
      let payload = sections[section];
      if (section === 'metrics' && options.withoutAppColumns && metricColumnsOf(payload) !== METRIC_COLUMNS_V1) payload = withoutAppFields(payload);
      const columns = section === 'metrics' ? metricColumnsOf(payload) : current;
      if (!options.rowByRow) { await copyIn(client, table, columns, payload); continue; }
      let start = 0;
      while (start < payload.length) {
        const end = nextLine(payload, start);
        await client.query('SAVEPOINT observ_row');
        try {
          await copyIn(client, table, columns, typeof payload === 'string' ? payload.slice(start, end) : payload.subarray(start, end));
          await client.query('RELEASE SAVEPOINT observ_row');
        } catch (err) {
          if (!isDataError(err)) throw err;
          await client.query('ROLLBACK TO SAVEPOINT observ_row');
          rejected[table] = (rejected[table] ?? 0) + 1;
          firstError ||= `${table}: ${(err as Error).message}`;
        }
        start = end;
      }
    }
    if (Object.keys(rejected).length) {
      await client.query(`INSERT INTO agent_events (timestamp, vps_name, app_name, kind, detail) VALUES (now(), $1, $2, 'rows_rejected', $3::jsonb)`,
        [who.vps, who.app, JSON.stringify({ seq, rejected, firstError: firstError.replace(/\u0000/g, '') })]);
    }
    // With the agent's checks (migration 110), or without them against an older schema.
    const checks = who.healthChecks === undefined ? [] : [who.healthChecks];
    await client.query(`SELECT observ_checkpoint_save($1, $2, $3, $4::jsonb, $5, $6, $7${checks.length ? ', $8::jsonb' : ''})`,
      [who.vps, who.app, seq, JSON.stringify(files), who.collectionInterval, AGENT_VERSION, who.startedAt, ...checks]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  // The hub's notification, after the COMMIT in a statement of its own. A NOTIFY inside the batch's
  // transaction holds PostgreSQL's one notification lock from its commit until the commit record is
  // flushed, so every agent's commits would queue behind each other's WAL flush: measured ~50 batches/s
  // for the whole fleet (docs/scale.md). Sent alone it writes no WAL and holds that lock for moments.
  // A notification lost with the connection between the two costs the hub nothing lasting: its fleet
  // view re-reads on its ticker, and the live log tail reads from its last id on the next batch.
  const rows = countRows;
  const payload = JSON.stringify({ vps: who.vps, app: who.app, seq, metrics: rows(sections.metrics),
    health: rows(sections.health), logs: rows(sections.logs), events: rows(sections.events) });
  await client.query('SELECT pg_notify($1, $2)', ['observ_batch', payload.length < 7900 ? payload : JSON.stringify({ seq })]).catch(() => {});
  return checkpointAhead ? { outcome: 'committed', rejected, checkpointAhead } : { outcome: 'committed', rejected };
}

/** Encodes and stores one batch exactly once (see storeEncoded). */
export async function storeBatch(client: PgClient, batch: Batch, who: StoreIdentity): Promise<'committed' | 'duplicate'> {
  const r = await storeEncoded(client, batch.seq, batch.files, encodeBatch(batch, who.vps, who.app), who);
  return r.outcome;
}

/** Ends a client without waiting for a server that may be frozen: the socket is destroyed. */
export function destroyClient(client: PgClient): void {
  const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
  try { stream?.destroy?.(); } catch { /* already gone */ }
  void client.end().catch(() => {});
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** WriterOptions.idleCloseMs by default; the agent takes monitoring.db_idle_close (config.ts DEFAULTS). */
export const DEFAULT_IDLE_CLOSE_MS = 20_000;

/** 53300 too_many_connections: the server (or the role's CONNECTION LIMIT) has no free slot. */
function isNoFreeSlot(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    if (e.code === '53300') return true;
  }
  return false;
}

/** While the spool is full, at most this many samples/results/events wait in memory (thinned beyond). */
const HELD_WHILE_FULL = { metrics: 120, probes: 600, events: 200 };

type WriterOptionsFilled = WriterOptions & Required<Pick<WriterOptions, 'maxBatchRows' | 'maxBatchBytes' | 'queryTimeoutMs' |
  'connectTimeoutMs' | 'flushTimeoutMs' | 'idleCloseMs' | 'retryBaseMs' | 'retryMaxMs' | 'pauseAt' | 'resumeAt'>>;

export class Writer {
  private readonly o: WriterOptionsFilled;
  private spool: Spool | null = null;
  private client: PgClient | null = null;
  private prepared = false;
  /** Set when vps_metrics lacks the app columns (an agent upgraded before the database); reset on every new connection. */
  private schemaLacksAppColumns = false;
  private schemaLacksCheckList = false;
  private metrics: MetricSample[] = [];
  private probes: ProbeResult[] = [];
  /**
   * Log lines are encoded to COPY text as they arrive and held as bytes: a parsed record (an object
   * graph several times the size of its line) lives only until its LOGS message is handled, so it
   * never reaches the old generation, and a batch sits in memory once, as the bytes it will be, in a
   * buffer reused from batch to batch (scratch.ts says why).
   */
  private readonly logText = new ByteBuffer();
  private logRows = 0;
  private events: AgentEvent[] = [];
  private bufferBytes = 0;
  private bufferLogBytes = 0;
  private readonly files = new Map<string, FileCheckpoint>();
  private nextSeq = 1;
  /** Highest seq known committed in PostgreSQL (null until the first connection). */
  private committedSeq: number | null = null;
  private resumeSource: ResumeState['source'] = 'none';
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private closing: Promise<{ unflushedRows: number; spooledBatches: number }> | null = null;
  private closed = false;
  private failures = 0;
  private downSince: number | null = null;
  /** Set while the spool refuses appends (full, or a disk error): samples are thinned, lines held. */
  private full: { since: number; reason: string; metricsThinned: number; probesThinned: number; logLinesDropped: number; eventsDropped: number } | null = null;
  private paused: { since: number } | null = null;
  private partitionDay = '';
  private readonly startedAt = new Date().toISOString();
  /** The agent's health checks as stored with each checkpoint (the same text every batch). */
  private readonly healthChecksJson: string;
  readonly stats: WriterStats = { batchesSpooled: 0, batchesCommitted: 0, batchesDuplicate: 0, rowsCommitted: 0, rowsRejected: 0,
    flushErrors: 0, metricsThinned: 0, probesThinned: 0, logLinesDropped: 0, eventsDropped: 0, spoolCorruptBytes: 0 };

  constructor(options: WriterOptions) {
    const queryTimeoutMs = options.queryTimeoutMs ?? 30_000;
    this.o = {
      maxBatchRows: 5000,
      queryTimeoutMs,
      connectTimeoutMs: Math.min(10_000, queryTimeoutMs),
      flushTimeoutMs: queryTimeoutMs,
      idleCloseMs: DEFAULT_IDLE_CLOSE_MS,
      retryBaseMs: 250,
      retryMaxMs: 5000,
      pauseAt: 0.9,
      resumeAt: 0.5,
      ...options,
      maxBatchBytes: Math.max(16 * 1024, Math.min(options.maxBatchBytes ?? 512 * 1024, Math.floor(options.spoolMaxBytes / 8))),
    };
    this.healthChecksJson = JSON.stringify((options.healthChecks ?? []).map((c) => ({ url: c.url, interval: c.interval, timeout: c.timeout })));
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>): void {
    this.o.log?.(level, message, context);
  }

  /**
   * Opens the spool (setting aside and counting any corrupt tail), tries PostgreSQL once, and returns
   * where to resume: the newer of the database checkpoint and the newest spooled batch. PostgreSQL
   * being unreachable is not an error (everything goes to the spool); a failed migration is.
   */
  async start(): Promise<ResumeState> {
    const { spool, recovery } = Spool.open(this.o.spoolDir, { maxBytes: this.o.spoolMaxBytes, onCorrupt: (r) => this.onCorrupt(r) });
    this.spool = spool;
    for (const r of recovery.corrupt) this.onCorrupt(r);
    if (recovery.records) {
      this.log('info', 'spool holds batches not yet committed; they are replayed first', { batches: recovery.records, bytes: recovery.bytes });
    }
    let db: CommittedState | null = null;
    try {
      await this.connection();
      db = { seq: this.committedSeq ?? 0, files: this.dbFiles };
    } catch (err) {
      if (err instanceof ObservError && err.code === 'OBS_ERR_MIGRATION') throw err;
      this.downSince = Date.now();
      this.log('warn', 'database not reachable at start: collecting into the spool until it is', { error: (err as Error).message });
    }
    const newest = spool.newest;
    let resume: ResumeState;
    if (newest && (!db || newest.seq > db.seq)) resume = { seq: newest.seq, files: newest.files, source: 'spool', databaseReachable: !!db };
    else if (db && (db.seq > 0 || db.files.length)) resume = { ...db, source: 'database', databaseReachable: true };
    else resume = { seq: 0, files: [], source: 'none', databaseReachable: !!db };
    this.resumeSource = resume.source;
    // Monotonic across restarts even when the database is down and the state dir was lost: the seq
    // is floored by the clock (µs), and the spool persists the highest seq it reserved.
    this.nextSeq = Math.max(db?.seq ?? 0, newest?.seq ?? 0, spool.reservedSeq, Date.now() * 1000) + 1;
    for (const f of resume.files) this.files.set(f.path, f);
    this.log('info', 'resuming', { from: resume.source, seq: resume.seq, files: resume.files.length, nextSeq: this.nextSeq });
    this.started = true;
    this.timer = setInterval(() => { this.tick(); }, this.o.flushIntervalMs);
    this.timer.unref?.();
    if (spool.pendingRecords) void this.drain();
    return resume;
  }

  private dbFiles: FileCheckpoint[] = [];
  /** A batch the spool could not take even when empty: stored from memory, before anything spooled after it. */
  private direct: SpoolRawRecord | null = null;
  private started = false;

  private onCorrupt(r: CorruptionReport): void {
    this.stats.spoolCorruptBytes += r.bytes;
    this.log('warn', 'spool: corrupt or torn data set aside', { ...r });
    this.pushEvent({ timestamp: new Date().toISOString(), kind: 'spool_corrupt', detail: { ...r } });
  }

  addMetric(sample: MetricSample): void {
    this.guard();
    this.metrics.push(sample);
    this.bufferBytes += 512;
    if (this.full && this.metrics.length > HELD_WHILE_FULL.metrics) {
      const n = thin(this.metrics);
      this.stats.metricsThinned += n;
      this.full.metricsThinned += n;
    }
    this.maybeSeal();
  }

  addProbe(result: ProbeResult): void {
    this.guard();
    this.probes.push(result);
    this.bufferBytes += 160 + (result.url?.length ?? 0) + (result.errorMessage?.length ?? 0);
    if (this.full && this.probes.length > HELD_WHILE_FULL.probes) {
      const n = thin(this.probes);
      this.stats.probesThinned += n;
      this.full.probesThinned += n;
    }
    this.maybeSeal();
  }

  addEvent(event: AgentEvent): void {
    this.guard();
    this.pushEvent(event);
    this.maybeSeal();
  }

  /**
   * A deploy (src/workers/deploys): an agent_events row of kind 'deployment', which a trigger
   * (migration 070) turns into a deployments row in the same transaction, and the symlink's new target
   * among the file positions of the same batch, so a restart or a replayed spool compares with exactly
   * what was stored. False while the spool is full (events may be thinned then): offered again later.
   */
  addDeployment(releaseDir: string, deployment: DeploymentRecord): boolean {
    this.guard();
    if (this.full) return false;
    const entry = releaseEntry(releaseDir, deployment.release);
    this.files.set(entry.path, entry);
    this.pushEvent({ timestamp: deployment.timestamp, kind: 'deployment', detail: { release: deployment.release,
      previousRelease: deployment.previousRelease, version: deployment.version, source: 'symlink' } });
    this.maybeSeal();
    return true;
  }

  /** Keeps the release symlink's target among the file positions without a deploy (the agent's first start). */
  rememberRelease(releaseDir: string, target: string | null): void {
    this.guard();
    const entry = releaseEntry(releaseDir, target);
    this.files.set(entry.path, entry);
  }

  private pushEvent(event: AgentEvent): void {
    if (this.full && this.events.length >= HELD_WHILE_FULL.events) {
      this.stats.eventsDropped++;
      this.full.eventsDropped++;
      return;
    }
    this.events.push(event);
    this.bufferBytes += 256;
  }

  addLogs(records: LogRecord[], checkpoint: FileCheckpoint, bytes: number): void {
    this.guard();
    if (this.full && (this.logRows >= this.o.maxBatchRows || this.bufferBytes >= this.o.maxBatchBytes)) {
      // The tailer was asked to pause; lines that still arrive cannot be held without unbounded
      // memory. They are counted, logged, and reported in agent_events.
      this.stats.logLinesDropped += records.length;
      this.full.logLinesDropped += records.length;
      this.files.set(checkpoint.path, checkpoint);
      return;
    }
    if (records.length) {
      // A line without a usable timestamp is stamped with the time the writer received it.
      this.bufferBytes += this.logText.appendText(encodeLogRows(records, this.o.vpsName, this.o.app, new Date().toISOString()));
      this.logRows += records.length;
    }
    this.files.set(checkpoint.path, checkpoint);
    this.bufferLogBytes += bytes;
    this.maybeSeal();
  }

  /** Position of every file as far as the writer holds its lines (committed, spooled or buffered). */
  currentFiles(): FileCheckpoint[] {
    return [...this.files.values()];
  }

  /** Rows held in memory only (not in the spool). */
  get pendingRows(): number {
    const d = this.direct?.header.rows;
    return this.metrics.length + this.probes.length + this.logRows + this.events.length +
      (d ? d.metrics + d.health + d.logs + d.events : 0);
  }

  private get bufferedRows(): number {
    return this.metrics.length + this.probes.length + this.logRows + this.events.length;
  }

  /** A snapshot for logs and tests. */
  status(): { spoolBytes: number; spoolBatches: number; spoolFull: boolean; tailingPaused: boolean; committedSeq: number | null;
    nextSeq: number; databaseUp: boolean; pendingRows: number } {
    return { spoolBytes: this.spool?.bytes ?? 0, spoolBatches: this.spool?.pendingRecords ?? 0, spoolFull: !!this.full,
      tailingPaused: !!this.paused, committedSeq: this.committedSeq, nextSeq: this.nextSeq, databaseUp: this.downSince === null && !!this.client,
      pendingRows: this.pendingRows };
  }

  private guard(): void {
    if (this.closed) throw new ClosedError('writer');
  }

  private maybeSeal(): void {
    if (this.full) return; // retried on the timer and whenever a commit frees space
    if (this.bufferedRows >= this.o.maxBatchRows || this.bufferBytes >= this.o.maxBatchBytes) {
      this.seal();
      void this.drain();
    }
  }

  private tick(): void {
    this.seal();
    if (!this.retryTimer) void this.drain();
  }

  /** Appends what is buffered to the spool as one batch. Returns false when the spool refused it. */
  private seal(): boolean {
    const spool = this.spool;
    if (!spool || !this.bufferedRows) return true;
    const seq = this.nextSeq;
    const createdAt = new Date().toISOString();
    const files = [...this.files.values()];
    const vps = this.o.vpsName;
    const app = this.o.app;
    const sections = { metrics: encodeMetricRows(this.metrics, vps, app, createdAt), health: encodeProbeRows(this.probes, vps, app, createdAt),
      logs: this.logText.view(), events: encodeEventRows(this.events, vps, app, createdAt) };
    const rows: SpoolRows = { metrics: this.metrics.length, health: this.probes.length, logs: this.logRows, events: this.events.length };
    const header: SpoolHeader = { seq, createdAt, files, rows, logBytes: this.bufferLogBytes };
    const r = spool.append(header, sections);
    if (!r.ok && spool.pendingRecords === 0 && !this.direct) {
      // Even an empty spool cannot take this batch (the disk is full, or it is larger than the whole
      // spool): it goes to PostgreSQL straight from memory, still in seq order (nothing is ahead of it).
      this.direct = { header, frameBytes: 0, sections: { metrics: Buffer.from(sections.metrics, 'utf8'),
        health: Buffer.from(sections.health, 'utf8'), logs: Buffer.from(sections.logs), events: Buffer.from(sections.events, 'utf8') } };
      this.nextSeq++;
      this.clearBuffer();
      this.log('warn', 'the spool cannot take a batch: it is stored from memory, without a copy on disk',
        { seq, reason: r.reason, error: r.error?.message, spoolMaxBytes: this.o.spoolMaxBytes });
      void this.drain();
      return true;
    }
    if (!r.ok) {
      if (!this.full) {
        this.full = { since: Date.now(), reason: r.reason === 'full' ? 'spool full' : `spool write failed: ${r.error?.message}`,
          metricsThinned: 0, probesThinned: 0, logLinesDropped: 0, eventsDropped: 0 };
        this.log(r.reason === 'full' ? 'warn' : 'error', 'spool cannot take more: tailing paused, metric samples thinned until it drains',
          { reason: this.full.reason, spoolBytes: spool.bytes, spoolMaxBytes: this.o.spoolMaxBytes, batches: spool.pendingRecords });
      }
      this.updateBackpressure();
      return false;
    }
    this.nextSeq++;
    this.clearBuffer();
    this.stats.batchesSpooled++;
    this.log('debug', 'batch spooled', { seq, rows, bytes: r.frameBytes });
    if (this.full) {
      const f = this.full;
      this.full = null;
      const detail = { durationMs: Date.now() - f.since, reason: f.reason, metricsThinned: f.metricsThinned, probesThinned: f.probesThinned,
        logLinesDropped: f.logLinesDropped, eventsDropped: f.eventsDropped, spoolMaxBytes: this.o.spoolMaxBytes };
      this.log('warn', 'spool accepts batches again', detail);
      this.pushEvent({ timestamp: new Date().toISOString(), kind: 'spool_full', detail });
    }
    this.updateBackpressure();
    this.o.onDurable?.({ seq, files, rows, logBytes: header.logBytes });
    return true;
  }

  private clearBuffer(): void {
    this.metrics = []; this.probes = []; this.events = [];
    this.logText.reset();
    this.logRows = 0;
    this.bufferBytes = 0;
    this.bufferLogBytes = 0;
  }

  private updateBackpressure(): void {
    const spool = this.spool;
    if (!spool) return;
    const ratio = spool.bytes / this.o.spoolMaxBytes;
    if (!this.paused && (this.full || ratio >= this.o.pauseAt)) {
      this.paused = { since: Date.now() };
      this.log('warn', 'tailing paused: the spool is nearly full (lines stay safe in their files)', { spoolBytes: spool.bytes, ratio: round2(ratio) });
      this.o.onBackpressure?.(true);
    } else if (this.paused && !this.full && ratio < this.o.resumeAt) {
      const durationMs = Date.now() - this.paused.since;
      this.paused = null;
      this.log('info', 'tailing resumed', { pausedMs: durationMs, spoolBytes: spool.bytes });
      this.pushEvent({ timestamp: new Date().toISOString(), kind: 'tailing_paused', detail: { durationMs, reason: 'spool nearly full' } });
      this.o.onBackpressure?.(false);
    }
  }

  /** Seals what is buffered, then stores spooled batches in order until the spool is empty or the database fails. */
  flush(): Promise<void> {
    this.seal();
    return this.drain();
  }

  private drain(): Promise<void> {
    if (!this.draining) {
      if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
      this.draining = this.drainAll().finally(() => { this.draining = null; this.armIdleClose(); });
    }
    return this.draining;
  }

  /** Closes the connection once nothing has been stored for idleCloseMs (re-armed after every drain). */
  private armIdleClose(): void {
    if (!this.o.idleCloseMs || !this.client || this.closed || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      const c = this.client;
      if (!c || this.draining || this.closed) return;
      this.client = null;
      this.log('debug', 'database connection closed after idle time', { idleCloseMs: this.o.idleCloseMs });
      void c.end().catch(() => {});
    }, this.o.idleCloseMs);
    this.idleTimer.unref?.();
  }

  private async drainAll(): Promise<void> {
    const spool = this.spool;
    if (!spool) return;
    for (;;) {
      if (this.closedHard) return;
      const direct = this.direct;
      const record = direct ?? spool.peekRaw();
      if (!record) return;
      let client: PgClient;
      try {
        client = await this.connection();
        if (this.committedSeq !== null && record.header.seq <= this.committedSeq) {
          if (direct) this.direct = null;
          else if (spool.peekRaw() === record) spool.ack();
          this.afterAck(record, 'duplicate', {}, !!direct);
          continue;
        }
        this.log('debug', 'storing batch', { seq: record.header.seq, rows: record.header.rows });
        const result = await this.storeWithDeadline(client, record);
        if (this.spool !== spool || this.closedHard) return; // closed while storing: the next start replays (a no-op if it committed)
        if (direct) this.direct = null;
        else spool.ack();
        this.committedSeq = record.header.seq;
        if (result.checkpointAhead) this.reportAhead(Number(result.checkpointAhead.committedSeq), 'stored the batch anyway and reset the checkpoint to it');
        this.afterAck(record, result.outcome, result.rejected, !!direct);
      } catch (err) {
        this.stats.flushErrors++;
        this.failures++;
        this.dropConnection();
        if (this.downSince === null) this.downSince = Date.now();
        const delay = Math.round(Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** Math.min(this.failures - 1, 20)) * (0.5 + Math.random() * 0.5));
        const refused = (err as { code?: unknown }).code === '42501'; // insufficient_privilege: another login holds this agent
        const noSlot = isNoFreeSlot(err);
        this.log(refused ? 'error' : this.failures === 1 || this.failures % 10 === 0 ? 'warn' : 'debug',
          refused ? "the database refused this agent's login; batches wait in the spool"
            : noSlot ? 'the database has no free connection slot; batches wait in the spool and the agent retries (other agents free slots after monitoring.db_idle_close)'
              : 'database write failed; batches wait in the spool',
          { ...(refused ? { code: 'OBS_ERR_AGENT_LOGIN' } : {}), error: (err as Error).message, seq: record.header.seq, attempt: this.failures,
            retryInMs: delay, spoolBatches: spool.pendingRecords, spoolBytes: spool.bytes });
        if (!this.closed && !this.retryTimer) {
          this.retryTimer = setTimeout(() => { this.retryTimer = null; void this.drain(); }, delay);
          this.retryTimer.unref?.();
        }
        if (this.closing) await sleep(Math.min(delay, 500));
        return;
      }
    }
  }

  private afterAck(record: Pick<SpoolRawRecord, 'header'>, outcome: 'committed' | 'duplicate', rejected: Record<string, number>, direct = false): void {
    const h = record.header;
    if (direct) this.o.onDurable?.({ seq: h.seq, files: h.files, rows: h.rows, logBytes: h.logBytes });
    if (outcome === 'committed') {
      this.stats.batchesCommitted++;
      this.stats.rowsCommitted += h.rows.metrics + h.rows.health + h.rows.logs + h.rows.events;
    } else this.stats.batchesDuplicate++;
    const nRejected = Object.values(rejected).reduce((a, b) => a + b, 0);
    if (nRejected) {
      this.stats.rowsRejected += nRejected;
      this.log('error', 'the database refused rows of a batch; they were counted in agent_events and skipped', { seq: h.seq, rejected });
    }
    if (this.downSince !== null) {
      const detail = { durationMs: Date.now() - this.downSince, failedAttempts: this.failures, spoolBatches: this.spool?.pendingRecords ?? 0 };
      this.log('info', 'database reachable again: replaying the spool', detail);
      this.pushEvent({ timestamp: new Date().toISOString(), kind: 'database_unreachable', detail });
      this.downSince = null;
    }
    this.failures = 0;
    this.o.onCommitted?.({ seq: h.seq, files: h.files, rows: h.rows, logBytes: h.logBytes });
    // Space was freed: what waited in memory may go to the spool now.
    if (this.full) this.seal();
    this.updateBackpressure();
  }

  private async storeWithDeadline(client: PgClient, record: SpoolRawRecord): Promise<StoreOutcome> {
    const who = (): StoreIdentity => ({ vps: this.o.vpsName, app: this.o.app, collectionInterval: this.o.collectionInterval,
      startedAt: this.startedAt, seqCeiling: this.seqCeiling(), statementTimeoutMs: this.statementTimeoutMs,
      healthChecks: this.schemaLacksCheckList ? undefined : this.healthChecksJson });
    const run = async (): Promise<StoreOutcome> => {
      await this.ensurePartitions(client);
      let rowByRow = false;
      // Each way out below is taken at most once, so this ends after four attempts at most.
      for (;;) {
        const withoutAppColumns = this.schemaLacksAppColumns;
        try {
          return await storeEncoded(client, record.header.seq, record.header.files, record.sections, who(), { withoutAppColumns, rowByRow });
        } catch (err) {
          if (isMissingCheckListSave(err) && !this.schemaLacksCheckList) {
            // The agent was upgraded before the database (or before its roles): everything is stored as
            // before, and the hub goes on showing this agent's checks of the last day until the migration
            // runs (checked again on every new connection).
            this.schemaLacksCheckList = true;
            this.log('warn', 'the database cannot store this agent\'s list of health checks (migration 110, or sql/roles.sql not run again since it): the hub shows the checks of its last day until `observ db migrate` and sql/roles.sql run', { error: (err as Error).message });
            continue;
          }
          if (isMissingAppColumn(err) && !withoutAppColumns) {
            // The agent was upgraded before the database: the host's figures are stored, the app's are
            // dropped until the migration runs (checked again on every new connection).
            this.schemaLacksAppColumns = true;
            this.log('warn', 'the database has no app_* columns in vps_metrics (migration 050): the app\'s own figures are dropped until `observ db migrate` runs', { error: (err as Error).message });
            continue;
          }
          if (!isDataError(err) || rowByRow) throw err;
          this.log('warn', 'the database refused a batch; storing it row by row to isolate the bad rows', { seq: record.header.seq, error: (err as Error).message });
          rowByRow = true;
        }
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        destroyClient(client);
        reject(new Error(`batch ${record.header.seq} not stored within ${this.o.flushTimeoutMs} ms; connection destroyed`));
      }, this.o.flushTimeoutMs);
    });
    const work = run();
    work.catch(() => {}); // after the deadline its rejection is expected and uninteresting
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async ensurePartitions(client: PgClient): Promise<void> {
    const day = new Date().toISOString().slice(0, 10);
    if (day === this.partitionDay) return;
    await client.query(`${beginWithTimeout(this.statementTimeoutMs)}; SELECT observ_ensure_partitions(); COMMIT`);
    this.partitionDay = day;
  }

  /** statement_timeout a little below query_timeout, so the server gives up first and says why. */
  private get statementTimeoutMs(): number {
    return Math.max(500, this.o.queryTimeoutMs - Math.min(1000, this.o.queryTimeoutMs / 10));
  }

  private async connection(): Promise<PgClient> {
    if (this.client) return this.client;
    this.schemaLacksAppColumns = false;
    this.schemaLacksCheckList = false;
    let client: PgClient;
    try {
      client = await connect(this.o.postgresUrl, {
        connectTimeoutMs: this.o.connectTimeoutMs,
        queryTimeoutMs: this.o.queryTimeoutMs,
        // Set per transaction instead (storeEncoded): PgBouncer refuses it in the startup packet.
        statementTimeoutMs: null,
        applicationName: `obs-agent ${this.o.app}`,
      });
    } catch (err) {
      throw new ObservError('OBS_ERR_DB_UNREACHABLE', `cannot connect to ${redactUrl(this.o.postgresUrl)}: ${(err as Error).message}`, { cause: err });
    }
    try {
      if (!this.prepared && this.o.prepareConnection) await this.o.prepareConnection(client);
      this.prepared = true;
      const cp = await readCheckpoint(client, this.o.vpsName, this.o.app);
      this.dbFiles = cp.files;
      if (isCheckpointAhead(cp.seq, this.seqCeiling())) {
        // Trusting it would skip every spooled and future batch as a duplicate: each batch is compared
        // (and the checkpoint reset) when it is stored instead.
        this.reportAhead(cp.seq, 'its batches are stored anyway and the checkpoint reset');
        this.committedSeq = null;
      } else {
        this.checkSeq(cp.seq);
        this.committedSeq = cp.seq;
        const skipped = this.spool?.skipCommitted(cp.seq) ?? 0;
        if (skipped) this.log('info', 'spooled batches already committed were skipped', { skipped, committedSeq: cp.seq });
      }
    } catch (err) {
      destroyClient(client);
      throw err;
    }
    client.on('error', () => { if (this.client === client) this.dropConnection(); });
    this.client = client;
    return client;
  }

  /** The database's seq must be below ours; if not, someone else writes as this agent, or local state was lost. */
  private checkSeq(dbSeq: number): void {
    if (!this.started) return; // start() compares the checkpoints itself
    if (this.committedSeq === null && this.resumeSource === 'none' && dbSeq > 0) {
      this.log('error', 'the database has a checkpoint but this agent started without one (state dir lost while the database was down): ' +
        'lines read since may be stored twice', { committedSeq: dbSeq, stateDir: this.o.spoolDir });
      this.pushEvent({ timestamp: new Date().toISOString(), kind: 'checkpoint_lost', detail: { committedSeq: dbSeq } });
    }
    if (dbSeq >= this.nextSeq) {
      this.log('error', 'the database checkpoint is ahead of this agent: is another agent running with the same vps and app name?',
        { committedSeq: dbSeq, nextSeq: this.nextSeq });
      this.nextSeq = dbSeq + 1;
    }
  }

  /** Highest seq this agent has issued or reserved (0 before start). */
  private seqCeiling(): number {
    return Math.max(this.started ? this.nextSeq - 1 : 0, this.spool?.reservedSeq ?? 0, this.spool?.newest?.seq ?? 0);
  }

  private reportAhead(committedSeq: number, what: string): void {
    this.log('error', `the database checkpoint is ahead of every batch this agent issued (another login or agent changed it): ${what}`,
      { code: 'OBS_ERR_CHECKPOINT_AHEAD', committedSeq, seqCeiling: this.seqCeiling() });
  }

  private dropConnection(): void {
    const c = this.client;
    this.client = null;
    if (c) destroyClient(c);
  }

  private closedHard = false;

  /**
   * Seals what is buffered into the spool, then stores spooled batches until the spool is empty or
   * the deadline passes (what is left stays in the spool for the next start), and closes. Idempotent.
   */
  close(deadlineMs = 10_000): Promise<{ unflushedRows: number; spooledBatches: number }> {
    if (!this.closing) {
      this.closing = (async () => {
        const until = Date.now() + deadlineMs;
        this.closed = true;
        if (this.timer) { clearInterval(this.timer); this.timer = null; }
        if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
        if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
        this.seal();
        // Everything sealed is durable in the spool, so with the database down there is nothing to wait
        // for: one attempt, then the spool is left for the next start.
        while (this.spool && (this.spool.pendingRecords > 0 || this.direct) && Date.now() < until) {
          if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
          await Promise.race([this.drain(), sleep(Math.max(0, until - Date.now()))]);
          if (this.bufferedRows) this.seal();
          if (this.downSince !== null) break;
        }
        this.closedHard = true;
        if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
        const result = { unflushedRows: this.pendingRows, spooledBatches: this.spool?.pendingRecords ?? 0 };
        const c = this.client;
        this.client = null;
        if (c) {
          if (this.draining) destroyClient(c);
          else await Promise.race([c.end().catch(() => {}), sleep(1000).then(() => destroyClient(c))]);
        }
        this.spool?.close();
        return result;
      })();
    }
    return this.closing;
  }
}

/** Drops every other element (keeps the first and spreads the rest evenly over time). Returns how many. */
function thin<T>(items: T[]): number {
  const before = items.length;
  let w = 0;
  for (let i = 0; i < items.length; i += 2) items[w++] = items[i]!;
  items.length = w;
  return before - w;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
