import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { listSegments } from '../../src/workers/writer/spool.js';
import { AgentProcess, eventually, expectedLines, faultScene, query, storedMessages, waitForLines, writeLines } from './helpers.js';

test('a spool whose tail was truncated starts, counts what was set aside, and loses no line', async (t) => {
  const { pg, logFile, stateDir, config } = await faultScene(t, 'torn');
  const spoolDir = join(stateDir, 'spool');

  // Fill the spool while the database is down, then stop the agent.
  await pg.stop();
  const first = new AgentProcess(t, 'torn', config, stateDir);
  await first.waitForLog(/tailer ready/);
  await writeLines(logFile, 1, 3000, 300, 100);
  await eventually(async () => first.lines.filter((l) => l.includes('"batch spooled"') || l.includes('database write failed')).length > 0 &&
    listSegments(spoolDir).length > 0, 'batches in the spool', 10_000);
  await first.stop();

  const segments = listSegments(spoolDir);
  assert.ok(segments.length >= 1);
  const newest = segments[segments.length - 1]!;
  const size = statSync(newest).size;
  truncateSync(newest, size - 7);

  await pg.start();
  const second = new AgentProcess(t, 'torn', config, stateDir);
  await second.waitForLog(/corrupt or torn data set aside/);
  await waitForLines(pg.url, 'torn', 3000);
  const { code } = await second.stop();
  assert.equal(code, 0);

  const stored = await storedMessages(pg.url, 'torn');
  assert.deepEqual([...stored.messages].sort(), expectedLines(1, 3000));
  assert.equal(stored.total, stored.distinct, 'count(*) = count(distinct message)');
  const events = await query<{ detail: { bytes: number; reason: string } }>(pg.url,
    `SELECT detail FROM agent_events WHERE app_name = 'torn' AND kind = 'spool_corrupt'`);
  assert.equal(events.length, 1, 'the torn tail is counted once in agent_events');
  assert.ok(events[0]!.detail.bytes > 0 && events[0]!.detail.bytes < size, `set aside ${events[0]!.detail.bytes} bytes (${events[0]!.detail.reason})`);
  assert.ok(existsSync(join(spoolDir, 'corrupt')) && readdirSync(join(spoolDir, 'corrupt')).length === 1, 'the torn bytes were kept aside');
});
