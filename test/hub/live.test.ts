import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { hubFor, store, sample, logLine, minutesAgo } from './fixtures.js';
import { eventually } from '../helpers/pg.js';
import type { FleetRow, LogEntry } from '../../src/hub/api/types.js';

type Msg = { type: string; rows?: FleetRow[]; entries?: LogEntry[]; app?: string; topics?: string[] };

/** A /live client that records every message. */
async function liveClient(t: import('node:test').TestContext, url: string, subscribe: string[] = []): Promise<{ ws: WebSocket; messages: Msg[] }> {
  const ws = new WebSocket(url.replace('http', 'ws') + '/live');
  const messages: Msg[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as Msg));
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  t.after(() => ws.terminate());
  for (const topic of subscribe) ws.send(JSON.stringify({ subscribe: topic }));
  if (subscribe.length) await eventually(async () => messages.find((m) => m.type === 'subscribed' && subscribe.every((s) => m.topics!.includes(s))), 'subscription');
  return { ws, messages };
}

test('a committed batch is pushed to fleet, vps/<name> and app/<name> subscribers', async (t) => {
  const { hub, db } = await hubFor(t);
  const everyone = await liveClient(t, hub.url);
  const vpsWatcher = await liveClient(t, hub.url, ['vps/vps-9']);
  await store(db.client, 'vps-9', 'shop', { metrics: [sample(minutesAgo(0), { cpuPercent: 77 })] });
  const pushed = await eventually(async () => everyone.messages.find((m) => m.type === 'fleet'), 'a fleet push', 5000);
  assert.equal(pushed.rows![0]!.vps, 'vps-9');
  assert.equal(pushed.rows![0]!.cpuPercent, 77);
  // The vps watcher also gets it on its own topic (plus the fleet topic everyone has).
  await eventually(async () => vpsWatcher.messages.filter((m) => m.type === 'fleet').length >= 2, 'the vps/vps-9 push', 5000);
});

test('logs/<app> pushes each agent’s new lines once, in order, and nothing of other apps', async (t) => {
  const { hub, db } = await hubFor(t);
  await store(db.client, 'vps-1', 'api', { logs: [logLine(minutesAgo(5), 'before anyone listened')] });
  const tail = await liveClient(t, hub.url, ['logs/api']);
  await store(db.client, 'vps-1', 'api', { logs: [logLine(minutesAgo(1), 'one'), logLine(minutesAgo(1), 'two'), logLine(minutesAgo(1), 'three')] });
  await store(db.client, 'vps-1', 'other', { logs: [logLine(minutesAgo(1), 'not for you')] });
  await store(db.client, 'vps-2', 'api', { logs: [logLine(minutesAgo(1), 'from the second vps')] });
  await store(db.client, 'vps-1', 'api', { logs: [logLine(minutesAgo(0), 'four')] });
  const lines = () => tail.messages.filter((m) => m.type === 'logs').flatMap((m) => m.entries!.map((e) => `${e.vps}:${e.message}`));
  await eventually(async () => lines().length >= 5, 'five pushed lines', 5000).catch((err: Error) => { throw new Error(`${err.message}; got ${JSON.stringify(lines())}`); });
  const pushed = lines();
  assert.deepEqual(pushed.filter((l) => l.startsWith('vps-1:')), ['vps-1:one', 'vps-1:two', 'vps-1:three', 'vps-1:four']);
  assert.deepEqual(pushed.filter((l) => l.startsWith('vps-2:')), ['vps-2:from the second vps']);
  assert.equal(pushed.length, 5, 'nothing from before the subscription, nothing of other apps');
  assert.ok(tail.messages.filter((m) => m.type === 'logs').every((m) => m.app === 'api'));
});

test('a client that stops reading is dropped and counted while the others keep receiving', async (t) => {
  const { hub, db } = await hubFor(t, { liveMaxBufferedBytes: 256 * 1024 });
  const healthy = await liveClient(t, hub.url, ['logs/bulk']);
  // A raw client: handshake without compression, subscribe, then never read again.
  const raw = tcpConnect(hub.port, '127.0.0.1');
  t.after(() => raw.destroy());
  await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
  raw.write(`GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise<void>((resolve) => raw.once('data', () => resolve()));
  const payload = Buffer.from(JSON.stringify({ subscribe: 'logs/bulk' }));
  const mask = randomBytes(4);
  raw.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
  raw.pause();
  await eventually(async () => (await fetch(`${hub.url}/api/status`).then((r) => r.json()) as { live: { wsClients: number } }).live.wsClients === 2, 'two clients');
  await new Promise((r) => setTimeout(r, 200)); // let the subscription land
  const line = () => randomBytes(1500).toString('base64');
  for (let round = 0; round < 40 && hub.stats.wsDropped === 0; round++) {
    await store(db.client, 'vps-1', 'bulk', { logs: Array.from({ length: 500 }, () => logLine(minutesAgo(0), line())) });
    await eventually(async () => healthy.messages.filter((m) => m.type === 'logs').length > round, `push ${round} to the healthy client`, 10_000);
  }
  assert.equal(hub.stats.wsDropped, 1, 'the stalled client was dropped');
  const before = healthy.messages.length;
  await store(db.client, 'vps-1', 'bulk', { logs: [logLine(minutesAgo(0), 'still flowing')] });
  await eventually(async () => healthy.messages.slice(before).some((m) => m.entries?.some((e) => e.message === 'still flowing')), 'the healthy client still receives', 5000);
  assert.equal(healthy.ws.readyState, WebSocket.OPEN);
});
