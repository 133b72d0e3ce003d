// The real agent (a child process) against a real PostgreSQL, with a real release symlink: each flip
// is one deployments row, across restarts and across a database outage replayed from the spool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, eventually, faultScene, query } from '../faults/helpers.js';

interface Row extends Record<string, unknown> { previous_release: string | null; release: string; version: string; source: string; vps_name: string }

/** Points `current` at releases/NAME the way deploy scripts do: a fresh link renamed over the old one. */
function flip(appDir: string, name: string, version?: string): string {
  const release = join(appDir, 'releases', name);
  mkdirSync(release, { recursive: true });
  if (version !== undefined) writeFileSync(join(release, 'VERSION'), version);
  symlinkSync(join('releases', name), join(appDir, 'current.tmp'));
  renameSync(join(appDir, 'current.tmp'), join(appDir, 'current'));
  return release;
}

const rows = (url: string) => query<Row>(url, `SELECT previous_release, release, version, source, vps_name FROM deployments WHERE app_name = 'shop' ORDER BY timestamp, id`);

test('the agent records each flip of its release symlink exactly once, across restarts and a database outage', async (t) => {
  const { pg, dir, stateDir, config } = await faultScene(t, 'deploys');
  const root = join(dir, 'deployments');
  const appDir = join(root, 'shop');
  const r1 = flip(appDir, 'r1', '1.0.0\n');
  const env = { OBSERV_DEPLOYMENTS_DIR: root };
  const start = () => new AgentProcess(t, 'shop', config, stateDir, env);

  // First start: the target is remembered, nothing is recorded.
  let agent = start();
  await agent.waitForLog(/remembering its target/);
  const r2 = flip(appDir, 'r2');
  await eventually(async () => (await rows(pg.url)).length === 1 || null, 'the first flip is stored', 30_000);
  assert.deepEqual(await rows(pg.url), [{ previous_release: r1, release: r2, version: 'r2', source: 'symlink', vps_name: 'fault-vps' }]);
  const event = await query(pg.url, `SELECT kind FROM agent_events WHERE app_name = 'shop' AND kind = 'deployment'`);
  assert.equal(event.length, 1, 'it travelled as one agent event');

  // A restart with the same target records nothing: wait for a batch of the new process to commit.
  assert.equal((await agent.stop()).code, 0);
  const restartedAt = new Date();
  agent = start();
  await eventually(async () => (await query(pg.url, `SELECT 1 FROM agent_checkpoints WHERE app_name = 'shop' AND updated_at > $1`, [restartedAt])).length || null,
    'a batch committed after the restart', 30_000);
  assert.equal((await rows(pg.url)).length, 1, 'no deploy recorded again after a restart');

  // A flip while the agent is stopped is recorded at its next start.
  assert.equal((await agent.stop()).code, 0);
  const r3 = flip(appDir, 'r3', '3.0.0-rc1\n');
  agent = start();
  await eventually(async () => (await rows(pg.url)).length === 2 || null, 'the flip made while stopped', 30_000);
  assert.deepEqual((await rows(pg.url))[1], { previous_release: r2, release: r3, version: '3.0.0-rc1', source: 'symlink', vps_name: 'fault-vps' });

  // Database down: the flip is spooled; the agent restarts while it is still down (resuming from the
  // spool, which holds the new target), and the deploy is stored once when the database is back.
  await pg.stop();
  const r4 = flip(appDir, 'r4');
  await agent.waitForLog(new RegExp(`"message":"deploy".*releases/r4`), 30_000);
  assert.equal((await agent.stop()).code, 0);
  agent = start();
  await agent.waitForLog(/"from":"spool"/, 30_000);
  await pg.start();
  await eventually(async () => (await rows(pg.url)).length >= 3 || null, 'the deploy made during the outage', 60_000);
  const restarted = new Date();
  await eventually(async () => (await query(pg.url, `SELECT 1 FROM agent_checkpoints WHERE app_name = 'shop' AND updated_at > $1`, [restarted])).length || null,
    'one more batch committed', 30_000);
  assert.equal((await agent.stop()).code, 0);
  const all = await rows(pg.url);
  assert.equal(all.length, 3, `exactly one row per flip: ${JSON.stringify(all)}`);
  assert.deepEqual(all[2], { previous_release: r3, release: r4, version: 'r4', source: 'symlink', vps_name: 'fault-vps' });
  assert.equal(agent.lines.filter((l) => /"message":"deploy"/.test(l)).length, 0, 'the restarted agent saw no new deploy');
});
