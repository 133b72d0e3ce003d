// Retention: each table's policy lives in `observ_retention` (migration 011); the work is done by
// observ_apply_retention(), a SECURITY DEFINER function, so a read-only hub role can run it. One
// transaction per table: detaching a partition locks its parent until COMMIT, and the other tables
// need not wait for that.

import { ObservError } from '../errors.js';
import type { PgClient, PgPool } from '../db/pg.js';
import { commandArgs, connectForCommand, requireDbUrl } from '../command.js';
import { longQuery, MAINTENANCE_TIMEOUT_MS } from './long-query.js';

export interface RetentionPolicy {
  table: string;
  timeColumn: string;
  keepDays: number;
}

export interface RetentionAction {
  table: string;
  action: 'drop_partition' | 'delete_default' | 'delete' | 'busy';
  target: string;
  /** Rows deleted (or about to be); for partitions, the planner's estimate (null when never analysed). */
  rows: number | null;
  /** Size of a dropped partition. */
  bytes: number | null;
}

type Queryable = Pick<PgClient, 'query'> | Pick<PgPool, 'query'>;

export async function readRetentionPolicies(db: Queryable): Promise<RetentionPolicy[]> {
  const r = await db.query<{ table_name: string; time_column: string; keep_days: number }>(
    'SELECT table_name, time_column, keep_days FROM observ_retention ORDER BY table_name');
  return r.rows.map((row) => ({ table: row.table_name, timeColumn: row.time_column, keepDays: row.keep_days }));
}

/** Changes one table's retention (needs the schema owner's rights). */
export async function setRetention(db: Queryable, table: string, keepDays: number): Promise<void> {
  if (!Number.isInteger(keepDays) || keepDays < 1) {
    throw new ObservError('OBS_ERR_USAGE', `retention for ${table} must be a whole number of days ≥ 1 (got ${keepDays})`);
  }
  const r = await db.query('UPDATE observ_retention SET keep_days = $2 WHERE table_name = $1', [table, keepDays]);
  if (r.rowCount === 0) {
    const known = (await readRetentionPolicies(db)).map((p) => p.table).join(', ');
    throw new ObservError('OBS_ERR_USAGE', `no retention policy for table "${table}" (known: ${known})`);
  }
}

/**
 * Applies every table's policy, one transaction per table. With dryRun nothing changes and no
 * transaction is opened, so a caller may run it inside its own (to preview a policy change).
 */
export async function applyRetention(client: PgClient, options: { dryRun?: boolean } = {}): Promise<RetentionAction[]> {
  const dryRun = options.dryRun === true;
  const actions: RetentionAction[] = [];
  for (const policy of await readRetentionPolicies(client)) {
    if (!dryRun) {
      await client.query('BEGIN');
      await client.query(`SET LOCAL statement_timeout = ${MAINTENANCE_TIMEOUT_MS}`);
    }
    try {
      const r = await longQuery<{ table_name: string; action: RetentionAction['action']; target: string; row_count: string | null; bytes: string | null }>(
        client, 'SELECT table_name, action, target, row_count, bytes FROM observ_apply_retention($1, $2)', [policy.table, dryRun]);
      if (!dryRun) await client.query('COMMIT');
      for (const row of r.rows) {
        actions.push({
          table: row.table_name, action: row.action, target: row.target,
          rows: row.row_count === null ? null : Number(row.row_count),
          bytes: row.bytes === null ? null : Number(row.bytes),
        });
      }
    } catch (err) {
      if (!dryRun) await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }
  return actions;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function describeAction(a: RetentionAction, dryRun: boolean): string {
  const rows = a.rows === null ? '' : ` (${a.rows.toLocaleString('en-US')} row${a.rows === 1 ? '' : 's'}${a.action === 'drop_partition' ? ', estimated' : ''})`;
  switch (a.action) {
    case 'drop_partition':
      return `${dryRun ? 'would drop' : 'dropped'} partition ${a.target}${rows}${a.bytes === null ? '' : `, ${formatBytes(a.bytes)}`}`;
    case 'delete_default':
      return `${dryRun ? 'would delete' : 'deleted'} old rows from ${a.target}${rows}`;
    case 'delete':
      return `${dryRun ? 'would delete' : 'deleted'} old rows from ${a.target}${rows}`;
    case 'busy':
      return `skipped partition ${a.target}: its table was busy (lock not granted in 5 s); the next run takes it`;
  }
}

const USAGE = 'usage: observ db retention [--dry-run] [--set TABLE=DAYS ...]';

export async function retentionCommand(args: string[]): Promise<void> {
  const { values } = commandArgs(args, { 'dry-run': { type: 'boolean' }, set: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } }, USAGE);
  if (values.help) { process.stdout.write(USAGE + '\n'); return; }
  const changes: { table: string; days: number }[] = [];
  for (const s of values.set ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\d+)$/.exec(s);
    if (!m) throw new ObservError('OBS_ERR_USAGE', `--set expects TABLE=DAYS, e.g. --set log_entries=14 (got ${JSON.stringify(s)})`);
    changes.push({ table: m[1]!, days: Number(m[2]) });
  }
  const client = await connectForCommand(requireDbUrl(), { applicationName: 'observ db retention' });
  const dryRun = values['dry-run'] === true;
  try {
    // A dry run previews --set changes too: they are made in a transaction that is rolled back.
    if (dryRun) await client.query('BEGIN');
    for (const c of changes) {
      await setRetention(client, c.table, c.days);
      process.stdout.write(`${dryRun ? 'would set' : 'set'} retention of ${c.table} to ${c.days} days\n`);
    }
    const policies = await readRetentionPolicies(client);
    process.stdout.write(`policy: ${policies.map((p) => `${p.table} ${p.keepDays} d`).join(', ')}\n`);
    const actions = await applyRetention(client, { dryRun });
    if (dryRun) await client.query('ROLLBACK');
    for (const a of actions) process.stdout.write(describeAction(a, dryRun) + '\n');
    if (!actions.length) process.stdout.write(dryRun ? 'nothing is past retention\n' : 'nothing was past retention\n');
    if (actions.some((a) => a.action === 'busy')) process.exitCode = 75; // EX_TEMPFAIL: cron may retry
  } finally {
    await client.end();
  }
}
