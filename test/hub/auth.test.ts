import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { hubFor } from './fixtures.js';
import { startHub } from '../../src/hub/server.js';
import { hashPassword, verifyPassword, resolveAuth, SessionAuth } from '../../src/hub/auth.js';
import { ObservError } from '../../src/errors.js';

const PASSWORD = 'correct horse battery staple';

test('passwords are stored as salted scrypt hashes and verified against them', async () => {
  const a = await hashPassword(PASSWORD);
  const b = await hashPassword(PASSWORD);
  assert.match(a, /^scrypt\$16384\$8\$1\$/);
  assert.ok(!a.includes(PASSWORD));
  assert.notEqual(a, b, 'salted');
  assert.equal(await verifyPassword(PASSWORD, a), true);
  assert.equal(await verifyPassword(PASSWORD + 'x', a), false);
  assert.equal(await verifyPassword(PASSWORD, 'not a hash'), false);
});

test('the hub refuses a non-loopback address without a password, and the message names the fix', async () => {
  await assert.rejects(resolveAuth('0.0.0.0', false, undefined, {}), (err: ObservError) =>
    err.code === 'OBS_ERR_CONFIG' && /OBSERV_HUB_PASSWORD/.test(err.message) && /127\.0\.0\.1/.test(err.message));
  await assert.rejects(startHub({ databaseUrl: 'postgres://127.0.0.1:1/none', host: '0.0.0.0', port: 0, auth: { password: '' }, log: () => {} }),
    /refusing to listen on 0\.0\.0\.0 without authentication/);
  assert.ok(await resolveAuth('0.0.0.0', false, undefined, { OBSERV_HUB_PASSWORD_HASH: await hashPassword(PASSWORD) }) instanceof SessionAuth);
  assert.ok(await resolveAuth('10.0.0.5', false, undefined, { OBSERV_HUB_PASSWORD: PASSWORD }) instanceof SessionAuth);
  await assert.rejects(resolveAuth('10.0.0.5', false, undefined, { OBSERV_HUB_PASSWORD: 'short' }), /at least 12 characters/);
  assert.equal(await resolveAuth('127.0.0.1', true, undefined, {}), null, 'loopback needs none');
});

test('with a password, the API and /live need the session cookie a login hands out', async (t) => {
  const { hub } = await hubFor(t, { auth: { password: PASSWORD } });
  assert.equal(hub.authRequired, true);
  assert.equal((await fetch(`${hub.url}/api/fleet`)).status, 401);
  assert.deepEqual(await (await fetch(`${hub.url}/api/session`)).json(), { authRequired: true, authenticated: false, user: null });
  const login = (password: string) => fetch(`${hub.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  assert.equal((await login('wrong password')).status, 401);
  const ok = await login(PASSWORD);
  assert.equal(ok.status, 200);
  const setCookie = ok.headers.get('set-cookie')!;
  assert.match(setCookie, /observ_session=[A-Za-z0-9_-]{40,}; Path=\/; HttpOnly; SameSite=Strict/);
  const cookie = setCookie.split(';')[0]!;
  assert.equal((await fetch(`${hub.url}/api/fleet`, { headers: { cookie } })).status, 200);
  assert.equal((await fetch(`${hub.url}/api/fleet`, { headers: { cookie: 'observ_session=forged' } })).status, 401);

  const wsStatus = (headers: Record<string, string>) => new Promise<number | 'open'>((resolve) => {
    const ws = new WebSocket(hub.url.replace('http', 'ws') + '/live', { headers });
    ws.once('open', () => { ws.close(); resolve('open'); });
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
    ws.once('error', () => {});
  });
  assert.equal(await wsStatus({}), 401);
  assert.equal(await wsStatus({ cookie, origin: 'https://evil.example' }), 403, 'a cross-origin handshake is refused even with the cookie');
  assert.equal(await wsStatus({ cookie, origin: hub.url }), 'open');

  await fetch(`${hub.url}/api/session`, { method: 'DELETE', headers: { cookie } });
  assert.equal((await fetch(`${hub.url}/api/fleet`, { headers: { cookie } })).status, 401, 'logged out');
  // Static files carry no data and stay public, so the page can show its login form.
  assert.equal((await fetch(`${hub.url}/`)).status, 200);
});

test('repeated wrong passwords are throttled', async (t) => {
  const { hub } = await hubFor(t, { auth: { password: PASSWORD } });
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) {
    statuses.push((await fetch(`${hub.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'nope' + i }) })).status);
  }
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
});
