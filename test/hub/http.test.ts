// HTTP basics and the request policy, over whichever transport this run uses (test/run.ts runs
// test/hub over both): HEAD, 404/405 JSON, nosniff on every response, Host and Origin checks,
// same-origin JSON for state changes, /live caps and close codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import WebSocket from 'ws';
import { hubFor } from './fixtures.js';
import { eventually } from '../helpers/pg.js';
import { isLoopback } from '../../src/hub/server.js';
import { allowedHosts, hostAllowed } from '../../src/hub/routes.js';

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A request with exactly these headers (fetch would refuse to set Host or Origin). */
function raw(url: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Raw> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers: { ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function wsOutcome(url: string, headers: Record<string, string> = {}): Promise<{ status: number | 'open'; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace('http', 'ws') + '/live', { headers });
    ws.once('open', () => resolve({ status: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => { resolve({ status: res.statusCode ?? 0 }); ws.terminate(); });
    ws.once('error', () => {});
  });
}

test('HEAD answers every GET route with its status and length and no body', async (t) => {
  const { hub } = await hubFor(t);
  for (const path of ['/', '/index.html', '/api/fleet', '/api/status', '/api/session', '/api/alerts', '/api/alert-rules', '/api/alerts/open', '/api/alert-events', '/api/nope', '/missing.js']) {
    const get = await raw(hub.url, 'GET', path);
    const head = await raw(hub.url, 'HEAD', path);
    assert.equal(head.status, get.status, `HEAD ${path}`);
    assert.equal(head.body, '', `HEAD ${path} has no body`);
    assert.equal(head.headers['content-type'], get.headers['content-type'], `HEAD ${path} content-type`);
    if (path === '/' || path === '/index.html') assert.equal(head.headers['content-length'], String(Buffer.byteLength(get.body)));
  }
});

test('unknown API paths get 404 JSON, wrong methods 405 with Allow, and every response carries nosniff', async (t) => {
  const { hub } = await hubFor(t);
  const cases: [string, string, number][] = [
    ['GET', '/api/nope', 404], ['POST', '/api/nope', 404], ['GET', '/api', 404], ['DELETE', '/api/fleet', 405],
    ['POST', '/index.html', 405], ['GET', '/missing.js', 404], ['GET', '/api/metrics', 400], ['GET', '/', 200],
  ];
  for (const [method, path, status] of cases) {
    const res = await raw(hub.url, method, path, method === 'POST' ? { 'content-type': 'application/json' } : {}, method === 'POST' ? '{}' : undefined);
    assert.equal(res.status, status, `${method} ${path}`);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', `${method} ${path} nosniff`);
    if (path.startsWith('/api') && status !== 200) {
      assert.match(String(res.headers['content-type']), /^application\/json/, `${method} ${path} is JSON`);
      assert.equal(typeof (JSON.parse(res.body) as { error: unknown }).error, 'string');
    }
    if (status === 405) assert.ok(res.headers.allow, `${method} ${path} Allow`);
  }
  // The dashboard's routes (no extension) are the app; /api/* never is.
  assert.match((await raw(hub.url, 'GET', '/logs')).headers['content-type'] as string, /text\/html|text\/plain/);
});

test('a Host that is not the hub (DNS rebinding) is refused on the API, the dashboard and /live', async (t) => {
  const { hub } = await hubFor(t);
  const evil = { host: `rebind.attacker.example:${hub.port}` };
  for (const path of ['/api/logs', '/api/fleet', '/']) {
    const res = await raw(hub.url, 'GET', path, evil);
    assert.equal(res.status, 421, path);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  }
  assert.equal((await wsOutcome(hub.url, evil)).status, 421);
  for (const host of [`127.0.0.1:${hub.port}`, `localhost:${hub.port}`, `LOCALHOST:${hub.port}`]) {
    assert.equal((await raw(hub.url, 'GET', '/api/fleet', { host })).status, 200, host);
  }
  // Loopback names only: '127.attacker.example' is a DNS name, not a loopback address.
  assert.equal(isLoopback('127.attacker.example'), false);
  assert.equal(isLoopback('127.0.0.2'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(hostAllowed('127.attacker.example:8080', allowedHosts('127.0.0.1', [])), false);
  assert.equal(hostAllowed('hub.example.com', allowedHosts('127.0.0.1', ['hub.example.com'])), true);
  assert.equal(allowedHosts('0.0.0.0', []), null, 'a public bind answers any Host (auth is required there)');
});

test('API reads and state changes from another origin are refused; the dashboard’s own origin passes', async (t) => {
  const { hub } = await hubFor(t);
  const sibling = `http://127.0.0.1:${hub.port + 1}`;
  assert.equal((await raw(hub.url, 'GET', '/api/logs', { origin: sibling })).status, 403);
  assert.equal((await raw(hub.url, 'GET', '/api/logs', { 'sec-fetch-site': 'cross-site' })).status, 403);
  assert.equal((await raw(hub.url, 'GET', '/api/logs', { 'sec-fetch-site': 'same-site' })).status, 403, 'another port is same-site but not same-origin');
  assert.equal((await raw(hub.url, 'GET', '/api/fleet', { 'sec-fetch-site': 'same-origin', origin: hub.url })).status, 200);
  assert.equal((await raw(hub.url, 'GET', '/api/fleet', { 'sec-fetch-site': 'none' })).status, 200, 'typed into the address bar');
  // A cross-site navigation to the dashboard itself is fine (a link in a chat); its API calls are same-origin.
  assert.equal((await raw(hub.url, 'GET', '/', { 'sec-fetch-site': 'cross-site' })).status, 200);
  // State changes: a text/plain form (no preflight) is refused before it is read, and so is any foreign Origin.
  const form = await raw(hub.url, 'POST', '/api/alerts/1/ack', { 'content-type': 'text/plain' }, 'by=attacker');
  assert.equal(form.status, 415);
  const foreign = await raw(hub.url, 'POST', '/api/alerts/1/ack', { 'content-type': 'application/json', origin: sibling }, '{}');
  assert.equal(foreign.status, 403);
  const own = await raw(hub.url, 'POST', '/api/alerts/1/ack', { 'content-type': 'application/json', origin: hub.url }, '{}');
  assert.equal(own.status, 404, 'the same request from the dashboard reaches the handler (no such alert)');
  // /live: only the dashboard's own origin (or a non-browser client, which sends none).
  assert.equal((await wsOutcome(hub.url, { origin: sibling })).status, 403);
  assert.equal((await wsOutcome(hub.url, { origin: 'null' })).status, 403);
  const mine = await wsOutcome(hub.url, { origin: hub.url });
  assert.equal(mine.status, 'open');
  mine.ws!.close();
});

test('bodies over 8 KiB get 413, and HSTS is sent behind an https proxy', async (t) => {
  const { hub } = await hubFor(t);
  const big = await raw(hub.url, 'POST', '/api/session', { 'content-type': 'application/json' }, JSON.stringify({ password: 'x'.repeat(9000) }));
  assert.equal(big.status, 413);
  assert.equal((await raw(hub.url, 'GET', '/api/fleet', { 'x-forwarded-proto': 'https' })).headers['strict-transport-security'], 'max-age=31536000');
  assert.equal((await raw(hub.url, 'GET', '/api/fleet')).headers['strict-transport-security'], undefined);
});

test('/live caps connections per client and in all, and closes a socket that asks for too many topics', async (t) => {
  const { hub } = await hubFor(t, { liveMaxClientsPerAddress: 3, liveMaxClients: 5 });
  const open: WebSocket[] = [];
  t.after(() => { for (const ws of open) ws.terminate(); });
  for (let i = 0; i < 3; i++) {
    const r = await wsOutcome(hub.url);
    assert.equal(r.status, 'open');
    open.push(r.ws!);
  }
  assert.equal((await wsOutcome(hub.url)).status, 429, 'a fourth from the same address');
  assert.equal(hub.stats.wsRefused, 1);
  // Too many topics: the socket is closed with the hub's own code, and its slot is freed.
  const ws = open.pop()!;
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  for (let i = 0; i < 70; i++) ws.send(JSON.stringify({ subscribe: `app/a${i}` }));
  assert.equal(await closed, 4408);
  await eventually(async () => hub.stats.wsClients === 2, 'the slot freed');
  const again = await wsOutcome(hub.url);
  assert.equal(again.status, 'open');
  open.push(again.ws!);
});

test('logging out closes that session’s /live sockets', async (t) => {
  const password = 'correct horse battery staple';
  const { hub } = await hubFor(t, { auth: { password } });
  const login = await fetch(`${hub.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const r = await wsOutcome(hub.url, { cookie });
  assert.equal(r.status, 'open');
  const closed = new Promise<number>((resolve) => r.ws!.once('close', (code) => resolve(code)));
  await fetch(`${hub.url}/api/session`, { method: 'DELETE', headers: { cookie } });
  assert.equal(await closed, 4401);
  assert.equal((await wsOutcome(hub.url, { cookie })).status, 401);
});
