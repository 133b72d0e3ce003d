// How long one evaluation round of the default rules takes for a fleet, against a baseline: the
// same health-check read written the obvious way (a window function over the last day of
// health_checks) instead of the per-agent LATERAL index scans the evaluator uses.
// Prints one JSON object. Usage: node dist/bench/alerting-evaluation.js [agents] [hoursOfData]
// Uses OBSERV_TEST_PG_URL (an admin URL) when set, otherwise starts an embedded PostgreSQL.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedPostgres } from '../src/db/embedded.js';
import { connect, loadPg, clientConfig } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';
import { defaultAlertConfig } from '../src/hub/alerting/config.js';
import { evaluateOnce } from '../src/hub/alerting/evaluator.js';

const agents = Number(process.argv[2] ?? 300);
const hours = Number(process.argv[3] ?? 6);

let pg: EmbeddedPostgres | null = null;
let dir: string | null = null;
let admin = process.env.OBSERV_TEST_PG_URL;
if (!admin) {
  dir = mkdtempSync(join(tmpdir(), 'observ-bench-pg-'));
  pg = new EmbeddedPostgres({ dir, settings: { fsync: 'off', synchronous_commit: 'off' } });
  await pg.start();
  admin = pg.urlFor('postgres');
}
const dbName = `bench_alerting_${process.pid}`;
const a = await connect(admin);
await a.query(`CREATE DATABASE ${dbName}`);
await a.end();
const u = new URL(admin);
u.pathname = '/' + dbName;
const url = u.toString();

try {
  const c = await connect(url, { queryTimeoutMs: 600_000, statementTimeoutMs: 600_000 });
  await migrate(c);
  const t0 = Date.now();
  // Per agent: 2 checked URLs every 30 s, one metric sample per minute, a trickle of error lines.
  await c.query(`INSERT INTO agent_checkpoints (vps_name, app_name, collection_interval, updated_at)
                 SELECT 'vps-' || (g / 3), 'app-' || g, 60, now() FROM generate_series(1, $1) g`, [agents]);
  await c.query(`INSERT INTO health_checks (timestamp, vps_name, app_name, url, status_code, success, response_time_ms, cert_days_left)
                 SELECT now() - s * interval '30 seconds', 'vps-' || (g / 3), 'app-' || g, 'https://app-' || g || '.example.com/' || p,
                        200, (s + g) % 97 <> 0, 20, 60
                   FROM generate_series(1, $1) g, generate_series(0, $2 * 120 - 1) s, generate_series(1, 2) p`, [agents, hours]);
  await c.query(`INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent, memory_percent, disk_percent, load_avg_1m)
                 SELECT now() - s * interval '1 minute', 'vps-' || (g / 3), 'app-' || g, 30, 50, 40 + g % 55, 1
                   FROM generate_series(1, $1) g, generate_series(0, $2 * 60 - 1) s`, [agents, hours]);
  await c.query(`INSERT INTO log_entries (timestamp, vps_name, app_name, level, message)
                 SELECT now() - s * interval '20 seconds', 'vps-' || (g / 3), 'app-' || g, 'ERROR', 'boom ' || s
                   FROM generate_series(1, $1) g, generate_series(0, $2 * 180 - 1) s`, [agents, hours]);
  await c.query('ANALYZE');
  const loadMs = Date.now() - t0;
  const rows = (await c.query<{ n: string }>('SELECT count(*) AS n FROM health_checks')).rows[0]!.n;

  const pool = new (loadPg().Pool)({ ...clientConfig(url, { queryTimeoutMs: 600_000, statementTimeoutMs: 600_000 }), max: 4 });
  const config = defaultAlertConfig();
  const rounds: number[] = [];
  let firing = 0;
  for (let i = 0; i < 5; i++) {
    const r = await evaluateOnce({ pool, config, dashboardUrl: 'http://hub' });
    if (r.errors.length) throw new Error(JSON.stringify(r.errors));
    rounds.push(r.durationMs);
  }
  firing = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM alert_state WHERE status = 'firing'`)).rows[0]!.n);
  const baseline: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = Date.now();
    await c.query(`SELECT * FROM (SELECT h.*, row_number() OVER (PARTITION BY vps_name, app_name, url ORDER BY timestamp DESC) AS rn
                                     FROM health_checks h WHERE timestamp > now() - interval '1 day') x WHERE rn <= 3`);
    baseline.push(Date.now() - s);
  }
  const healthOnly: number[] = [];
  const healthConfig = { ...config, rules: config.rules.filter((r) => r.type === 'health_check') };
  for (let i = 0; i < 5; i++) healthOnly.push((await evaluateOnce({ pool, config: healthConfig, dashboardUrl: 'http://hub' })).durationMs);
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  process.stdout.write(JSON.stringify({
    scenario: 'alerting-evaluation', node: process.version, agents, hoursOfData: hours, healthCheckRows: Number(rows), loadMs,
    firstRoundMs: rounds[0], defaultRulesRoundMedianMs: median(rounds.slice(1)), alertsFiring: firing,
    healthRuleRoundMedianMs: median(healthOnly), baselineWindowFunctionHealthReadMedianMs: median(baseline),
  }) + '\n');
  await pool.end();
  await c.end();
} finally {
  const d = await connect(admin);
  await d.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await d.end();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
