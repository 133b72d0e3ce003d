// Hourly rollups: vps_metrics → vps_metrics_hourly, health_checks → health_checks_hourly
// (migration 010). The SQL function observ_rollup() finds the completed hours that received rows
// since its last run and rebuilds them; this file runs it and reports.

import type { PgClient } from '../db/pg.js';
import { commandArgs, connectForCommand, requireDbUrl } from '../command.js';
import { longQuery, MAINTENANCE_TIMEOUT_MS } from './long-query.js';

export interface RollupResult {
  /** 'vps_metrics' or 'health_checks'. */
  source: string;
  /** Runs of consecutive hours rebuilt (one aggregate query each). */
  ranges: number;
  hours: number;
  rowsUpserted: number;
}

/** Folds every completed hour with new raw rows into the hourly tables. Idempotent. */
export async function runRollup(client: PgClient): Promise<RollupResult[]> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL statement_timeout = ${MAINTENANCE_TIMEOUT_MS}`);
    const r = await longQuery<{ source: string; ranges: number; hours: number; rows_upserted: string }>(
      client, 'SELECT source, ranges, hours, rows_upserted FROM observ_rollup()');
    await client.query('COMMIT');
    return r.rows.map((row) => ({ source: row.source, ranges: row.ranges, hours: row.hours, rowsUpserted: Number(row.rows_upserted) }));
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export async function rollupCommand(args: string[]): Promise<void> {
  const { values } = commandArgs(args, { help: { type: 'boolean', short: 'h' } }, 'usage: observ db rollup');
  if (values.help) { process.stdout.write('usage: observ db rollup\n'); return; }
  const client = await connectForCommand(requireDbUrl(), { applicationName: 'observ db rollup' });
  try {
    for (const r of await runRollup(client)) {
      process.stdout.write(`${r.source}: ${r.hours} hour${r.hours === 1 ? '' : 's'} rebuilt in ${r.ranges} range${r.ranges === 1 ? '' : 's'}, ${r.rowsUpserted} hourly row${r.rowsUpserted === 1 ? '' : 's'} written\n`);
    }
  } finally {
    await client.end();
  }
}
