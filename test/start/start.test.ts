// The README's first command, end to end: `observ start` (what `npm start` runs) brings up the embedded
// PostgreSQL, the hub and the demo apps under their agents; the fleet fills in; stopping it leaves no
// postgres behind; a postgres left by a killed run is found and stopped by the next run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../helpers/pg.js';
import { BIN } from '../helpers/agent.js';
import { connect } from '../../src/db/pg.js';

function postgresPidsFor(pgdata: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('postgres') && cmd.includes(pgdata)) pids.push(Number(entry));
    } catch { /* gone */ }
  }
  return pids;
}

/** Agents and demo apps started for this data dir (they carry it in their command line). */
function childProcessesOf(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes(dataDir) && (cmd.includes('demo-app.js') || cmd.includes('obs-agent.cjs'))) pids.push(Number(entry));
    } catch { /* gone */ }
  }
  return pids;
}

function startObserv(dataDir: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const env = { ...process.env };
  delete env.OBSERV_DB_URL;
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b; });
  child.stderr!.on('data', (b: Buffer) => { out += b; });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

test('observ start serves the demo fleet with metrics, health and logs, and stops without leaving postgres', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'observ-start-'));
  let pgdata = join(dataDir, 'postgres', 'pgdata');
  t.after(() => {
    const loc = join(dataDir, 'postgres', 'pgdata-location');
    if (existsSync(loc)) rmSync(join(readFileSync(loc, 'utf8').trim(), '..'), { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const run1 = startObserv(dataDir);
  t.after(() => { run1.child.kill('SIGKILL'); });
  const url = await eventually(async () => /Dashboard: (http:\/\/127\.0\.0\.1:\d+)/.exec(run1.output())?.[1], 'the Dashboard line', 90_000);
  const loc = join(dataDir, 'postgres', 'pgdata-location');
  if (existsSync(loc)) pgdata = readFileSync(loc, 'utf8').trim();

  const fleet = await eventually(async () => {
    const body = (await (await fetch(`${url}/api/fleet`)).json()) as { fleet: Record<string, unknown>[] };
    const ready = body.fleet.filter((r) => r.cpuPercent !== null && r.memoryPercent !== null && r.diskPercent !== null &&
      r.loadAvg1m !== null && Array.isArray(r.checks) && (r.checks as unknown[]).length === 2 &&
      (r.appMetrics as { processes?: number } | null)?.processes === 1);
    return ready.length === 2 ? body.fleet : null;
  }, 'both demo apps with metrics and two health checks in /api/fleet', 90_000, 500);
  assert.deepEqual(fleet.map((r) => r.app).sort(), ['demo-api', 'demo-shop']);
  // Each demo app's own process, found through its working directory (no systemd unit here), apart from the host.
  for (const r of fleet) {
    const app = r.appMetrics as { source: string; rssMb: number; threads: number };
    assert.equal(app.source, `cwd:${join(dataDir, 'deployments', r.app as string, 'current')}`);
    assert.ok(app.rssMb > 10 && app.threads >= 1, JSON.stringify(app));
  }

  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);

  // The demo apps' log lines reach log_entries.
  const port = /on 127\.0\.0\.1:(\d+)/.exec(run1.output())![1];
  const password = readFileSync(join(dataDir, 'postgres', 'pg-password'), 'utf8').trim();
  const db = await connect(`postgresql://observ:${encodeURIComponent(password)}@127.0.0.1:${port}/observ_metrics`);
  try {
    await eventually(async () => (await db.query(`SELECT count(*)::int AS n FROM log_entries WHERE app_name = 'demo-shop' AND logger = 'demo_app'`)).rows[0].n > 0,
      'demo log lines in log_entries', 30_000);
  } finally { await db.end(); }

  // A killed run leaves its postgres (it runs in its own process group) …
  run1.child.kill('SIGKILL');
  await run1.exited;
  const orphans = postgresPidsFor(pgdata);
  assert.equal(orphans.length, 1, 'the postmaster outlives a SIGKILLed `observ start`');
  // Its agents and demo apps notice and stop by themselves.
  await eventually(async () => childProcessesOf(dataDir).length === 0, 'the orphaned agents and demo apps to exit', 20_000, 200);

  // … which the next run detects and stops before starting its own.
  const run2 = startObserv(dataDir);
  t.after(() => { run2.child.kill('SIGKILL'); });
  await eventually(async () => /Dashboard: /.test(run2.output()), 'the second run to come up', 90_000);
  assert.match(run2.output(), new RegExp(`stopping a PostgreSQL left running by an earlier run \\(pid ${orphans[0]}\\)`));
  // Ctrl-C / SIGTERM: everything stops, no postgres left.
  run2.child.kill('SIGTERM');
  assert.equal(await run2.exited, 0, run2.output());
  assert.deepEqual(postgresPidsFor(pgdata), [], 'no postgres process remains');
  assert.match(run2.output(), /stopping: agents → demo apps → hub → database[\s\S]*stopped/);
});
