import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { listSegments } from '../../src/workers/writer/spool.js';
import { AgentProcess, eventually, expectedLines, faultScene, query, RestartableServer, storedMessages, writeLines } from './helpers.js';
import { statSync } from 'node:fs';

const LINES = 40_000;

function spoolBytes(dir: string): number {
  return listSegments(dir).reduce((n, f) => n + statSync(f).size, 0);
}

/** Mounts a small tmpfs when this process may (root in a container usually can); null otherwise. */
function tryTmpfs(t: import('node:test').TestContext, size: string): string | null {
  const mnt = mkdtempSync(join(tmpdir(), 'observ-fault-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    rmSync(mnt, { recursive: true, force: true });
    return null;
  }
  t.after(() => {
    try { execFileSync('umount', ['-l', mnt], { stdio: 'ignore' }); } catch { /* already gone */ }
    rmSync(mnt, { recursive: true, force: true });
  });
  return mnt;
}

async function fillWhileDown(t: import('node:test').TestContext, app: string, o: { spoolMaxMb: number; stateDir?: (dir: string) => string }) {
  const { pg, logFile, stateDir, config } = await faultScene(t, app, o);
  const spoolDir = join(stateDir, 'spool');

  await pg.stop();
  const agent = new AgentProcess(t, app, config, stateDir);
  await agent.waitForLog(/tailer ready/);
  // ≈ 8 MB of lines: more than the spool can take. The tailer pauses when the spool is nearly full
  // (the lines wait in their file); an append refused at the limit ("spool cannot take more") also
  // happens when the filesystem fills up first, or with a tailer that keeps reading.
  await writeLines(logFile, 1, LINES, 1000, 20);
  await agent.waitForLog(/tailing paused/, 15_000);
  await sleep(1500);
  const bytesWhileFull = spoolBytes(spoolDir);

  await pg.start();
  await agent.waitForLog(/tailing resumed|spool accepts batches again/, 30_000);
  return { pg, agent, spoolDir, bytesWhileFull };
}

async function assertResumed(pg: RestartableServer, agent: AgentProcess, app: string): Promise<void> {
  // Lines the tailer read after it was asked to pause (a tailer that does not pause) are dropped and
  // counted; a tailer that pauses leaves them in the file and they all arrive.
  const dropped = async () => {
    const r = await query<{ n: string | null }>(pg.url,
      `SELECT sum((detail->>'logLinesDropped')::int) AS n FROM agent_events WHERE app_name = $1 AND kind = 'spool_full'`, [app]);
    return Number(r[0]!.n ?? 0);
  };
  await eventually(async () => {
    const s = await storedMessages(pg.url, app);
    return s.distinct + (await dropped()) >= LINES;
  }, 'every line stored or counted as dropped', 60_000, 250);
  const { code } = await agent.stop();
  assert.equal(code, 0);
  const stored = await storedMessages(pg.url, app);
  const n = await dropped();
  assert.equal(stored.total, stored.distinct, 'count(*) = count(distinct message): nothing stored twice');
  assert.equal(stored.distinct + n, LINES, `stored ${stored.distinct} + dropped ${n} = written`);
  const written = new Set(expectedLines(1, LINES));
  assert.deepEqual([...stored.messages].filter((m) => !written.has(m)), [], 'only written lines were stored');
  const events = await query<{ kind: string }>(pg.url, `SELECT kind FROM agent_events WHERE app_name = $1`, [app]);
  assert.ok(events.some((e) => e.kind === 'tailing_paused'), 'the pause is reported in agent_events');
}

test('a spool at its spool_max_mb limit pauses tailing, thins and counts, stays within bounds, and resumes', async (t) => {
  const { pg, agent, bytesWhileFull } = await fillWhileDown(t, 'full', { spoolMaxMb: 4 });
  assert.ok(bytesWhileFull <= 4 * 1024 * 1024, `spool stayed within its bound (${bytesWhileFull} bytes)`);
  assert.ok(bytesWhileFull > 2 * 1024 * 1024, `spool was used (${bytesWhileFull} bytes)`);
  await assertResumed(pg, agent, 'full');
});

test('a spool on a full filesystem (ENOSPC) behaves like a full spool and resumes', async (t) => {
  const mnt = tryTmpfs(t, '2m');
  if (!mnt) { t.skip('cannot mount a tmpfs here'); return; }
  const { pg, agent } = await fillWhileDown(t, 'enospc', { spoolMaxMb: 64, stateDir: () => join(mnt, 'state') });
  assert.ok(agent.lines.some((l) => /spool cannot take more/.test(l) && /spool full|ENOSPC|no space/i.test(l)));
  await assertResumed(pg, agent, 'enospc');
  const events = await query<{ kind: string }>(pg.url, `SELECT kind FROM agent_events WHERE app_name = 'enospc'`);
  assert.ok(events.some((e) => e.kind === 'spool_full'), 'the full filesystem is reported in agent_events as spool_full');
});
