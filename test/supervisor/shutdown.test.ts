// Shutdown order on SIGTERM: sources stop → messages drain → final commit → connection closes →
// stopped; one deadline, after which a collector that will not stop is forced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase } from '../helpers/pg.js';
import { agentFiles, spawnFixtureAgent, message, startsWith, dump } from './helpers.js';

const STEPS = ['shutdown 1/4: stopping sources', 'shutdown 2/4: sources stopped; their messages are with the writer',
  'shutdown 3/4: final flush committed; database connection closed', 'stopped'];

for (const placement of ['isolated', 'compact'] as const) {
  test(`${placement}: SIGTERM runs the shutdown steps in order and every message sent before STOPPED is committed`, async (t) => {
    const db = await testDatabase(t);
    const files = agentFiles(t, { postgres_url: db.url, placement, collection_interval: 60, flush_interval: 60 });
    const agent = spawnFixtureAgent(t, files, 'counter');
    await agent.waitFor(message('collectors ready'), 'READY');
    await new Promise((r) => setTimeout(r, 300));
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0, dump(agent.lines));
    const order = agent.lines.map((l) => l.message).filter((m) => STEPS.includes(m) || m === 'fixture sent');
    // The fixture's last words (sent while stopping) come after step 1 and before step 2.
    assert.deepEqual(order, [STEPS[0], 'fixture sent', ...STEPS.slice(1)]);
    const sent = Number(agent.lines.find(message('fixture sent'))!.context!.sent);
    assert.ok(sent > 1);
    // flush_interval is 60 s: everything in the table was stored by the final flush.
    const r = await db.client.query<{ n: string }>('SELECT count(*) AS n FROM vps_metrics');
    assert.equal(Number(r.rows[0]!.n), sent);
  });
}

for (const placement of ['isolated', 'compact'] as const) {
  test(`${placement}: a collector that does not stop in time is forced, and what it sent is still committed within the deadline`, async (t) => {
    const db = await testDatabase(t);
    const files = agentFiles(t, { postgres_url: db.url, placement, collection_interval: 60, flush_interval: 60 });
    const agent = spawnFixtureAgent(t, files, 'slow-stop', {}, 2000);
    await agent.waitFor(message('collectors ready'), 'READY');
    await new Promise((r) => setTimeout(r, 300));
    const sigtermAt = Date.now();
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0, dump(agent.lines));
    const tookMs = Date.now() - sigtermAt;
    assert.ok(agent.count(startsWith('collectors did not stop in time')) === 1, dump(agent.lines));
    assert.ok(agent.count(message('stopped')) === 1);
    // Bounded by the 2 s deadline (plus process exit), nowhere near the fixture's 60 s stop.
    assert.ok(tookMs < 5000, `took ${tookMs} ms`);
    const r = await db.client.query<{ n: string }>('SELECT count(*) AS n FROM vps_metrics');
    assert.ok(Number(r.rows[0]!.n) >= 3);
  });
}
