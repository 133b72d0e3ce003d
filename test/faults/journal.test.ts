// The journald source end to end: the real agent (a child process) follows a unit in journal files
// written by systemd-journal-remote, stores into a real PostgreSQL, and is killed or loses its database
// on the way. Every entry is stored exactly once, because the cursor is committed with the rows.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { journalLine, numberedEntries, writeJournal } from '../helpers/journal.js';
import { AgentProcess, eventually, faultScene, query } from './helpers.js';

const UNIT = 'my-app.service';

async function journalScene(t: TestContext, name: string, extraConfig = '', o: Parameters<typeof faultScene>[2] = {}) {
  const scene = await faultScene(t, name, o);
  const journalDir = join(scene.dir, 'journal');
  mkdirSync(journalDir);
  appendFileSync(scene.config, `  journal_units: [${UNIT}]\n  journal_directory: ${journalDir}\n${extraConfig}`);
  return { ...scene, journalDir };
}

/** journalctl processes reading `dir` (children the agent left behind). */
function journalctlsReading(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline.some((a) => a.endsWith('journalctl')) && cmdline.includes(`--directory=${dir}`)) pids.push(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

async function stored(url: string, app: string): Promise<{ total: number; messages: string[] }> {
  const rows = await query<{ message: string }>(url,
    `SELECT message FROM log_entries WHERE app_name = $1 AND source_file = $2 AND message LIKE 'journal-line-%'`, [app, `journald:${UNIT}`]);
  return { total: rows.length, messages: [...new Set(rows.map((r) => r.message))].sort() };
}

function expected(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => journalLine(from + i));
}

async function waitForEntries(url: string, app: string, count: number, timeoutMs = 60_000): Promise<void> {
  await eventually(async () => (await stored(url, app)).messages.length >= count, `${count} journal entries stored`, timeoutMs, 250);
}

test('an agent following a unit\'s journal, SIGKILLed mid-stream and restarted, stores every entry exactly once', async (t) => {
  const { pg, stateDir, config, journalDir } = await journalScene(t, 'jkill');
  const BATCH = 1500;
  const ROUNDS = 5;
  // Other units' entries are around ours, in the same files.
  await writeJournal(journalDir, [...numberedEntries('other.service', 900_001, 200), ...numberedEntries(UNIT, 1, BATCH)]);
  const kills: string[] = [];
  for (let round = 1; round < ROUNDS; round++) {
    const agent = new AgentProcess(t, 'jkill', config, stateDir, { OBSERV_LOG_LEVEL: 'debug' });
    await agent.waitForLog(/tailer ready/, 20_000);
    // Entries arrive while it runs: appended to the same file on even rounds, in a new file on odd ones.
    const writing = writeJournal(journalDir, numberedEntries(UNIT, round * BATCH + 1, BATCH), round % 2 ? `part${round}` : 'remote');
    await agent.waitForLog(/"storing batch"/, 20_000);
    const delay = Math.floor(Math.random() * 300);
    await sleep(delay);
    await agent.kill();
    kills.push(`round ${round} +${delay}ms`);
    await writing;
  }
  const agent = new AgentProcess(t, 'jkill', config, stateDir);
  await agent.waitForLog(/tailer ready/, 20_000);
  await waitForEntries(pg.url, 'jkill', ROUNDS * BATCH);
  await sleep(1500); // a duplicate would arrive now
  const { code } = await agent.stop();
  assert.equal(code, 0);

  const got = await stored(pg.url, 'jkill');
  assert.deepEqual(got.messages, expected(1, ROUNDS * BATCH));
  assert.equal(got.total, ROUNDS * BATCH, `no duplicates after kills at ${kills.join(', ')}`);
  const others = await query<{ n: string }>(pg.url, `SELECT count(*) AS n FROM log_entries WHERE app_name = 'jkill' AND message LIKE 'journal-line-9%'`);
  assert.equal(Number(others[0]!.n), 0, 'other units are not followed');
  const cp = await query<{ files: Array<{ path: string; cursor?: string }> }>(pg.url, `SELECT files FROM agent_checkpoints WHERE app_name = 'jkill'`);
  assert.match(cp[0]!.files.find((f) => f.path === 'journald')?.cursor ?? '', /^s=[0-9a-f]+;i=/, 'the cursor is committed');
  // The children of killed agents ended by themselves (journalctl exits when its reader is gone).
  await eventually(async () => journalctlsReading(journalDir).length === 0, 'no journalctl left behind', 10_000, 100);
});

test('in isolated placement the journal is followed from the collectors thread, and a clean stop ends journalctl', async (t) => {
  const { pg, stateDir, config, journalDir } = await journalScene(t, 'jisolated', '  placement: isolated\n');
  await writeJournal(journalDir, numberedEntries(UNIT, 1, 200));
  const agent = new AgentProcess(t, 'jisolated', config, stateDir);
  await agent.waitForLog(/tailer ready/, 20_000);
  await writeJournal(journalDir, numberedEntries(UNIT, 201, 200), 'second');
  await waitForEntries(pg.url, 'jisolated', 400);
  assert.equal(journalctlsReading(journalDir).length, 1, 'one journalctl child');
  assert.equal((await agent.stop()).code, 0);
  assert.deepEqual(journalctlsReading(journalDir), [], 'stopped with the agent');
  const got = await stored(pg.url, 'jisolated');
  assert.deepEqual(got.messages, expected(1, 400));
  assert.equal(got.total, 400);
});

test('journal entries written while PostgreSQL is stopped are spooled and stored exactly once after it restarts, across an agent restart', async (t) => {
  const { pg, stateDir, config, journalDir } = await journalScene(t, 'joutage');
  await writeJournal(journalDir, numberedEntries(UNIT, 1, 500));
  let agent = new AgentProcess(t, 'joutage', config, stateDir);
  await agent.waitForLog(/tailer ready/, 20_000);
  await waitForEntries(pg.url, 'joutage', 500);

  await pg.stop();
  await writeJournal(journalDir, numberedEntries(UNIT, 501, 3000));
  await agent.waitForLog(/database write failed/, 30_000);
  await sleep(1500);
  // Stopped during the outage: what it read is in the spool, with the cursor beside it.
  assert.equal((await agent.stop()).code, 0);
  await writeJournal(journalDir, numberedEntries(UNIT, 3501, 500), 'later');
  agent = new AgentProcess(t, 'joutage', config, stateDir);
  await agent.waitForLog(/tailer ready/, 20_000);
  await sleep(1000);
  await pg.start();
  await waitForEntries(pg.url, 'joutage', 4000);
  await sleep(1500);
  assert.equal((await agent.stop()).code, 0);

  const got = await stored(pg.url, 'joutage');
  assert.deepEqual(got.messages, expected(1, 4000));
  assert.equal(got.total, 4000, 'count(*) = count(distinct message)');
});

test('an agent whose journalctl is missing logs one OBS_ERR_JOURNAL error and goes on with everything else', async (t) => {
  const { pg, stateDir, config } = await journalScene(t, 'jmissing');
  const agent = new AgentProcess(t, 'jmissing', config, stateDir, { PATH: '/nonexistent' });
  await agent.waitForLog(/tailer ready/, 20_000);
  const line = await agent.waitForLog(/cannot follow the journal/, 20_000);
  assert.match(line, /OBS_ERR_JOURNAL/);
  assert.match(line, /journalctl not found/);
  // Samples still reach the database.
  await eventually(async () => (await query(pg.url, `SELECT 1 FROM vps_metrics WHERE app_name = 'jmissing'`)).length > 0, 'a sample stored', 30_000, 250);
  await sleep(2500); // past the first retries
  assert.equal(agent.lines.filter((l) => /cannot follow the journal/.test(l)).length, 1, 'logged once');
  assert.equal((await agent.stop()).code, 0);
});

test('with the database down and the spool at its limit, following the journal pauses (entries wait in the journal) and every entry arrives once', async (t) => {
  const COUNT = 20_000;
  const { pg, stateDir, config, journalDir } = await journalScene(t, 'jfull', '', { spoolMaxMb: 1 });
  await pg.stop();
  const agent = new AgentProcess(t, 'jfull', config, stateDir);
  await agent.waitForLog(/tailer ready/, 20_000);
  for (let n = 1; n <= COUNT; n += 5000) await writeJournal(journalDir, numberedEntries(UNIT, n, 5000));
  await agent.waitForLog(/tailing paused/, 30_000);
  await sleep(1500);
  await pg.start();
  await agent.waitForLog(/tailing resumed|spool accepts batches again/, 30_000);
  const dropped = async () => Number((await query<{ n: string | null }>(pg.url,
    `SELECT sum((detail->>'logLinesDropped')::int) AS n FROM agent_events WHERE app_name = 'jfull' AND kind = 'spool_full'`))[0]!.n ?? 0);
  await eventually(async () => (await stored(pg.url, 'jfull')).messages.length + (await dropped()) >= COUNT, 'every entry stored or counted', 90_000, 250);
  await sleep(1000);
  assert.equal((await agent.stop()).code, 0);
  const got = await stored(pg.url, 'jfull');
  assert.equal(got.total, got.messages.length, 'nothing stored twice');
  assert.equal(await dropped(), 0, 'the journal source paused instead of reading on');
  assert.deepEqual(got.messages, expected(1, COUNT));
  const events = await query<{ kind: string }>(pg.url, `SELECT kind FROM agent_events WHERE app_name = 'jfull'`);
  assert.ok(events.some((e) => e.kind === 'tailing_paused'), 'the pause is reported in agent_events');
});
