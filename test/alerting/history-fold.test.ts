import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldFlaps, type FlapRun } from '../../src/hub/alerting/history-fold.js';
import type { AlertEvent, AlertEventKind } from '../../src/hub/api/types.js';

let nextId = 1000;
function ev(alertId: number, kind: AlertEventKind, minute: number): AlertEvent {
  return { id: nextId--, alertId, timestamp: new Date(Date.UTC(2030, 0, 1, 12, minute)).toISOString(), kind, episode: 1, rule: `rule-${alertId}`,
    type: 'health_check', vps: 'vps-1', app: 'shop', subject: 'http://localhost/health', severity: 'critical', summary: kind, value: null,
    observedAt: null, mutedBy: null, actor: null, context: null, notifications: [] };
}

test('a flaky check\'s pending/cleared runs fold into one row each, placed at the newest, with the other alerts\' events kept in order', () => {
  // Newest first: alert 1 flapped ten times between 12:00 and 12:19, alert 2 fired in between, then alert 1 fired.
  const events: AlertEvent[] = [ev(1, 'firing', 25)];
  for (let m = 19; m >= 0; m--) {
    events.push(ev(1, m % 2 ? 'cleared' : 'pending', m));
    if (m === 10) events.push(ev(2, 'firing', 10));
  }
  const rows = foldFlaps(events);
  assert.deepEqual(rows.map((r) => (r.kind === 'flaps' ? `flaps:${r.alertId}` : `${r.event.kind}:${r.event.alertId}`)),
    ['firing:1', 'flaps:1', 'firing:2']);
  const run = rows[1] as FlapRun;
  assert.equal(run.flaps, 10);
  assert.equal(run.events, 20);
  assert.equal(run.from, '2030-01-01T12:00:00.000Z');
  assert.equal(run.to, '2030-01-01T12:19:00.000Z');
  assert.equal(run.stillPending, false);
});

test('short runs stay as they are, and another event of the same alert ends a run', () => {
  const events = [ev(3, 'pending', 9), ev(3, 'cleared', 8), ev(3, 'pending', 7), ev(3, 'resolved', 6), ev(3, 'cleared', 5), ev(3, 'pending', 4)];
  const rows = foldFlaps(events);
  assert.deepEqual(rows.map((r) => (r.kind === 'flaps' ? `flaps(${r.events},pending=${r.stillPending})` : r.event.kind)),
    ['flaps(3,pending=true)', 'resolved', 'cleared', 'pending']);
});
