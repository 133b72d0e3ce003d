// The pure parts: verdicts from rows, the state machine, maintenance windows, rendering, backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { parseAlertConfig, type HealthCheckRule, type MetricRule } from '../../src/hub/alerting/config.js';
import { judgeHealth, judgeMetric, globMatch, type HealthRow, type Verdict } from '../../src/hub/alerting/judge.js';
import { NEVER_ACTIVE, step, type StoredState } from '../../src/hub/alerting/state-machine.js';
import { mutedBy, zonedToUtc } from '../../src/hub/alerting/maintenance.js';
import { renderEmail, renderSlack, signBody, dashboardLink, type Notification } from '../../src/hub/alerting/render.js';
import { backoffMs } from '../../src/hub/alerting/delivery.js';

const cfg = parseAlertConfig(`default_rules: false
reminder_interval: 1h
rules:
  - { name: h, type: health_check, failures: 3, successes: 2 }
  - { name: d, type: metric, condition: "disk_percent > 90 for 5m", vps: "web-*" }
maintenance:
  - { name: nightly, at: "23:00", duration: 3h, timezone: Europe/Berlin, app: shop }
  - { name: once, start: "2026-03-01T10:00:00Z", end: "2026-03-01T11:00:00Z", rules: [d] }
`, 'alerts.yml');
const health = cfg.rules[0] as HealthCheckRule;
const disk = cfg.rules[1] as MetricRule;

const T0 = Date.parse('2026-03-01T12:00:00Z');
function healthRows(results: boolean[]): HealthRow[] {
  // Oldest first in the argument; timestamps 30 s apart.
  return results.map((ok, i) => ({ vps_name: 'v', app_name: 'a', url: 'http://x/h', timestamp: new Date(T0 + i * 30_000), success: ok,
    status_code: ok ? 200 : 500, error_message: ok ? null : 'boom' }));
}

/** Feeds results one at a time through judge + state machine; returns the notified event kinds. */
function run(results: boolean[]): string[] {
  let state: StoredState = NEVER_ACTIVE;
  const notified: string[] = [];
  results.forEach((_r, i) => {
    const [ob] = judgeHealth(health, healthRows(results.slice(0, i + 1)));
    const out = step({ state, verdict: ob!.verdict, now: T0 + i * 30_000, mutedBy: null, reminderIntervalMs: 0 });
    state = out.state;
    for (const e of out.events) if (e.notify) notified.push(e.kind);
  });
  return notified;
}

test('health verdicts: N failures fire, M successes recover, fewer hold', () => {
  const verdict = (r: boolean[]): Verdict => judgeHealth(health, healthRows(r))[0]!.verdict;
  assert.equal(verdict([false, false]), 'pending');
  assert.equal(verdict([true, false, false, false]), 'fire');
  assert.equal(verdict([false, false, false, true]), 'hold');
  assert.equal(verdict([false, false, false, true, true]), 'recover');
  assert.match(judgeHealth(health, healthRows([false, false, false]))[0]!.summary, /^3 failed checks in a row: HTTP 500, boom$/);
});

test('3 failures notify once; flapping never notifies; recovery notifies once', () => {
  assert.deepEqual(run([false, false, false, false, false, false]), ['firing']);
  assert.deepEqual(run([false, true, false, true, false, false, true, false]), []);
  assert.deepEqual(run([false, false, false, true, false, true, true, true]), ['firing', 'resolved']);
});

test('metric condition must hold on every sample for the whole duration', () => {
  const rows = (values: number[], vps = 'web-1') => values.map((v, i) => ({ vps_name: vps, app_name: 'a', timestamp: new Date(T0 + i * 60_000), value: v }));
  const verdict = (values: number[]) => judgeMetric(disk, rows(values))[0]!.verdict;
  assert.equal(verdict([95, 95, 95, 95, 95, 95]), 'fire'); // 5 minutes between first and last
  assert.equal(verdict([95, 95, 95, 95, 95]), 'pending');
  assert.equal(verdict([95, 95, 95, 80, 95, 95, 95]), 'pending', 'a dip restarts the clock');
  assert.equal(verdict([95, 80]), 'recover');
  assert.equal(judgeMetric(disk, rows([99, 99, 99, 99, 99, 99], 'db-1')).length, 0, 'out of scope');
});

test('maintenance mutes the firing notice; the alert is notified when the window has ended', () => {
  const fire = step({ state: NEVER_ACTIVE, verdict: 'fire', now: T0, mutedBy: 'nightly', reminderIntervalMs: 0 });
  assert.deepEqual(fire.events, [{ kind: 'firing', notify: false, mutedBy: 'nightly', late: false }]);
  assert.equal(fire.state.notified, false);
  const still = step({ state: fire.state, verdict: 'fire', now: T0 + 1000, mutedBy: 'nightly', reminderIntervalMs: 0 });
  assert.deepEqual(still.events, []);
  const after = step({ state: fire.state, verdict: 'hold', now: T0 + 2000, mutedBy: null, reminderIntervalMs: 0 });
  assert.deepEqual(after.events, [{ kind: 'firing', notify: true, mutedBy: null, late: true }]);
  // Resolving an alert whose firing notice was never sent sends nothing.
  const resolved = step({ state: fire.state, verdict: 'recover', now: T0 + 3000, mutedBy: null, reminderIntervalMs: 0 });
  assert.deepEqual(resolved.events, [{ kind: 'resolved', notify: false, mutedBy: null, late: false }]);
});

test('reminders repeat while unacknowledged and stop when acknowledged', () => {
  const fire = step({ state: NEVER_ACTIVE, verdict: 'fire', now: T0, mutedBy: null, reminderIntervalMs: 60_000 }).state;
  assert.deepEqual(step({ state: fire, verdict: 'fire', now: T0 + 59_000, mutedBy: null, reminderIntervalMs: 60_000 }).events, []);
  assert.deepEqual(step({ state: fire, verdict: 'hold', now: T0 + 60_000, mutedBy: null, reminderIntervalMs: 60_000 }).events.map((e) => e.kind), ['reminder']);
  const acked = { ...fire, acknowledgedAt: T0 + 1 };
  assert.deepEqual(step({ state: acked, verdict: 'fire', now: T0 + 600_000, mutedBy: null, reminderIntervalMs: 60_000 }).events, []);
  // A new episode forgets the acknowledgement.
  const again = step({ state: { ...acked, status: 'resolved' }, verdict: 'fire', now: T0 + 700_000, mutedBy: null, reminderIntervalMs: 60_000 }).state;
  assert.equal(again.acknowledgedAt, null);
  assert.equal(again.episode, fire.episode + 1);
});

test('recurring windows follow local time across midnight and DST; one-off windows are exact', () => {
  // 23:00 Berlin in winter is 22:00Z; the window runs to 02:00 local (01:00Z).
  assert.equal(mutedBy(cfg.maintenance, 'h', 'v', 'shop', Date.parse('2026-01-10T22:30:00Z')), 'nightly');
  assert.equal(mutedBy(cfg.maintenance, 'h', 'v', 'shop', Date.parse('2026-01-11T00:59:00Z')), 'nightly');
  assert.equal(mutedBy(cfg.maintenance, 'h', 'v', 'shop', Date.parse('2026-01-11T01:00:00Z')), null);
  assert.equal(mutedBy(cfg.maintenance, 'h', 'v', 'api', Date.parse('2026-01-10T22:30:00Z')), null, 'other app');
  // Summer time: 23:00 Berlin is 21:00Z.
  assert.equal(mutedBy(cfg.maintenance, 'h', 'v', 'shop', Date.parse('2026-07-10T21:30:00Z')), 'nightly');
  assert.equal(zonedToUtc(2026, 3, 29, 180, 'Europe/Berlin'), Date.parse('2026-03-29T01:00:00Z'));
  assert.equal(mutedBy(cfg.maintenance, 'd', 'web-1', 'api', Date.parse('2026-03-01T10:30:00Z')), 'once');
  assert.equal(mutedBy(cfg.maintenance, 'h', 'web-1', 'api', Date.parse('2026-03-01T10:30:00Z')), null, 'only rule d');
});

test('globs match whole names only', () => {
  assert.ok(globMatch('web-*', 'web-12'));
  assert.ok(!globMatch('web-*', 'myweb-12'));
  assert.ok(globMatch('a.b?', 'a.bc'));
  assert.ok(!globMatch('a.b', 'axb'));
});

const note: Notification = {
  kind: 'firing', idempotencyKey: 'observ-1-1-2-hook', alertId: 1, eventId: 2, episode: 1,
  rule: { name: 'shop-health', type: 'health_check', severity: 'critical' }, vps: 'vps-1', app: 'shop', subject: 'http://x/h',
  summary: '3 failed checks in a row: HTTP 503', value: 3, eventAt: '2026-03-01T12:00:05.000Z',
  observedAt: '2026-03-01T12:00:00.000Z', firingSince: '2026-03-01T12:00:05.000Z', mutedUntilNow: false,
  dashboardLink: dashboardLink('https://hub.example.com/', 'vps-1', 'shop', '2026-03-01T12:00:00.000Z'),
  context: { at: '2026-03-01T12:00:00.000Z', host: { at: '2026-03-01T12:00:00.000Z', cpuPercent: 97.5, memoryPercent: 80, diskPercent: 41, loadAvg1m: 3 },
    errorLines: [{ timestamp: '2026-03-01T11:59:58.000Z', level: 'ERROR', logger: null, message: '<@U123> ```x``` <https://evil|click> & ' + 'x'.repeat(400) }],
    dashboardLink: '' },
};

test('untrusted log text cannot mention, link or break out of a code block in Slack, or inject HTML in email', () => {
  const slack = JSON.stringify(renderSlack(note));
  assert.ok(!slack.includes('<@U123>') && !slack.includes('<https://evil'));
  assert.match(slack, /&lt;@U123&gt; '''x''' &lt;https:\/\/evil\|click&gt; &amp; x+…/);
  const email = renderEmail(note);
  assert.ok(!email.html.includes('<@U123>'));
  assert.equal(email.subject, '[FIRING] shop-health on vps-1/shop (http://x/h): 3 failed checks in a row: HTTP 503');
  const resolved = renderEmail({ ...note, kind: 'resolved', eventAt: '2026-03-01T12:12:05.000Z', context: null });
  assert.match(resolved.text, /^Was firing for 12m \(since 2026-03-01T12:00:05.000Z\)$/m);
  assert.equal(note.dashboardLink, 'https://hub.example.com/#/vps/vps-1/shop?at=2026-03-01T12%3A00%3A00.000Z');
});

test('webhook signature is HMAC-SHA256 of the exact body; backoff doubles up to the cap', () => {
  assert.equal(signBody('k', '{"a":1}'), 'sha256=' + createHmac('sha256', 'k').update('{"a":1}').digest('hex'));
  const mid = () => 0.5;
  assert.deepEqual([1, 2, 3, 4, 10].map((a) => backoffMs(a, 1000, 5000, mid)), [1000, 2000, 4000, 5000, 5000]);
});
