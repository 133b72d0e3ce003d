import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentProcess, RestartableServer, expectedLines, query, storedMessages, tempDir, waitForLines, writeAgentConfig, writeLines } from './helpers.js';

test('every line written while PostgreSQL is stopped is stored exactly once after it restarts', async (t) => {
  const pg = await RestartableServer.create(t);
  const dir = tempDir(t, 'observ-fault-outage-');
  const logFile = join(dir, 'app.log');
  writeFileSync(logFile, '');
  const config = writeAgentConfig(dir, { url: pg.url, logFile });
  const agent = new AgentProcess(t, 'outage', config, join(dir, 'state'));
  await agent.waitForLog(/tailer ready/);

  await pg.stop();
  await writeLines(logFile, 1, 10_000, 200, 40); // ≈ 2 s of writing, all of it during the outage
  await agent.waitForLog(/database write failed/);
  await sleep(1000);
  await pg.start();
  await waitForLines(pg.url, 'outage', 10_000);
  const { code } = await agent.stop();
  assert.equal(code, 0);

  const stored = await storedMessages(pg.url, 'outage');
  assert.deepEqual([...stored.messages].sort(), expectedLines(1, 10_000));
  assert.equal(stored.total, stored.distinct, 'count(*) = count(distinct message)');
  const events = await query<{ kind: string; detail: { durationMs: number } }>(pg.url, `SELECT kind, detail FROM agent_events WHERE app_name = 'outage'`);
  const outage = events.find((e) => e.kind === 'database_unreachable');
  assert.ok(outage, 'the outage is reported in agent_events');
  assert.ok(outage.detail.durationMs >= 2000, `outage lasted ${outage.detail.durationMs} ms`);
});
