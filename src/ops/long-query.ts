// Maintenance statements may run for minutes on a first run (backfilling rollups, emptying a large
// default partition), longer than the per-query deadlines the hub's pool is configured with.
import type { QueryConfig, QueryResultRow } from 'pg';
import type { PgClient } from '../db/pg.js';

export const MAINTENANCE_TIMEOUT_MS = 10 * 60_000;

/** Runs one statement with a client-side deadline of `timeoutMs` (node-postgres' per-query query_timeout). */
export async function longQuery<R extends QueryResultRow>(client: PgClient, text: string, values: unknown[] = [], timeoutMs = MAINTENANCE_TIMEOUT_MS + 5000) {
  // query_timeout per query is supported by node-postgres (client.js) but missing from its types.
  const config = { text, values, query_timeout: timeoutMs } as QueryConfig;
  return client.query<R>(config);
}
