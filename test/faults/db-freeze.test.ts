import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listSegments } from '../../src/workers/writer/spool.js';
import { AgentProcess, expectedLines, faultScene, query, storedMessages, waitForLines, writeLines } from './helpers.js';

const FREEZE_MS = 10_000;

test('a frozen PostgreSQL (SIGSTOP) does not hang the agent: lines go to the spool and drain after SIGCONT', async (t) => {
  const { pg, logFile, stateDir, config } = await faultScene(t, 'freeze', { dbTimeout: 2 });
  const agent = new AgentProcess(t, 'freeze', config, stateDir);
  await agent.waitForLog(/tailer ready/);
  await writeLines(logFile, 1, 2000, 200, 20);
  await waitForLines(pg.url, 'freeze', 2000);

  pg.signal('SIGSTOP');
  let thawed = false;
  t.after(() => { if (!thawed) pg.signal('SIGCONT'); });
  const frozenAt = Date.now();
  await writeLines(logFile, 2001, 3000, 200, 50);
  // The writer gives up on the frozen server (its deadline destroys the connection) and keeps spooling.
  await agent.waitForLog(/database write failed/, FREEZE_MS);
  const spooledDuringFreeze = listSegments(join(stateDir, 'spool')).length;
  await sleep(Math.max(0, FREEZE_MS - (Date.now() - frozenAt)));
  const spooledLog = agent.lines.filter((l) => /"batch spooled"|database write failed/.test(l)).length;
  pg.signal('SIGCONT');
  thawed = true;

  await waitForLines(pg.url, 'freeze', 5000, 30_000);
  const { code } = await agent.stop();
  assert.equal(code, 0, 'the agent stopped cleanly');
  assert.ok(spooledDuringFreeze >= 1, 'batches were in the spool during the freeze');
  assert.ok(spooledLog >= 1);

  const stored = await storedMessages(pg.url, 'freeze');
  assert.deepEqual([...stored.messages].sort(), expectedLines(1, 5000));
  assert.equal(stored.total, stored.distinct, 'count(*) = count(distinct message)');
  // Metric sampling kept its cadence: the collection interval is 10 s and a sample falls in the freeze.
  const samples = await query<{ n: string }>(pg.url,
    `SELECT count(*) AS n FROM vps_metrics WHERE app_name = 'freeze' AND timestamp >= to_timestamp($1 / 1000.0) AND timestamp < to_timestamp($2 / 1000.0)`,
    [frozenAt, frozenAt + FREEZE_MS]);
  assert.ok(Number(samples[0]!.n) >= 1, 'a metric sample taken during the freeze was stored');
});
