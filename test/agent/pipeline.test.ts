import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { testDatabase, eventually } from '../helpers/pg.js';
import { deployment, runAgent } from '../helpers/agent.js';

for (const placement of ['isolated', 'compact'] as const) {
  test(`agent (${placement}) stores metrics, probe results and every log line, then stops cleanly on SIGTERM`, async (t) => {
    const db = await testDatabase(t);
    const server = createServer((req, res) => {
      if (req.url === '/health') res.writeHead(200).end('ok');
      else res.writeHead(503).end('down');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const d = deployment('shop', `monitoring:
  enabled: true
  postgres_url: \${OBSERV_DB_URL}
  collection_interval: 10
  flush_interval: 1
  placement: ${placement}
  health_checks:
    - url: http://127.0.0.1:${port}/health
      interval: 2
      timeout: 1
    - url: http://127.0.0.1:${port}/broken
      interval: 2
      timeout: 1
  log_files:
    - {logDir}/app.log
`, `OBSERV_DB_URL=${db.url}\n`);
    const logFile = join(d.logDir, 'app.log');
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) {
      lines.push(i % 3 === 0
        ? JSON.stringify({ timestamp: new Date().toISOString(), level: 'INFO', logger: 'shop', message: `order ${i} placed`, context: { i } })
        : i % 3 === 1 ? `2026-11-28 12:00:00 ERROR plain text line ${i}` : `{"broken json ${i}`);
    }
    appendFileSync(logFile, lines.slice(0, 100).join('\n') + '\n');
    const agent = runAgent(t, 'shop', d);
    await eventually(async () => (await db.client.query(`SELECT count(*)::int AS n FROM log_entries WHERE app_name = 'shop'`)).rows[0].n >= 100,
      'the first 100 lines', 30_000);
    appendFileSync(logFile, lines.slice(100).join('\n') + '\n');
    await eventually(async () => (await db.client.query(`SELECT count(*)::int AS n FROM log_entries WHERE app_name = 'shop'`)).rows[0].n >= 200,
      'all 200 lines', 30_000);
    await eventually(async () => (await db.client.query(`SELECT count(*)::int AS n FROM vps_metrics WHERE app_name = 'shop'`)).rows[0].n >= 1,
      'a metric sample', 30_000);
    await eventually(async () => (await db.client.query(
      `SELECT count(DISTINCT url)::int AS n FROM health_checks WHERE app_name = 'shop'`)).rows[0].n === 2, 'both probes', 30_000);

    const { code } = await agent.stop('SIGTERM');
    assert.equal(code, 0, `agent exits 0 on SIGTERM; output:\n${agent.output()}`);

    const stored = await db.client.query<{ message: string; level: string; flags: string[] | null; raw: string | null; vps_name: string }>(
      `SELECT message, level, flags, raw, vps_name FROM log_entries WHERE app_name = 'shop' ORDER BY id`);
    assert.equal(stored.rowCount, 200, 'every line stored exactly once');
    assert.equal(stored.rows[0]!.message, 'order 0 placed');
    assert.equal(stored.rows[1]!.level, 'ERROR');
    assert.deepEqual(stored.rows[2]!.flags, ['invalid_json'], 'invalid JSON is kept and flagged');
    assert.equal(stored.rows[2]!.raw, '{"broken json 2');
    assert.ok(stored.rows.every((r) => r.vps_name === 'test-vps'));

    const m = await db.client.query(`SELECT * FROM vps_metrics WHERE app_name = 'shop' ORDER BY timestamp DESC LIMIT 1`);
    const sample = m.rows[0];
    for (const col of ['memory_percent', 'memory_mb', 'disk_percent', 'disk_gb', 'load_avg_1m', 'load_avg_5m', 'load_avg_15m']) {
      assert.equal(typeof sample[col], 'number', `${col} is filled`);
    }
    assert.ok(sample.disk_percent > 0 && sample.disk_percent <= 100);
    assert.ok(Array.isArray(sample.mounts) && sample.mounts.length >= 1, `per-mount usage is a JSON array: ${JSON.stringify(sample.mounts)}`);
    assert.equal(typeof sample.mounts[0].percent, 'number');

    const h = await db.client.query<{ url: string; success: boolean; status_code: number; error_message: string | null }>(
      `SELECT DISTINCT ON (url) url, success, status_code, error_message FROM health_checks WHERE app_name = 'shop' ORDER BY url, timestamp DESC`);
    const byPath = Object.fromEntries(h.rows.map((r) => [new URL(r.url).pathname, r]));
    assert.equal(byPath['/health']!.success, true);
    assert.equal(byPath['/broken']!.success, false);
    assert.equal(byPath['/broken']!.error_message, 'HTTP 503');

    const cp = await db.client.query<{ files: { path: string; offset: number }[]; batch_seq: string }>(
      `SELECT files, batch_seq FROM agent_checkpoints WHERE vps_name = 'test-vps' AND app_name = 'shop'`);
    assert.equal(cp.rows[0]!.files.find((f) => f.path === logFile)?.offset, statSync(logFile).size,
      'the committed offset is the end of the file');
    assert.ok(Number(cp.rows[0]!.batch_seq) >= 1);
  });
}

test('a restarted agent resumes from the committed offset: nothing stored twice, nothing missed', async (t) => {
  const db = await testDatabase(t);
  const d = deployment('resume', `monitoring:
  enabled: true
  postgres_url: \${OBSERV_DB_URL}
  collection_interval: 60
  flush_interval: 1
  log_files:
    - {logDir}/app.log
`);
  const logFile = join(d.logDir, 'app.log');
  const env = { OBSERV_DB_URL: db.url };
  const count = async () => (await db.client.query(`SELECT count(*)::int AS n, count(DISTINCT message)::int AS d FROM log_entries WHERE app_name = 'resume'`)).rows[0] as { n: number; d: number };
  appendFileSync(logFile, Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n') + '\n');
  const first = runAgent(t, 'resume', d, env);
  await eventually(async () => (await count()).n >= 50, '50 lines', 30_000);
  assert.equal((await first.stop()).code, 0);
  appendFileSync(logFile, Array.from({ length: 50 }, (_, i) => `line ${50 + i}`).join('\n') + '\n');
  const second = runAgent(t, 'resume', d, env);
  await eventually(async () => (await count()).n >= 100, '100 lines', 30_000);
  assert.equal((await second.stop()).code, 0);
  assert.deepEqual(await count(), { n: 100, d: 100 });
});

test('an agent with monitoring disabled exits 0 and says why', async (t) => {
  const d = deployment('off', 'monitoring:\n  enabled: false\n  postgres_url: postgresql://u:p@127.0.0.1:1/x\n');
  const agent = runAgent(t, 'off', d);
  const { code } = await agent.exited;
  assert.equal(code, 0);
  assert.match(agent.output(), /monitoring is disabled for off/);
});

test('an invalid config exits 2 naming the file, line and field', async (t) => {
  const d = deployment('bad', 'monitoring:\n  enabled: true\n  postgres_url: postgresql://u:p@h/db\n  collection_interval: 1\n');
  const agent = runAgent(t, 'bad', d);
  const { code } = await agent.exited;
  assert.equal(code, 2);
  assert.match(agent.output(), /config\.yml:4 monitoring\.collection_interval must be ≥ 10 \(got 1\)/);
});

test('an agent logging in with the insert-only observ_agent role stores its data on a migrated database', async (t) => {
  const db = await testDatabase(t);
  await db.client.query(readFileSync(fileURLToPath(new URL('../../../sql/roles.sql', import.meta.url)), 'utf8'));
  const login = `agent_${Date.now().toString(36)}`;
  await db.client.query(`CREATE ROLE ${login} LOGIN PASSWORD 'agent-secret-pw' IN ROLE observ_agent`);
  t.after(async () => { await db.client.query(`DROP OWNED BY ${login}`).catch(() => {}); await db.client.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {}); });
  const u = new URL(db.url);
  u.username = login;
  u.password = 'agent-secret-pw';
  const d = deployment('roled', `monitoring:
  enabled: true
  postgres_url: \${OBSERV_DB_URL}
  collection_interval: 10
  flush_interval: 1
  log_files:
    - {logDir}/app.log
`);
  appendFileSync(join(d.logDir, 'app.log'), 'hello from a least-privilege agent\n');
  const agent = runAgent(t, 'roled', d, { OBSERV_DB_URL: u.toString() });
  await eventually(async () => (await db.client.query(`SELECT count(*)::int AS n FROM log_entries WHERE app_name = 'roled'`)).rows[0].n === 1,
    'the line stored by the observ_agent role', 30_000);
  assert.equal((await agent.stop()).code, 0, agent.output());
  assert.doesNotMatch(agent.output(), /permission denied/);
});
