// Restart policy: crashed collectors come back with backoff; a stuck collectors thread is found by its
// missing heartbeats; a crash loop is reported (log + agent_events) instead of spun.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase, eventually } from '../helpers/pg.js';
import { agentFiles, spawnFixtureAgent, message, startsWith, dump } from './helpers.js';

const fast = { restartBaseMs: 50, restartMaxMs: 200, maxCrashes: 3, crashWindowMs: 60_000, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000, readyTimeoutMs: 5000 };

for (const placement of ['isolated', 'compact'] as const) {
  test(`${placement}: a collector that crashes after READY is restarted, and READY comes again`, async (t) => {
    const db = await testDatabase(t);
    const files = agentFiles(t, { postgres_url: db.url, placement });
    const agent = spawnFixtureAgent(t, files, 'crash-later', { ...fast, maxCrashes: 10 });
    await agent.waitFor(message('collectors ready'), 'first READY');
    const restart = await agent.waitFor(message('restarting collectors'), 'a restart');
    assert.match(String(restart.context?.reason), /sampler: crashed: fixture: crashed later/);
    await eventually(async () => agent.count(message('collectors ready')) >= 2, 'second READY');
    const crashes = await eventually(async () => {
      const r = await db.client.query<{ n: string }>("SELECT count(*) AS n FROM agent_events WHERE kind = 'actor_crash'");
      return Number(r.rows[0]!.n) >= 1 ? Number(r.rows[0]!.n) : null;
    }, 'actor_crash rows');
    assert.ok(crashes >= 1);
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
  });

  test(`${placement}: a collector that fails at every start ends in a reported crash loop, not a spin`, async (t) => {
    const db = await testDatabase(t);
    const files = agentFiles(t, { postgres_url: db.url, placement });
    const agent = spawnFixtureAgent(t, files, 'crash-at-start', fast);
    const loop = await agent.waitFor(startsWith('collectors crash loop'), 'the crash-loop report');
    assert.equal(loop.context?.code, 'OBS_ERR_ACTOR_CRASH_LOOP');
    assert.equal(agent.count(message('restarting collectors')), fast.maxCrashes);
    // Backoff doubles: 50, 100, 200 (capped) ms between the attempts.
    const delays = agent.lines.filter(message('restarting collectors')).map((l) => l.context?.inMs);
    assert.deepEqual(delays, [50, 100, 200]);
    const row = await eventually(async () => {
      const r = await db.client.query<{ detail: { code: string; reason: string } }>("SELECT detail FROM agent_events WHERE kind = 'actor_crash_loop'");
      return r.rows[0];
    }, 'the actor_crash_loop row', 5000).catch(async (err: Error) => {
      const all = await db.client.query('SELECT kind, detail FROM agent_events');
      throw new Error(`${err.message}\nevents: ${JSON.stringify(all.rows)}\n${dump(agent.lines)}`);
    });
    assert.equal(row.detail.code, 'OBS_ERR_ACTOR_CRASH_LOOP');
    assert.match(row.detail.reason, /cannot start/);
    // Nothing more is attempted, and the agent stays up (its writer still stores events).
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(agent.count(message('restarting collectors')), fast.maxCrashes);
    assert.equal(agent.child.exitCode, null);
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
  });
}

test('isolated: a collector stuck in a busy loop is found by its missing heartbeats, terminated and restarted', async (t) => {
  const db = await testDatabase(t);
  const files = agentFiles(t, { postgres_url: db.url, placement: 'isolated' });
  const agent = spawnFixtureAgent(t, files, 'busy-loop', { ...fast, maxCrashes: 10 });
  await agent.waitFor(message('collectors ready'), 'READY');
  const restart = await agent.waitFor(message('restarting collectors'), 'a restart after missed heartbeats');
  assert.match(String(restart.context?.reason), /no HEARTBEAT for \d+ ms: a collector is stuck \(running: sampler\)/);
  await eventually(async () => agent.count(message('collectors ready')) >= 2, 'READY after the restart');
  agent.child.kill('SIGTERM');
  assert.equal(await agent.exited, 0);
});

test('a collectors set that never answers READY is treated as crashed', async (t) => {
  const db = await testDatabase(t);
  const files = agentFiles(t, { postgres_url: db.url, placement: 'isolated' });
  const agent = spawnFixtureAgent(t, files, 'never-ready', { ...fast, readyTimeoutMs: 300, heartbeatTimeoutMs: 60_000 });
  const restart = await agent.waitFor(message('restarting collectors'), 'a restart for a missing READY');
  assert.match(String(restart.context?.reason), /not READY within 300 ms \(ready: none; expected: sampler\)/);
  agent.child.kill('SIGTERM');
  assert.equal(await agent.exited, 0);
});
