// The real agent (bin/observ.js agent) writing into a real PostgreSQL, SIGKILLed while a stack trace is
// half read: the committed position is the trace's start, and after a restart the trace is stored once, whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, statSync } from 'node:fs';
import { AgentProcess, eventually, faultScene, query } from '../faults/helpers.js';

interface Row extends Record<string, unknown> {
  message: string;
  level: string;
  timestamp: Date;
}

test('an agent SIGKILLed in the middle of a stack trace stores the trace exactly once and whole after its restart', async (t) => {
  const { pg, logFile, stateDir, config } = await faultScene(t, 'multiline');
  // A quiet interval far longer than the test: the half-read trace stays in hand until the kill.
  appendFileSync(config, '  multiline:\n    timeout_ms: 600000\n');
  const at = new Date(Date.now() - 60_000).toISOString();
  const before = `${at} INFO ml-before the trace`;
  const trace = [
    `${at} ERROR [app.orders] ml-trace failed to process order 4711`,
    'Traceback (most recent call last):',
    '  File "/srv/app/orders.py", line 88, in process',
    '    total = compute_total(order)',
    '  File "/srv/app/pricing.py", line 41, in compute_total',
    '    return sum(item["price"] for item in order.items)',
    "KeyError: 'price'",
  ];
  const after = `${at} INFO ml-after the trace`;
  const close = `${at} INFO ml-close`;
  const stored = () => query<Row>(pg.url,
    `SELECT message, level, timestamp FROM log_entries WHERE app_name = 'multiline' ORDER BY id`);
  const committedOffset = async () => {
    const rows = await query<{ files: { path: string; offset: number }[] }>(pg.url, `SELECT files FROM agent_checkpoints WHERE app_name = 'multiline'`);
    // The log file's entry: the positions also hold the release symlink's (deploy markers).
    return rows[0]?.files.find((f) => f.path === logFile)?.offset ?? null;
  };

  const first = new AgentProcess(t, 'multiline', config, stateDir);
  await first.waitForLog(/"tailer ready"/, 20_000);
  appendFileSync(logFile, `${before}\n${trace.slice(0, 4).join('\n')}\n`);
  // The line before the trace is handed over when the trace's first line is read; its batch commits the
  // position with it.
  await eventually(async () => (await committedOffset()) === Buffer.byteLength(before) + 1, 'the position after the line before the trace', 30_000);
  await new Promise((r) => setTimeout(r, 1000)); // polls read the half trace again and again: nothing is committed past it
  assert.equal(await committedOffset(), Buffer.byteLength(before) + 1, 'never past the start of the open record');
  await first.kill();
  assert.deepEqual((await stored()).map((r) => r.message), [before]);

  appendFileSync(logFile, `${trace.slice(4).join('\n')}\n${after}\n${close}\n`);
  const second = new AgentProcess(t, 'multiline', config, stateDir);
  await eventually(async () => (await stored()).some((r) => r.message === after), 'the line after the trace', 30_000);
  const { code } = await second.stop();
  assert.equal(code, 0);

  const rows = await stored();
  // The last line was still in hand at the stop (its quiet interval had not passed): a stop hands it over.
  assert.deepEqual(rows.map((r) => r.message), [before, trace.join('\n'), after, close]);
  assert.equal(rows[1]!.level, 'ERROR');
  assert.equal(rows[1]!.timestamp.toISOString(), at, 'the first line\'s time');
  assert.equal(await committedOffset(), statSync(logFile).size);
});
