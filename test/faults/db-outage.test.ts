import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentProcess, expectedLines, faultScene, query, storedMessages, waitForLines, writeLines } from './helpers.js';

test('every line written while PostgreSQL is stopped is stored exactly once after it restarts', async (t) => {
  const { pg, logFile, stateDir, config } = await faultScene(t, 'outage');
  const agent = new AgentProcess(t, 'outage', config, stateDir);
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
  // Counted from the first failed write, which may come only after the lines were written (the writer
  // flushes on its own schedule): what the test guarantees is the second between that failure and the restart.
  assert.ok(outage.detail.durationMs >= 1000, `outage lasted ${outage.detail.durationMs} ms`);
});
