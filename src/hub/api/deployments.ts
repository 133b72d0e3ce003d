// GET /api/deployments?vps&app&from&to&limit — deploys (migration 070), newest first: the detail
// view's list and the markers on its charts. Also the deploy an alert message quotes
// ("deployed 4 min before the first failure"): deployBefore().
import type { PgPool } from '../../db/pg.js';
import type { Deployment, DeploymentsResult } from './types.js';
import { intParam, optionalName, rejectUnknown, timeRange } from './params.js';

export interface DeploymentsQuery {
  vps: string | null;
  app: string | null;
  from: Date;
  to: Date;
  limit: number;
}

export const DEPLOYMENTS_LIMIT_MAX = 1000;

export function parseDeploymentsQuery(q: URLSearchParams): DeploymentsQuery {
  rejectUnknown(q, ['vps', 'app', 'from', 'to', 'limit']);
  const { from, to } = timeRange(q, 7 * 86_400_000, 800 * 86_400_000);
  return { vps: optionalName(q, 'vps'), app: optionalName(q, 'app'), from, to,
    limit: intParam(q, 'limit', 1, DEPLOYMENTS_LIMIT_MAX, 200)! };
}

type Queryable = Pick<PgPool, 'query'>;

interface Row { id: string; timestamp: Date; vps_name: string; app_name: string; version: string | null; release: string | null;
  previous_release: string | null; previous_version: string | null; source: 'symlink' | 'cli' }

// The version before each deploy is the one of the same vps/app's deploy before it, even outside the
// range: one index probe per row (deployments_app_ts), at most `limit` rows.
const SELECT = `SELECT d.id, d.timestamp, d.vps_name, d.app_name, d.version, d.release, d.previous_release, d.source,
       (SELECT p.version FROM deployments p WHERE p.app_name = d.app_name AND p.vps_name = d.vps_name
           AND (p.timestamp, p.id) < (d.timestamp, d.id) ORDER BY p.timestamp DESC, p.id DESC LIMIT 1) AS previous_version
  FROM deployments d`;

function toDeployment(r: Row): Deployment {
  return { id: Number(r.id), timestamp: r.timestamp.toISOString(), vps: r.vps_name, app: r.app_name, version: r.version,
    release: r.release, previousRelease: r.previous_release, previousVersion: r.previous_version, source: r.source };
}

export async function queryDeployments(db: Queryable, q: DeploymentsQuery): Promise<DeploymentsResult> {
  const r = await db.query<Row>(`${SELECT}
   WHERE ($1::text IS NULL OR d.vps_name = $1) AND ($2::text IS NULL OR d.app_name = $2) AND d.timestamp >= $3 AND d.timestamp < $4
   ORDER BY d.timestamp DESC, d.id DESC LIMIT $5`, [q.vps, q.app, q.from, q.to, q.limit + 1]);
  const rows = r.rows.slice(0, q.limit).map(toDeployment);
  return { deployments: rows, truncated: r.rows.length > q.limit };
}

/** The newest deploy of vps/app at or before `at` and at most `windowMs` before it; null when none. */
export async function deployBefore(db: Queryable, vps: string, app: string, at: Date, windowMs: number): Promise<Deployment | null> {
  const r = await db.query<Row>(`${SELECT}
   WHERE d.vps_name = $1 AND d.app_name = $2 AND d.timestamp <= $3 AND d.timestamp >= $4
   ORDER BY d.timestamp DESC, d.id DESC LIMIT 1`, [vps, app, at, new Date(at.getTime() - windowMs)]);
  return r.rows[0] ? toDeployment(r.rows[0]) : null;
}
