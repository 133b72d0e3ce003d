import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { hubFor, store, logLine, minutesAgo } from './fixtures.js';
import { eventually } from '../helpers/pg.js';

test('churning /live log topics neither floods the database nor keeps per-topic state, and the fleet API keeps answering', async (t) => {
  const warnings: string[] = [];
  const { hub, db } = await hubFor(t, { log: (level: string, message: string) => { if (level === 'warn') warnings.push(message); } });
  await store(db.client, 'vps-1', 'api', { logs: [logLine(minutesAgo(1), 'x')] });
  const ws = new WebSocket(hub.url.replace('http', 'ws') + '/live');
  t.after(() => ws.terminate());
  let replies = 0;
  ws.on('message', () => { replies++; });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const TOPICS = 20_000;
  const fleetStatuses: number[] = [];
  const churn = (async () => {
    for (let i = 0; i < TOPICS; i++) {
      ws.send(JSON.stringify({ subscribe: `logs/churn-${i}` }));
      ws.send(JSON.stringify({ unsubscribe: `logs/churn-${i}` }));
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
  })();
  const fleet = (async () => {
    for (let i = 0; i < 10; i++) {
      fleetStatuses.push((await fetch(`${hub.url}/api/fleet`)).status);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await Promise.all([churn, fleet]);
  await eventually(async () => replies >= 2 * TOPICS, 'every churn message answered', 30_000);
  await eventually(async () => (hub.stats.logTails ?? Infinity) <= 64, 'per-app state freed', 10_000);
  assert.deepEqual([...new Set(fleetStatuses)], [200], 'the fleet API answered throughout');
  const reads = hub.stats.logStartReads ?? Infinity;
  assert.ok(reads < TOPICS / 10, `starting-point reads: ${reads} for ${TOPICS} topics (skipped ${hub.stats.logStartReadsSkipped})`);
  assert.ok(warnings.length <= 5, `${warnings.length} warnings`);
  // A real tail still works after the churn.
  const tail = new WebSocket(hub.url.replace('http', 'ws') + '/live');
  t.after(() => tail.terminate());
  const lines: string[] = [];
  tail.on('message', (d) => { const m = JSON.parse(String(d)) as { type: string; entries?: Array<{ message: string }> }; if (m.type === 'logs') lines.push(...m.entries!.map((e) => e.message)); });
  await new Promise<void>((resolve) => tail.once('open', () => resolve()));
  tail.send(JSON.stringify({ subscribe: 'logs/api' }));
  await new Promise((r) => setTimeout(r, 300));
  await store(db.client, 'vps-1', 'api', { logs: [logLine(minutesAgo(0), 'after the churn')] });
  await eventually(async () => lines.includes('after the churn'), 'the live line', 5000);
});
