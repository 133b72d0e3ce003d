// The writer: batches samples, probe results and log lines by rows, bytes and time, and stores each
// batch in ONE transaction:
//
//   BEGIN → lock the agent's checkpoint row → (skip if batch.seq ≤ committed seq) →
//   COPY vps_metrics → COPY health_checks → COPY log_entries → INSERT agent_events →
//   UPDATE agent_checkpoints (seq + every file's identity and offset) → NOTIFY observ_batch → COMMIT
//
// File offsets become durable only with the COMMIT that stored their lines, so a crash replays from
// the last committed offset, and the batch sequence turns a replayed batch into a no-op.

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import { connect, redactUrl, type PgClient } from '../../db/pg.js';
import { ClosedError } from '../../errors.js';
import type { AgentEvent, FileCheckpoint, LogRecord, MetricSample, ProbeResult } from '../../supervisor/messages.js';
import { encodeCopyRow } from './copy-encode.js';

const require = createRequire(import.meta.url);

export const AGENT_VERSION: string = (require('../../../../package.json') as { version: string }).version;

/** One unit of storage. Serialisable (the spool writes it to disk as JSON). */
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

export interface WriterOptions {
  postgresUrl: string;
  vpsName: string;
  app: string;
  collectionInterval: number;
  flushIntervalMs: number;
  maxBatchRows?: number;
  maxBatchBytes?: number;
  /** Per-statement deadline: a frozen database must not hang the writer. */
  queryTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Called after a batch is durable (committed now, or found committed before). */
  onCommitted?: (batch: Batch) => void;
  /** Own diagnostics. */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;
  /** Backlog limit (rows held in memory waiting for the database) before `onBackpressure(true)`. */
  maxPendingRows?: number;
  onBackpressure?: (full: boolean) => void;
}

export interface CommittedState {
  seq: number;
  files: FileCheckpoint[];
}

const METRIC_COLUMNS = ['timestamp', 'vps_name', 'app_name', 'cpu_percent', 'memory_percent', 'memory_mb', 'disk_percent', 'disk_gb',
  'load_avg_1m', 'load_avg_5m', 'load_avg_15m', 'cpu_user', 'cpu_system', 'cpu_iowait', 'cpu_steal', 'memory_available_mb',
  'swap_percent', 'swap_used_mb', 'disk_free_gb', 'disk_read_bps', 'disk_write_bps', 'net_rx_bps', 'net_tx_bps', 'uptime_seconds', 'mounts'];
const HEALTH_COLUMNS = ['timestamp', 'vps_name', 'app_name', 'url', 'status_code', 'response_time_ms', 'success', 'error_message', 'cert_days_left'];
const LOG_COLUMNS = ['timestamp', 'vps_name', 'app_name', 'level', 'message', 'context', 'logger', 'exception', 'source_file', 'flags', 'raw'];
const EVENT_COLUMNS = ['timestamp', 'vps_name', 'app_name', 'kind', 'detail'];

export function encodeBatch(batch: Batch, vps: string, app: string): { metrics: string; health: string; logs: string; events: string } {
  let metrics = '';
  for (const m of batch.metrics) {
    metrics += encodeCopyRow([m.timestamp, vps, app, m.cpuPercent, m.memoryPercent, m.memoryMb, m.diskPercent, m.diskGb,
      m.loadAvg1m, m.loadAvg5m, m.loadAvg15m, m.cpuUser, m.cpuSystem, m.cpuIowait, m.cpuSteal, m.memoryAvailableMb,
      m.swapPercent, m.swapUsedMb, m.diskFreeGb, m.diskReadBps, m.diskWriteBps, m.netRxBps, m.netTxBps, m.uptimeSeconds,
      JSON.stringify(m.mounts)]);
  }
  let health = '';
  for (const p of batch.probes) {
    health += encodeCopyRow([p.timestamp, vps, app, p.url, p.statusCode, p.responseTimeMs, p.success, p.errorMessage, p.certDaysLeft]);
  }
  let logs = '';
  for (const r of batch.logs) {
    logs += encodeCopyRow([r.timestamp, vps, app, r.level, r.message, r.context, r.logger, r.exception, r.sourceFile,
      r.flags.length ? r.flags : null, r.raw]);
  }
  let events = '';
  for (const e of batch.events) events += encodeCopyRow([e.timestamp, vps, app, e.kind, e.detail]);
  return { metrics, health, logs, events };
}

async function copyIn(client: PgClient, table: string, columns: string[], payload: string): Promise<void> {
  if (!payload) return;
  const { from } = require('pg-copy-streams') as typeof import('pg-copy-streams');
  const stream = client.query(from(`COPY ${table} (${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`));
  await pipeline(Readable.from([Buffer.from(payload, 'utf8')]), stream);
}

/** Reads the committed checkpoint of an agent (seq 0 and no files when it never committed). */
export async function readCheckpoint(client: PgClient, vps: string, app: string): Promise<CommittedState> {
  const r = await client.query<{ batch_seq: string; files: FileCheckpoint[] }>(
    'SELECT batch_seq, files FROM agent_checkpoints WHERE vps_name = $1 AND app_name = $2', [vps, app]);
  if (!r.rowCount) return { seq: 0, files: [] };
  return { seq: Number(r.rows[0]!.batch_seq), files: r.rows[0]!.files ?? [] };
}

/**
 * Stores one batch exactly once. Returns 'committed', or 'duplicate' when its seq was already committed.
 * Throws on any database error (nothing is committed then).
 */
export async function storeBatch(client: PgClient, batch: Batch, who: { vps: string; app: string; collectionInterval: number; startedAt: string }): Promise<'committed' | 'duplicate'> {
  const encoded = encodeBatch(batch, who.vps, who.app);
  await client.query('BEGIN');
  try {
    await client.query(
      `INSERT INTO agent_checkpoints (vps_name, app_name, batch_seq) VALUES ($1, $2, 0) ON CONFLICT (vps_name, app_name) DO NOTHING`,
      [who.vps, who.app]);
    const cur = await client.query<{ batch_seq: string }>(
      'SELECT batch_seq FROM agent_checkpoints WHERE vps_name = $1 AND app_name = $2 FOR UPDATE', [who.vps, who.app]);
    if (Number(cur.rows[0]!.batch_seq) >= batch.seq) {
      await client.query('ROLLBACK');
      return 'duplicate';
    }
    await copyIn(client, 'vps_metrics', METRIC_COLUMNS, encoded.metrics);
    await copyIn(client, 'health_checks', HEALTH_COLUMNS, encoded.health);
    await copyIn(client, 'log_entries', LOG_COLUMNS, encoded.logs);
    await copyIn(client, 'agent_events', EVENT_COLUMNS, encoded.events);
    await client.query(
      `UPDATE agent_checkpoints SET batch_seq = $3, files = $4::jsonb, collection_interval = $5, agent_version = $6,
              started_at = $7, updated_at = now()
        WHERE vps_name = $1 AND app_name = $2`,
      [who.vps, who.app, batch.seq, JSON.stringify(batch.files), who.collectionInterval, AGENT_VERSION, who.startedAt]);
    const payload = JSON.stringify({ vps: who.vps, app: who.app, seq: batch.seq, metrics: batch.metrics.length,
      health: batch.probes.length, logs: batch.logs.length, events: batch.events.length });
    await client.query('SELECT pg_notify($1, $2)', ['observ_batch', payload]);
    await client.query('COMMIT');
    return 'committed';
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Writer {
  private readonly o: Required<Omit<WriterOptions, 'onCommitted' | 'log' | 'onBackpressure'>> & WriterOptions;
  private client: PgClient | null = null;
  private metrics: MetricSample[] = [];
  private probes: ProbeResult[] = [];
  private logs: LogRecord[] = [];
  private events: AgentEvent[] = [];
  private pendingBytes = 0;
  private readonly files = new Map<string, FileCheckpoint>();
  /** Batches sealed but not yet durable, oldest first. */
  private readonly sealed: Batch[] = [];
  private nextSeq = 1;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private failures = 0;
  private backpressure = false;
  private partitionDay = '';
  private readonly startedAt = new Date().toISOString();
  stats = { batchesCommitted: 0, batchesDuplicate: 0, rowsCommitted: 0, flushErrors: 0 };

  constructor(options: WriterOptions) {
    this.o = {
      maxBatchRows: 5000,
      maxBatchBytes: 4 * 1024 * 1024,
      queryTimeoutMs: 30_000,
      connectTimeoutMs: 10_000,
      maxPendingRows: 200_000,
      ...options,
    };
  }

  /** Resumes from the committed state; returns it (the tailer starts from its files). */
  async start(initial?: CommittedState): Promise<CommittedState> {
    let state = initial;
    if (!state) {
      const client = await this.connection();
      state = await readCheckpoint(client, this.o.vpsName, this.o.app);
    }
    this.nextSeq = state.seq + 1;
    for (const f of state.files) this.files.set(f.path, f);
    this.timer = setInterval(() => { void this.flush(); }, this.o.flushIntervalMs);
    this.timer.unref?.();
    return state;
  }

  addMetric(sample: MetricSample): void { this.guard(); this.metrics.push(sample); this.pendingBytes += 256; this.maybeFlush(); }
  addProbe(result: ProbeResult): void { this.guard(); this.probes.push(result); this.pendingBytes += 128 + result.url.length; this.maybeFlush(); }
  addEvent(event: AgentEvent): void { this.guard(); this.events.push(event); this.pendingBytes += 256; this.maybeFlush(); }
  addLogs(records: LogRecord[], checkpoint: FileCheckpoint, bytes: number): void {
    this.guard();
    for (const r of records) this.logs.push(r);
    this.files.set(checkpoint.path, checkpoint);
    this.pendingBytes += bytes + records.length * 64;
    this.maybeFlush();
  }

  /** Position of every file as far as the writer holds its lines (committed or buffered). */
  currentFiles(): FileCheckpoint[] {
    return [...this.files.values()];
  }

  get pendingRows(): number {
    let n = this.metrics.length + this.probes.length + this.logs.length + this.events.length;
    for (const b of this.sealed) n += b.metrics.length + b.probes.length + b.logs.length + b.events.length;
    return n;
  }

  private guard(): void {
    if (this.closed) throw new ClosedError('writer');
  }

  private maybeFlush(): void {
    const rows = this.metrics.length + this.probes.length + this.logs.length + this.events.length;
    if (rows >= this.o.maxBatchRows || this.pendingBytes >= this.o.maxBatchBytes) void this.flush();
  }

  private seal(): void {
    if (!this.metrics.length && !this.probes.length && !this.logs.length && !this.events.length) return;
    this.sealed.push({
      seq: this.nextSeq++,
      createdAt: new Date().toISOString(),
      metrics: this.metrics, probes: this.probes, logs: this.logs, events: this.events,
      files: [...this.files.values()],
    });
    this.metrics = []; this.probes = []; this.logs = []; this.events = [];
    this.pendingBytes = 0;
  }

  /** Seals what is buffered and stores every sealed batch in order. Concurrent calls share one run. */
  flush(): Promise<void> {
    if (!this.flushing) {
      this.flushing = this.flushAll().finally(() => { this.flushing = null; });
    }
    return this.flushing;
  }

  private async flushAll(): Promise<void> {
    this.seal();
    while (this.sealed.length) {
      const batch = this.sealed[0]!;
      try {
        const client = await this.connection();
        await this.ensurePartitions(client);
        const outcome = await storeBatch(client, batch, {
          vps: this.o.vpsName, app: this.o.app, collectionInterval: this.o.collectionInterval, startedAt: this.startedAt,
        });
        this.sealed.shift();
        this.failures = 0;
        if (outcome === 'committed') {
          this.stats.batchesCommitted++;
          this.stats.rowsCommitted += batch.metrics.length + batch.probes.length + batch.logs.length + batch.events.length;
        } else this.stats.batchesDuplicate++;
        this.o.onCommitted?.(batch);
      } catch (err) {
        this.stats.flushErrors++;
        this.failures++;
        this.dropConnection();
        this.o.log?.('warn', `flush of batch ${batch.seq} failed; will retry`, { error: (err as Error).message, attempt: this.failures, pendingRows: this.pendingRows });
        this.updateBackpressure();
        // Capped exponential backoff with jitter; the timer calls flush() again.
        if (this.closed) await sleep(Math.min(2000, 100 * 2 ** this.failures));
        return;
      }
      // Sealing the next buffered rows in the same run keeps the database fed during a backlog.
      this.seal();
    }
    this.updateBackpressure();
  }

  private updateBackpressure(): void {
    const full = this.pendingRows >= this.o.maxPendingRows;
    if (full !== this.backpressure) {
      this.backpressure = full;
      this.o.onBackpressure?.(full);
    }
  }

  private async ensurePartitions(client: PgClient): Promise<void> {
    const day = new Date().toISOString().slice(0, 10);
    if (day === this.partitionDay) return;
    await client.query('SELECT observ_ensure_partitions()');
    this.partitionDay = day;
  }

  private async connection(): Promise<PgClient> {
    if (this.client) return this.client;
    try {
      this.client = await connect(this.o.postgresUrl, {
        connectTimeoutMs: this.o.connectTimeoutMs,
        queryTimeoutMs: this.o.queryTimeoutMs,
        statementTimeoutMs: Math.max(1000, this.o.queryTimeoutMs - 1000),
        applicationName: `obs-agent ${this.o.app}`,
      });
      this.client.on('error', () => this.dropConnection());
      return this.client;
    } catch (err) {
      throw new Error(`cannot connect to ${redactUrl(this.o.postgresUrl)}: ${(err as Error).message}`, { cause: err });
    }
  }

  private dropConnection(): void {
    const c = this.client;
    this.client = null;
    if (c) void c.end().catch(() => {});
  }

  /** Final flush (bounded by deadlineMs), then closes the connection. Idempotent. */
  async close(deadlineMs = 10_000): Promise<{ unflushedRows: number }> {
    if (this.timer) { clearInterval(this.timer); this.timer = null; }
    const until = Date.now() + deadlineMs;
    this.closed = true;
    while (Date.now() < until) {
      if (this.flushing) await this.flushing;
      this.seal();
      if (!this.sealed.length) break;
      await Promise.race([this.flush(), sleep(Math.max(0, until - Date.now()))]);
    }
    const unflushedRows = this.pendingRows;
    this.dropConnection();
    return { unflushedRows };
  }
}
