// Dashboard reads on a streaming replica (OBSERV_DB_READ_URL, hub option readDatabaseUrl), the rest on
// the primary.
//
//   /api/metrics, /api/health, /api/uptime, /api/logs, /api/public/status
//        └─► ReadReplica.run ─► replica pools ──(unreachable, or a connection-level failure)──► primary pools
//   writes (acknowledgements, alert state), LISTEN/NOTIFY (live feed), the fleet overview and its
//   re-reads, the alerting leader lock, maintenance, /api/status  ─► primary only
//
// The fleet overview stays on the primary: the hub keeps it in memory and re-reads an agent when its
// batch is NOTIFYed, which comes from the primary; a re-read on a replica that has not replayed that
// batch yet would keep the old row until the next full read. It is O(agents) and cheap (docs/scale.md).
//
// Fallback: when the replica cannot be reached (connect refused or timed out, SQLSTATE class 08, 57P0x,
// too many connections) a read runs again on the primary, a warning is logged once, and reads stay on
// the primary until the next check (every checkEveryMs) finds the replica answering. A query the
// replica cancels for a conflict with recovery (40001) is retried on the primary too. Query errors
// (a bad plan, a statement timeout) are not retried: they would fail on the primary as well.
//
// Lag: now() - pg_last_xact_replay_timestamp() is wrong when the primary has been idle (it is the age
// of the last replayed commit, however current the replica is). So each check records the primary's
// pg_current_wal_lsn() with the hub's clock, and the lag is the age of the oldest recorded position the
// replica has not replayed yet (pg_last_wal_replay_lsn()): 0 when it has replayed everything the
// primary had, otherwise "what the primary had written N seconds ago is not on the replica yet",
// accurate to one check interval. lagBytes is the WAL between the two.
import type { PgPool } from '../db/pg.js';
import { createPool, redactUrl } from '../db/pg.js';
import type { ReadReplicaStatus } from './api/types.js';

/** Past this lag (s) the dashboard shows it. */
export const LAG_SHOWN_SECONDS = 5;
/** Primary positions kept for the lag (at the default 5 s checks: one hour). */
const MAX_SAMPLES = 720;

// ---- pure part ----

/** A WAL position ('16/B374D848') as a number of bytes. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new Error(`not a WAL position: ${JSON.stringify(lsn)}`);
  return (BigInt('0x' + m[1]) << 32n) + BigInt('0x' + m[2]);
}

export interface LsnSample { at: number; lsn: bigint }

/**
 * Seconds since the primary had written WAL the replica has not replayed: the age of the oldest
 * sample past `replayed`; 0 when there is none. Samples are in time (and so position) order.
 */
export function lagSeconds(samples: readonly LsnSample[], replayed: bigint, now: number): number {
  const first = samples.find((s) => s.lsn > replayed);
  return first ? Math.max(0, (now - first.at) / 1000) : 0;
}

/** Adds a sample, dropping those the replica has replayed (they never count again) and the oldest beyond `max`. */
export function addSample(samples: readonly LsnSample[], sample: LsnSample, replayed: bigint | null, max = MAX_SAMPLES): LsnSample[] {
  const out = [...samples, sample].filter((s) => replayed === null || s.lsn > replayed);
  return out.length > max ? out.slice(out.length - max) : out;
}

/** Whether an error means the server could not be reached or could not serve, rather than a bad query. */
export function isUnreachable(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (/^(08|57P0)/.test(code) || code === '53300' || code === '40001') return true;
    if (/^E(CONNREFUSED|CONNRESET|TIMEDOUT|HOSTUNREACH|NETUNREACH|NOTFOUND|AI_AGAIN|PIPE)$/.test(code)) return true;
    const message = typeof e.message === 'string' ? e.message : '';
    if (/timeout exceeded when trying to connect|Connection terminated|connection timeout|the database system is (starting up|shutting down|in recovery mode)/i.test(message)) return true;
  }
  return false;
}

// ---- I/O part ----

export interface ReadReplicaOptions {
  url: string;
  primary: { reads: PgPool; search: PgPool };
  log: (level: 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;
  /** How often the replica's state and lag are read (default 5000 ms). */
  checkEveryMs?: number;
}

interface ReplicaRow { recovery: boolean; replay: string | null; paused: boolean | null }

export class ReadReplica {
  private readonly pools: { reads: PgPool; search: PgPool };
  private readonly everyMs: number;
  private samples: LsnSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private closed = false;
  private state: ReadReplicaStatus = {
    configured: true, state: 'starting', readsFrom: 'primary', lagSeconds: null, lagBytes: null, replayPaused: null,
    lagging: false, checkedAt: null, error: null,
  };

  constructor(private readonly o: ReadReplicaOptions) {
    const onError = (err: Error) => o.log('warn', 'read replica connection failed', { error: err.message });
    const base = { queryTimeoutMs: 15_000, statementTimeoutMs: 10_000, connectTimeoutMs: 3_000 };
    this.pools = {
      reads: createPool(o.url, { ...base, applicationName: 'fleet-hub replica', max: 10 }, onError),
      search: createPool(o.url, { ...base, applicationName: 'fleet-hub replica search', max: 3 }, onError),
    };
    this.everyMs = o.checkEveryMs ?? 5000;
  }

  /** First check (reads go to the primary until it answers), then one every checkEveryMs. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => { void this.check(); }, this.everyMs);
    this.timer.unref();
  }

  status(): ReadReplicaStatus {
    return { ...this.state };
  }

  /** Runs a dashboard read on the replica while it answers, else (or when it fails to) on the primary. */
  async run<T>(kind: 'reads' | 'search', work: (pool: PgPool) => Promise<T>): Promise<T> {
    if (this.state.readsFrom === 'primary') return work(this.o.primary[kind]);
    try {
      return await work(this.pools[kind]);
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      // A query cancelled for a conflict with replay says nothing about the replica's health.
      if ((err as { code?: unknown }).code !== '40001') this.markUnreachable(err as Error);
      return work(this.o.primary[kind]);
    }
  }

  check(): Promise<void> {
    // Never rejects: a check that cannot be made leaves the last state, and the next one tries again.
    this.checking ??= this.read()
      .catch((err: Error) => { this.o.log('warn', 'read replica check failed', { error: err.message }); })
      .finally(() => { this.checking = null; });
    return this.checking;
  }

  private async read(): Promise<void> {
    if (this.closed) return;
    const at = Date.now();
    const [primary, replica] = await Promise.allSettled([
      this.o.primary.reads.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'),
      this.pools.reads.query<ReplicaRow>(`SELECT pg_is_in_recovery() AS recovery, pg_last_wal_replay_lsn()::text AS replay,
        CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused`),
    ]);
    if (this.closed) return;
    const checkedAt = new Date().toISOString();
    const replayed = replica.status === 'fulfilled' && replica.value.rows[0]!.replay !== null ? parseLsn(replica.value.rows[0]!.replay) : null;
    // The primary's position is kept even while the replica is away, so the lag counts from then when it is back.
    const primaryLsn = primary.status === 'fulfilled' ? parseLsn(primary.value.rows[0]!.lsn) : null;
    if (primaryLsn !== null) this.samples = addSample(this.samples, { at, lsn: primaryLsn }, replayed);
    if (replica.status === 'rejected') {
      this.markUnreachable(replica.reason as Error);
      this.state = { ...this.state, checkedAt };
      return;
    }
    const row = replica.value.rows[0]!;
    const wasPrimary = this.state.readsFrom === 'primary';
    if (!row.recovery) {
      if (this.state.state !== 'not-a-replica') {
        this.o.log('warn', 'the read database is not a replica (pg_is_in_recovery() is false): dashboard reads go to it, its lag is not measured',
          { url: redactUrl(this.o.url) });
      }
      this.state = { configured: true, state: 'not-a-replica', readsFrom: 'replica', lagSeconds: null, lagBytes: null, replayPaused: null,
        lagging: false, checkedAt, error: null };
      return;
    }
    let lag: number | null = null;
    let bytes: number | null = null;
    if (primaryLsn !== null && replayed !== null) {
      lag = Math.round(lagSeconds(this.samples, replayed, Date.now()) * 10) / 10;
      bytes = Number(primaryLsn > replayed ? primaryLsn - replayed : 0n);
    }
    this.state = {
      configured: true, state: 'streaming', readsFrom: 'replica', lagSeconds: lag, lagBytes: bytes, replayPaused: row.paused,
      lagging: lag !== null && lag > LAG_SHOWN_SECONDS, checkedAt, error: null,
    };
    if (wasPrimary) this.o.log('info', 'the read replica answers: dashboard reads go to it', { url: redactUrl(this.o.url) });
  }

  private markUnreachable(err: Error): void {
    if (this.state.readsFrom === 'replica' || this.state.state === 'starting') {
      this.o.log('warn', 'the read replica is unreachable: dashboard reads go to the primary until it answers',
        { url: redactUrl(this.o.url), error: err.message });
    }
    this.state = { ...this.state, state: 'unreachable', readsFrom: 'primary', lagSeconds: null, lagBytes: null, replayPaused: null,
      lagging: false, error: err.message };
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.checking?.catch(() => {});
    await Promise.all([this.pools.reads.end().catch(() => {}), this.pools.search.end().catch(() => {})]);
  }
}

/** The hub without a replica: the same answers, reads on the primary. */
export const NO_REPLICA: ReadReplicaStatus = Object.freeze({
  configured: false, state: 'off', readsFrom: 'primary', lagSeconds: null, lagBytes: null, replayPaused: null, lagging: false,
  checkedAt: null, error: null,
});
