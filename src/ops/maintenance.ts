// The hub's maintenance loop: partition upkeep and rollups hourly, retention daily.
//
//   every checkEveryMs:  pool.connect() → pg_try_advisory_lock('observ_maintenance')
//                          ├─ not granted: another hub is the maintainer this time → release
//                          └─ granted: for each due job (partitions → rollup → retention):
//                                run it, record it (observ_maintenance_record) → unlock → release
//
// "Due" is read from the database (observ_maintenance), not from this process's memory, so several
// hubs, or a hub that restarts, do not repeat a job: retention runs once a day for the whole fleet.
// A failed job is retried after retryAfterMs rather than a whole period later.

import type { PgPool, PgClient } from '../db/pg.js';
import { applyRetention, type RetentionAction } from './retention.js';
import { runRollup, type RollupResult } from './rollup.js';

export type MaintenanceJob = 'partitions' | 'rollup' | 'retention';

export interface MaintenanceOptions {
  pool: PgPool;
  log: (level: 'info' | 'warn' | 'error', message: string, context?: Record<string, unknown>) => void;
  /** How often to look for due jobs. Default 5 minutes. */
  checkEveryMs?: number;
  /** Delay before the first look. Default 10 s (the hub finishes starting first). */
  firstCheckMs?: number;
  /** Period of each job. Defaults: partitions and rollup 1 hour, retention 1 day. */
  everyMs?: Partial<Record<MaintenanceJob, number>>;
  /** A job that failed is tried again after this long. Default 15 minutes. */
  retryAfterMs?: number;
}

export interface Maintenance {
  /** Stops the schedule and waits for a running job to finish. Idempotent. */
  stop(): Promise<void>;
}

export interface TickReport {
  leader: boolean;
  ran: MaintenanceJob[];
  failed: MaintenanceJob[];
}

const LOCK_NAME = 'observ_maintenance';
const JOBS: MaintenanceJob[] = ['partitions', 'rollup', 'retention'];
const HOUR = 3_600_000;
export const DEFAULT_EVERY_MS: Record<MaintenanceJob, number> = { partitions: HOUR, rollup: HOUR, retention: 24 * HOUR };

type JobResult = { partitionsCreated: number } | { rollup: RollupResult[] } | { retention: RetentionAction[] };

async function runJob(client: PgClient, job: MaintenanceJob): Promise<JobResult> {
  switch (job) {
    case 'partitions': {
      const r = await client.query<{ created: number }>('SELECT observ_ensure_partitions() AS created');
      return { partitionsCreated: r.rows[0]?.created ?? 0 };
    }
    case 'rollup':
      return { rollup: await runRollup(client) };
    case 'retention':
      return { retention: await applyRetention(client) };
    default: {
      const never: never = job;
      throw new Error(`unknown maintenance job ${String(never)}`);
    }
  }
}

/** Which jobs are due, by the database's clock and records. */
async function dueJobs(client: PgClient, everyMs: Record<MaintenanceJob, number>, retryAfterMs: number): Promise<MaintenanceJob[]> {
  const r = await client.query<{ job: MaintenanceJob; since_run_ms: number | null; since_ok_ms: number | null }>(
    `SELECT job, (extract(epoch FROM now() - last_run_at) * 1000)::float8 AS since_run_ms,
            (extract(epoch FROM now() - last_ok_at) * 1000)::float8 AS since_ok_ms
       FROM observ_maintenance WHERE job = ANY($1)`, [JOBS]);
  const seen = new Map(r.rows.map((row) => [row.job, row]));
  return JOBS.filter((job) => {
    const row = seen.get(job);
    if (!row || row.since_ok_ms === null) return row?.since_run_ms == null || row.since_run_ms >= retryAfterMs;
    return row.since_ok_ms >= everyMs[job] && (row.since_run_ms === null || row.since_run_ms >= Math.min(retryAfterMs, everyMs[job]));
  });
}

function summary(result: JobResult): Record<string, unknown> {
  if ('partitionsCreated' in result) return { created: result.partitionsCreated };
  if ('rollup' in result) return Object.fromEntries(result.rollup.map((r) => [r.source, { hours: r.hours, rows: r.rowsUpserted }]));
  return {
    droppedPartitions: result.retention.filter((a) => a.action === 'drop_partition').map((a) => a.target),
    deletedRows: result.retention.filter((a) => a.action !== 'drop_partition' && a.action !== 'busy').reduce((n, a) => n + (a.rows ?? 0), 0),
    busy: result.retention.filter((a) => a.action === 'busy').map((a) => a.target),
  };
}

/** Quiet when nothing happened: an idle hourly job should not fill the hub's log. */
function worthSaying(result: JobResult): boolean {
  if ('partitionsCreated' in result) return result.partitionsCreated > 0;
  if ('rollup' in result) return result.rollup.some((r) => r.hours > 0);
  return result.retention.length > 0;
}

/** One look: take the lock if free, run what is due. Exported for tests and one-off callers. */
export async function maintenanceTick(options: Pick<MaintenanceOptions, 'pool' | 'log' | 'everyMs' | 'retryAfterMs'>): Promise<TickReport> {
  const everyMs = { ...DEFAULT_EVERY_MS, ...options.everyMs };
  const retryAfterMs = options.retryAfterMs ?? 15 * 60_000;
  const report: TickReport = { leader: false, ran: [], failed: [] };
  const client = await options.pool.connect();
  let broken: Error | undefined;
  try {
    const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [LOCK_NAME]);
    if (!lock.rows[0]?.ok) return report;
    report.leader = true;
    try {
      for (const job of await dueJobs(client, everyMs, retryAfterMs)) {
        try {
          const result = await runJob(client, job);
          const details = summary(result);
          await client.query('SELECT observ_maintenance_record($1, true, $2::jsonb, NULL)', [job, JSON.stringify(details)]);
          report.ran.push(job);
          if (worthSaying(result)) options.log('info', `maintenance: ${job} done`, details);
        } catch (err) {
          report.failed.push(job);
          options.log('warn', `maintenance: ${job} failed; retrying in ${Math.round(retryAfterMs / 60_000)} min`, { error: (err as Error).message });
          await client.query('SELECT observ_maintenance_record($1, false, NULL, $2)', [job, (err as Error).message]).catch(() => {});
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [LOCK_NAME]).catch((err: Error) => { broken = err; });
    }
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    // A connection whose state is unknown (lock possibly still held) is closed, not reused.
    client.release(broken);
  }
  return report;
}

export function startMaintenance(options: MaintenanceOptions): Maintenance {
  const checkEveryMs = options.checkEveryMs ?? 5 * 60_000;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped: Promise<void> | null = null;

  const schedule = (ms: number) => {
    timer = setTimeout(() => {
      timer = null;
      running = maintenanceTick(options)
        .then(() => undefined, (err: Error) => options.log('warn', 'maintenance check failed', { error: err.message }))
        .finally(() => {
          running = null;
          if (!stopped) schedule(checkEveryMs);
        });
    }, ms);
    // The hub's sockets keep the process alive; this timer alone must not.
    timer.unref();
  };
  schedule(options.firstCheckMs ?? 10_000);

  return {
    stop() {
      stopped ??= (async () => {
        if (timer) { clearTimeout(timer); timer = null; }
        if (running) await running;
      })();
      return stopped;
    },
  };
}
