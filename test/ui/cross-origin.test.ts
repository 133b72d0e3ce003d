// The attack from the security review, performed by a real browser: a page on another localhost
// port tries to read the live log stream, acknowledge an alert with an auto-submitted form, and
// read the API; the loopback hub (no password) must refuse all three.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubFor, store, sample, probe, logLine, minutesAgo } from '../hub/fixtures.js';
import { eventually } from '../helpers/pg.js';
import { launchChromium, noChromium } from '../helpers/browser.js';

test('a page on another origin can neither stream logs nor acknowledge an alert nor read the API', { skip: noChromium }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'observ-xorigin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const alertsFile = join(dir, 'alerts.yml');
  writeFileSync(alertsFile, 'evaluation_interval: 200ms\nrules:\n  - name: health-check-failing\n    failures: 2\n    successes: 2\n');
  const { hub, db } = await hubFor(t, { alertsFile });
  await store(db.client, 'vps-1', 'demo-shop', {
    metrics: [sample(minutesAgo(0))],
    probes: [probe(minutesAgo(2), { success: false, statusCode: 503, errorMessage: 'HTTP 503' }), probe(minutesAgo(1), { success: false, statusCode: 503, errorMessage: 'HTTP 503' })],
  });
  const alert = await eventually(async () => {
    const r = await db.client.query<{ id: string }>(`SELECT id FROM alert_state WHERE rule_name = 'health-check-failing' AND status = 'firing'`);
    return r.rows[0];
  }, 'a firing alert', 20_000);

  // The attacker's page, served from another port of the same machine.
  const hubUrl = `http://127.0.0.1:${hub.port}`;
  const page = `<!doctype html><meta charset=utf-8><title>cat pictures</title>
<form id=f method=POST enctype=text/plain action="${hubUrl}/api/alerts/${alert.id}/ack"><input name='{"by":"attacker","x":"' value='"}'></form>
<iframe name=sink></iframe>
<script>
  window.results = { ws: 'pending', lines: 0, read: 'pending' };
  const ws = new WebSocket('ws://127.0.0.1:${hub.port}/live');
  ws.onopen = () => { window.results.ws = 'open'; ws.send(JSON.stringify({ subscribe: 'logs/demo-shop' })); };
  ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'logs') window.results.lines++; };
  ws.onerror = () => { window.results.ws = 'refused'; };
  fetch('${hubUrl}/api/logs?q=secret', { mode: 'no-cors' }).then(() => { window.results.read = 'sent'; }, () => { window.results.read = 'failed'; });
  fetch('${hubUrl}/api/logs?q=secret').then(async (r) => { window.results.read = 'read ' + (await r.text()).length; }, () => { window.results.cors = 'blocked'; });
  document.getElementById('f').target = 'sink';
  document.getElementById('f').submit();
</script>`;
  const attacker = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(page); });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => attacker.close());
  const attackerPort = (attacker.address() as { port: number }).port;

  const hubSaw: { method: string; path: string; status: number }[] = [];
  const browser = await launchChromium();
  t.after(() => browser.close());
  const tab = await browser.context.newPage();
  tab.on('response', (r) => { if (r.url().startsWith(hubUrl)) hubSaw.push({ method: r.request().method(), path: new URL(r.url()).pathname, status: r.status() }); });
  await tab.goto(`http://127.0.0.1:${attackerPort}/`);
  await eventually(async () => (await tab.evaluate(() => (window as unknown as { results: { ws: string } }).results.ws)) !== 'pending', 'the WebSocket attempt', 10_000);
  // Give a live line the chance to arrive if the socket had been accepted.
  await store(db.client, 'vps-1', 'demo-shop', { logs: [logLine(minutesAgo(0), 'secret order 123')] });
  await new Promise((r) => setTimeout(r, 1500));
  const results = await tab.evaluate(() => (window as unknown as { results: { ws: string; lines: number } }).results);
  assert.equal(results.ws, 'refused', 'the cross-origin WebSocket was refused');
  assert.equal(results.lines, 0);
  const acked = await db.client.query<{ acknowledged_by: string | null }>('SELECT acknowledged_by FROM alert_state WHERE id = $1', [alert.id]);
  assert.equal(acked.rows[0]!.acknowledged_by, null, 'the form did not acknowledge the alert');
  const post = hubSaw.find((r) => r.method === 'POST');
  assert.ok(post && post.status >= 400, `the form post was refused (${JSON.stringify(hubSaw)})`);
  for (const r of hubSaw.filter((x) => x.path === '/api/logs')) assert.equal(r.status, 403, 'API reads from another origin are refused');
});
