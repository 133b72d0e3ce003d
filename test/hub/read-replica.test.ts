// The hub with a real streaming replica (pg_basebackup -R, test/helpers/replica.ts): dashboard reads
// go to it, writes, LISTEN and the alerting lock stay on the primary, its lag is measured and shown,
// and reads fall back to the primary while it is away.
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type PgClient } from '../../src/db/pg.js';
import { migrate } from '../../src/db/migrate.js';
import { startHub, type Hub } from '../../src/hub/server.js';
import type { LogSearchResult, MetricsResult, ReadReplicaStatus, FleetRow } from '../../src/hub/api/types.js';
import { eventually } from '../helpers/pg.js';
import { noReplication, startReplicated, type Replicated } from '../helpers/replica.js';
import { getJson, logLine, minutesAgo, sample, store } from './fixtures.js';
import { builtUi, newPage, screenshot, skip as noChromium } from '../ui/browser.js';

const TIMEOUT = 180_000;
let setup: Promise<{ db: Replicated; primary: PgClient; replica: () => Promise<PgClient>; hub: Hub; logs: { level: string; message: string }[] }> | null = null;

// Registered here, at the top: node:test's after() called inside a test would run when that test ends.
const cleanup: (() => unknown)[] = [];
after(async () => { for (const f of cleanup.reverse()) await f(); });

/** One primary, one replica and one hub for the file (a base backup is the slow part). */
function replicated(): NonNullable<typeof setup> {
  setup ??= (async () => {
    const db = await startReplicated({ after: (f: () => unknown) => cleanup.push(f) } as unknown as TestContext);
    const primary = await connect(db.primaryUrl);
    cleanup.push(() => primary.end());
    await migrate(primary);
    const replica = async () => { const c = await connect(db.replicaUrl); return c; };
    // The schema reaches the replica by replay, as everything else does.
    await eventually(async () => { const c = await replica(); try { return (await c.query(`SELECT to_regclass('fleet_latest_metrics') AS t`)).rows[0].t; } finally { await c.end(); } },
      'the migrated schema on the replica', 30_000);
    const logs: { level: string; message: string }[] = [];
    const hub = await startHub({ databaseUrl: db.primaryUrl, readDatabaseUrl: db.replicaUrl, readReplicaCheckMs: 300, host: '127.0.0.1', port: 0,
      maintenance: false, uiDir: noChromium ? undefined : await builtUi(), log: (level, message) => { logs.push({ level, message }); } });
    cleanup.push(() => hub.close());
    return { db, primary, replica, hub, logs };
  })();
  return setup;
}

async function onReplica<T>(s: Awaited<NonNullable<typeof setup>>, work: (c: PgClient) => Promise<T>): Promise<T> {
  const c = await s.replica();
  try { return await work(c); } finally { await c.end(); }
}

const samplesOf = (m: MetricsResult) => m.samples.reduce((a, b) => a + b, 0);
const status = async (hub: Hub) => (await getJson<ReadReplicaStatus>(`${hub.url}/api/read-replica`)).body;
const search = async (hub: Hub, q: string) => (await getJson<LogSearchResult>(`${hub.url}/api/logs?q=${q}&from=${encodeURIComponent(minutesAgo(60))}`)).body;
const metrics = async (hub: Hub, vps: string) => (await getJson<MetricsResult>(`${hub.url}/api/metrics?vps=${vps}&app=shop&from=${encodeURIComponent(minutesAgo(60))}`)).body;

async function pauseReplay(s: Awaited<NonNullable<typeof setup>>): Promise<void> {
  await onReplica(s, (c) => c.query('SELECT pg_wal_replay_pause()'));
  await eventually(() => onReplica(s, async (c) => (await c.query(`SELECT pg_get_wal_replay_pause_state() = 'paused' AS p`)).rows[0].p), 'replay paused');
}
const resumeReplay = (s: Awaited<NonNullable<typeof setup>>) => onReplica(s, (c) => c.query('SELECT pg_wal_replay_resume()'));

test('charts and log search read the replica: a batch stored while its replay is paused is on the fleet overview (primary) but not in them, until replay resumes', { skip: noReplication, timeout: TIMEOUT }, async () => {
  const s = await replicated();
  const { hub, primary } = s;
  await store(primary, 'web1', 'shop', { metrics: [sample(minutesAgo(1))], logs: [logLine(minutesAgo(1), 'beforepausemarker written')] });
  await eventually(async () => samplesOf(await metrics(hub, 'web1')) === 1 && (await search(hub, 'beforepausemarker')).entries.length === 1, 'the first batch through the replica');
  assert.equal((await status(hub)).readsFrom, 'replica');

  await pauseReplay(s);
  try {
    await store(primary, 'web2', 'shop', { metrics: [sample(minutesAgo(1))], logs: [logLine(minutesAgo(1), 'afterpausemarker written')] });
    assert.equal((await primary.query(`SELECT count(*)::int AS n FROM vps_metrics WHERE vps_name = 'web2'`)).rows[0].n, 1, 'stored on the primary');
    // The fleet overview is the primary's (its re-read follows the NOTIFY of the batch).
    await eventually(async () => (await getJson<{ fleet: FleetRow[] }>(`${hub.url}/api/fleet`)).body.fleet.some((r) => r.vps === 'web2' && r.metricsAt !== null),
      'web2 on the fleet overview');
    assert.equal(samplesOf(await metrics(hub, 'web2')), 0, 'charts read the replica, which has not replayed the batch');
    assert.deepEqual((await search(hub, 'afterpausemarker')).entries, [], 'log search reads the replica');
    assert.equal((await search(hub, 'beforepausemarker')).entries.length, 1);
    const health = await getJson(`${hub.url}/api/health?vps=web2&app=shop`);
    assert.equal(health.status, 200);

    // Lag: measured from the WAL positions, so it grows while replay is paused and the primary writes.
    const lagging = await eventually(async () => { const r = await status(hub); return r.lagging ? r : null; }, 'the lag past 5 s', 30_000, 300);
    assert.equal(lagging.state, 'streaming');
    assert.equal(lagging.replayPaused, true);
    assert.ok(lagging.lagSeconds! > 5 && lagging.lagBytes! > 0, JSON.stringify(lagging));
    assert.deepEqual((await getJson<{ readReplica: ReadReplicaStatus }>(`${hub.url}/api/status`)).body.readReplica.lagging, true);

    // Who is connected where: the hub's replica pools on the replica only; LISTEN and the alerting lock on the primary.
    const apps = async (c: PgClient) => (await c.query<{ a: string }>(`SELECT DISTINCT application_name AS a FROM pg_stat_activity WHERE application_name LIKE 'fleet-hub%'`)).rows.map((r) => r.a);
    const onPrimary = await apps(primary);
    const onStandby = await onReplica(s, apps);
    assert.ok(onStandby.includes('fleet-hub replica') && onStandby.includes('fleet-hub replica search'), onStandby.join());
    assert.ok(!onStandby.some((a) => a === 'fleet-hub live' || a.startsWith('fleet-hub alerting')), onStandby.join());
    assert.ok(!onPrimary.some((a) => a.includes('replica')), onPrimary.join());
    const listen = await primary.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'fleet-hub live' AND query ILIKE 'LISTEN%'`);
    assert.equal(listen.rowCount, 1, 'the live feed LISTENs on the primary');
    await eventually(async () => (await primary.query(`SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
      WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'fleet-hub alerting%'`)).rowCount === 1, 'the alerting leader lock on the primary');
  } finally {
    await resumeReplay(s);
  }
  await eventually(async () => samplesOf(await metrics(hub, 'web2')) === 1 && (await search(hub, 'afterpausemarker')).entries.length === 1, 'the batch on the replica after resuming');
  const caughtUp = await eventually(async () => { const r = await status(hub); return !r.lagging && r.lagSeconds !== null && r.lagSeconds < 5 ? r : null; }, 'the lag gone');
  assert.equal(caughtUp.replayPaused, false);
});

test('the dashboard shows the replica\'s lag past a few seconds, on a desktop and a phone', { skip: noReplication || noChromium, timeout: TIMEOUT }, async (t) => {
  const s = await replicated();
  const { hub, primary } = s;
  const page = await newPage(t);
  await page.goto(hub.url);
  await page.waitForSelector('#main .card', { timeout: 30_000 });
  assert.equal(await page.isVisible('#replica-banner'), false, 'no banner while the replica is current');

  await pauseReplay(s);
  try {
    await store(primary, 'web3', 'shop', { metrics: [sample(minutesAgo(0))] });
    await eventually(async () => (await status(hub)).lagging, 'the lag past 5 s', 30_000, 300);
    for (const [name, viewport] of [['desktop', { width: 1440, height: 900 }], ['phone', { width: 390, height: 844 }]] as const) {
      await page.setViewportSize(viewport);
      await page.goto(`${hub.url}/#/vps/web1/shop`);
      await page.waitForSelector('#replica-banner:not([hidden])', { timeout: 30_000 });
      const text = await page.textContent('#replica-banner');
      assert.match(text!, /read a replica that is \d+ s behind \(replay paused\)/);
      const box = await page.locator('#replica-banner').boundingBox();
      assert.ok(box && box.width <= viewport.width, `the banner fits the ${name} width`);
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, `no sideways scrolling on the ${name}`);
      await screenshot(page, `read-replica-lag-${name}.png`);
    }
  } finally {
    await resumeReplay(s);
  }
  await eventually(async () => !(await status(hub)).lagging, 'the lag gone');
  // The open page polls: the banner goes by itself once the replica is current.
  await page.waitForSelector('#replica-banner', { state: 'hidden', timeout: 30_000 });
});

test('a replica that goes away: reads fall back to the primary with a warning, and return to the replica once it answers', { skip: noReplication, timeout: TIMEOUT }, async () => {
  const s = await replicated();
  const { hub, primary, db } = s;
  await store(primary, 'web4', 'shop', { metrics: [sample(minutesAgo(1))] });
  await eventually(async () => samplesOf(await metrics(hub, 'web4')) === 1, 'web4 through the replica');
  assert.equal((await status(hub)).readsFrom, 'replica');

  await db.replica.stop();
  // The first read after it went finds dead pooled connections, and is answered from the primary.
  assert.equal(samplesOf(await metrics(hub, 'web4')), 1);
  assert.equal((await search(hub, 'beforepausemarker')).entries.length, 1);
  const down = await eventually(async () => { const r = await status(hub); return r.state === 'unreachable' ? r : null; }, 'the replica reported unreachable');
  assert.equal(down.readsFrom, 'primary');
  assert.ok(down.error);
  assert.ok(s.logs.some((l) => l.level === 'warn' && l.message.startsWith('the read replica is unreachable: dashboard reads go to the primary')),
    JSON.stringify(s.logs));
  await store(primary, 'web5', 'shop', { metrics: [sample(minutesAgo(1))] });
  assert.equal(samplesOf(await metrics(hub, 'web5')), 1, 'while it is away, reads see the primary');

  await db.replica.start();
  await eventually(async () => (await status(hub)).readsFrom === 'replica', 'reads back on the replica', 60_000);
  assert.ok(s.logs.some((l) => l.message === 'the read replica answers: dashboard reads go to it'));
  await eventually(async () => samplesOf(await metrics(hub, 'web5')) === 1, 'the replica caught up with what was written while it was away');
});
