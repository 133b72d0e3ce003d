import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentProcess, expectedLines, faultScene, query, storedMessages, waitForLines, writeLines } from './helpers.js';

const KILLS = 12;
const LINES = 15_000;

test('an agent SIGKILLed at random points during flushes and restarted stores every line exactly once', async (t) => {
  const { pg, logFile, stateDir, config } = await faultScene(t, 'kill');
  const env = { OBSERV_LOG_LEVEL: 'debug' };

  // ≈ 7 s of steady writing while the agent is killed and restarted again and again.
  const writing = writeLines(logFile, 1, LINES, 40, 20);
  const killedAt: string[] = [];
  for (let i = 0; i < KILLS; i++) {
    const agent = new AgentProcess(t, 'kill', config, stateDir, env);
    // Alternate between killing while a batch is being stored (COPY … COMMIT in flight) and while
    // one is being appended to the spool, with a random delay so the exact point varies.
    const phase = i % 2 === 0 ? /"storing batch"/ : /"tailer ready"/;
    await agent.waitForLog(phase, 20_000);
    const delay = i % 2 === 0 ? Math.floor(Math.random() * 15) : 900 + Math.floor(Math.random() * 200);
    await sleep(delay);
    await agent.kill();
    killedAt.push(`${phase.source}+${delay}ms`);
  }
  await writing;
  const agent = new AgentProcess(t, 'kill', config, stateDir);
  await agent.waitForLog(/tailer ready/);
  await waitForLines(pg.url, 'kill', LINES, 60_000);
  const { code } = await agent.stop();
  assert.equal(code, 0);

  const stored = await storedMessages(pg.url, 'kill');
  assert.equal(killedAt.length, KILLS);
  assert.deepEqual([...stored.messages].sort(), expectedLines(1, LINES));
  assert.equal(stored.total, stored.distinct, `count(*) = count(distinct message) after kills at ${killedAt.join(', ')}`);
  const cp = await query<{ batch_seq: string }>(pg.url, `SELECT batch_seq FROM agent_checkpoints WHERE app_name = 'kill'`);
  assert.equal(cp.length, 1);
});
