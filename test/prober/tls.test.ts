import { test } from 'node:test';
import assert from 'node:assert/strict';
import { probeOnce } from '../../src/workers/prober/probe.js';
import { healthCheck } from '../sampler/helpers.js';
import { expiredCert, hasOpenssl, selfSignedCert, startServer } from './servers.js';

const skip = !hasOpenssl() && 'needs the openssl CLI';

test('records days until expiry of a valid certificate', { skip }, async (t) => {
  const tls = selfSignedCert(t, 30);
  const srv = await startServer(t, (_req, res) => res.end('ok'), tls);
  const r = await probeOnce(healthCheck(`${srv.base}/health`, { expectBody: { kind: 'substring', value: 'ok', flags: '' } }), { ca: tls.cert });
  assert.deepEqual([r.success, r.statusCode, r.errorMessage], [true, 200, null]);
  assert.ok(r.certDaysLeft === 29 || r.certDaysLeft === 30, `certDaysLeft ${r.certDaysLeft}`);
});

test('rejects an untrusted certificate before sending the request, still recording its expiry', { skip }, async (t) => {
  const tls = selfSignedCert(t, 30);
  const srv = await startServer(t, (_req, res) => res.end('ok'), tls);
  const r = await probeOnce(healthCheck(`${srv.base}/health`, { headers: { authorization: 'Bearer secret' } }));
  assert.deepEqual([r.success, r.statusCode, r.errorMessage], [false, null, 'DEPTH_ZERO_SELF_SIGNED_CERT']);
  assert.ok(r.certDaysLeft === 29 || r.certDaysLeft === 30, `certDaysLeft ${r.certDaysLeft}`);
  assert.equal(srv.requests.length, 0, 'no request (and no credentials) reached the unverified server');
});

test('reports an expired certificate with negative days left', { skip }, async (t) => {
  const tls = expiredCert(t, '20200101000000Z', '20200201000000Z');
  const srv = await startServer(t, (_req, res) => res.end('ok'), tls);
  const now = Date.UTC(2026, 1, 1);
  const r = await probeOnce(healthCheck(`${srv.base}/health`), { ca: tls.cert, now: () => now });
  assert.deepEqual([r.success, r.errorMessage], [false, 'CERT_HAS_EXPIRED']);
  assert.equal(r.certDaysLeft, Math.floor((Date.UTC(2020, 1, 1) - now) / 86_400_000));
  assert.equal(srv.requests.length, 0);
});

test('rejects a certificate issued for another host name', { skip }, async (t) => {
  const tls = selfSignedCert(t, 30, 'DNS:other.example');
  const srv = await startServer(t, (_req, res) => res.end('ok'), tls);
  const r = await probeOnce(healthCheck(`${srv.base}/health`), { ca: tls.cert });
  assert.deepEqual([r.success, r.errorMessage], [false, 'ERR_TLS_CERT_ALTNAME_INVALID']);
  assert.ok(r.certDaysLeft === 29 || r.certDaysLeft === 30);
  assert.equal(srv.requests.length, 0);
});

test('reports a TLS handshake with a plain HTTP server as a TLS error, not a hang', { skip }, async (t) => {
  const srv = await startServer(t, (_req, res) => res.end('ok'));
  const r = await probeOnce(healthCheck(srv.base.replace('http:', 'https:')));
  assert.equal(r.success, false);
  assert.match(r.errorMessage!, /SSL|TLS|EPROTO|ECONNRESET/);
  assert.equal(r.certDaysLeft, null);
});
