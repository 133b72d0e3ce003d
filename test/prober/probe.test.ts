import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeProbeError, judgeBody, probeOnce, statusMatches } from '../../src/workers/prober/probe.js';
import { healthCheck } from '../sampler/helpers.js';
import { freePort, startServer } from './servers.js';

test('succeeds on a 200 whose body contains the expected substring', async (t) => {
  const srv = await startServer(t, (_req, res) => res.end('{"status":"ok"}'));
  const r = await probeOnce(healthCheck(`${srv.base}/health`, { expectBody: { kind: 'substring', value: '"ok"', flags: '' } }));
  assert.equal(r.success, true);
  assert.equal(r.statusCode, 200);
  assert.equal(r.errorMessage, null);
  assert.equal(r.certDaysLeft, null);
  assert.equal(r.url, `${srv.base}/health`);
  assert.ok(r.responseTimeMs !== null && r.responseTimeMs >= 0);
  assert.ok(!Number.isNaN(Date.parse(r.timestamp)));
});

test('fails a 503 with "HTTP 503"', async (t) => {
  const srv = await startServer(t, (_req, res) => {
    res.statusCode = 503;
    res.end('down');
  });
  const r = await probeOnce(healthCheck(`${srv.base}/health`));
  assert.deepEqual([r.success, r.statusCode, r.errorMessage], [false, 503, 'HTTP 503']);
});

test('judges the status against the configured ranges', async (t) => {
  const srv = await startServer(t, (_req, res) => {
    res.statusCode = 204;
    res.end();
  });
  const ok = await probeOnce(healthCheck(srv.base, { expectStatus: [{ min: 204, max: 204 }] }));
  const notOk = await probeOnce(healthCheck(srv.base, { expectStatus: [{ min: 200, max: 200 }] }));
  assert.equal(ok.success, true);
  assert.deepEqual([notOk.success, notOk.errorMessage], [false, 'HTTP 204']);
  assert.equal(statusMatches(404, [{ min: 200, max: 299 }, { min: 404, max: 404 }]), true);
});

test('fails a body that lacks the expected substring', async (t) => {
  const srv = await startServer(t, (_req, res) => res.end('degraded'));
  const r = await probeOnce(healthCheck(srv.base, { expectBody: { kind: 'substring', value: 'ok', flags: '' } }));
  assert.deepEqual([r.success, r.statusCode, r.errorMessage], [false, 200, 'body did not contain "ok"']);
});

test('matches the body against a regular expression with flags', async (t) => {
  const srv = await startServer(t, (_req, res) => res.end('Status: HEALTHY\nversion 1.2'));
  const match = await probeOnce(healthCheck(srv.base, { expectBody: { kind: 'regex', value: 'status:\\s*healthy', flags: 'i' } }));
  const miss = await probeOnce(healthCheck(srv.base, { expectBody: { kind: 'regex', value: '^ok$', flags: 'm' } }));
  assert.equal(match.success, true);
  assert.deepEqual([miss.success, miss.errorMessage], [false, 'body did not match /^ok$/m']);
  // A global regex must not carry lastIndex from one probe to the next.
  const g = { kind: 'regex' as const, value: 'HEALTHY', flags: 'g' };
  assert.equal(judgeBody('HEALTHY', g), null);
  assert.equal(judgeBody('HEALTHY', g), null);
});

test('keeps only the first 64 KiB of the body for matching but reads it all within the deadline', async (t) => {
  const big = 'x'.repeat(200 * 1024) + 'TAIL-MARKER';
  const srv = await startServer(t, (_req, res) => res.end(`HEAD-MARKER${big}`));
  const head = await probeOnce(healthCheck(srv.base, { expectBody: { kind: 'substring', value: 'HEAD-MARKER', flags: '' } }));
  const tail = await probeOnce(healthCheck(srv.base, { expectBody: { kind: 'substring', value: 'TAIL-MARKER', flags: '' } }));
  assert.equal(head.success, true);
  assert.deepEqual([tail.success, tail.errorMessage], [false, 'body did not contain "TAIL-MARKER"']);
});

test('times out at the deadline when the server never sends headers', async (t) => {
  const srv = await startServer(t, () => { /* hang */ });
  const r = await probeOnce(healthCheck(srv.base, { timeout: 1 }));
  assert.deepEqual([r.success, r.statusCode, r.errorMessage], [false, null, 'timeout after 1000 ms']);
  assert.ok(r.responseTimeMs! >= 990 && r.responseTimeMs! < 3000, `responseTimeMs ${r.responseTimeMs}`);
  // The connection is torn down at the deadline, not left to linger.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(srv.closedSockets, 1);
});

test('times out at the deadline when the body stalls midway, keeping the status code', async (t) => {
  const srv = await startServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('partial');
  });
  const r = await probeOnce(healthCheck(srv.base), { timeoutMs: 600 });
  assert.deepEqual([r.success, r.statusCode, r.errorMessage], [false, 200, 'timeout after 600 ms']);
  assert.ok(r.responseTimeMs! >= 590 && r.responseTimeMs! < 2500, `responseTimeMs ${r.responseTimeMs}`);
});

test('reports a body cut short by the server', async (t) => {
  const srv = await startServer(t, (req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('partial', () => req.socket.destroy());
  });
  const r = await probeOnce(healthCheck(srv.base));
  assert.equal(r.success, false);
  assert.equal(r.statusCode, 200);
  assert.match(r.errorMessage!, /^ECONNRESET/);
});

test('reports ECONNREFUSED for a port nobody listens on', async () => {
  const port = await freePort();
  const r = await probeOnce(healthCheck(`http://127.0.0.1:${port}/health`));
  assert.deepEqual([r.success, r.statusCode, r.errorMessage], [false, null, 'ECONNREFUSED']);
});

test('reports a DNS failure with the host name', async () => {
  const r = await probeOnce(healthCheck('http://observ-probe-test.invalid/health'), { timeoutMs: 3000 });
  assert.equal(r.success, false);
  assert.match(r.errorMessage!, /^(ENOTFOUND|EAI_AGAIN|timeout after) ?/);
});

test('follows redirects, relative ones included, within the deadline', async (t) => {
  const srv = await startServer(t, (req, res) => {
    if (req.url === '/a') res.writeHead(301, { location: '/b' }).end();
    else if (req.url === '/b') res.writeHead(302, { location: 'c?x=1' }).end();
    else if (req.url === '/c?x=1') res.end('ok');
    else res.writeHead(404).end();
  });
  const r = await probeOnce(healthCheck(`${srv.base}/a`, { followRedirects: true, expectBody: { kind: 'substring', value: 'ok', flags: '' } }));
  assert.deepEqual([r.success, r.statusCode, r.errorMessage], [true, 200, null]);
  assert.deepEqual(srv.requests.map((q) => q.url), ['/a', '/b', '/c?x=1']);
  assert.equal(r.url, `${srv.base}/a`);
});

test('does not follow redirects unless asked, judging the 3xx itself', async (t) => {
  const srv = await startServer(t, (_req, res) => res.writeHead(302, { location: '/elsewhere' }).end());
  const dflt = await probeOnce(healthCheck(`${srv.base}/a`));
  const strict = await probeOnce(healthCheck(`${srv.base}/a`, { expectStatus: [{ min: 200, max: 299 }] }));
  assert.deepEqual([dflt.success, dflt.statusCode], [true, 302]);
  assert.deepEqual([strict.success, strict.statusCode, strict.errorMessage], [false, 302, 'HTTP 302']);
  assert.equal(srv.requests.length, 2);
});

test('stops after five redirect hops', async (t) => {
  const srv = await startServer(t, (req, res) => res.writeHead(302, { location: `/r${Number(req.url!.slice(2) || 0) + 1}` }).end());
  const r = await probeOnce(healthCheck(`${srv.base}/r0`, { followRedirects: true }));
  assert.deepEqual([r.success, r.errorMessage], [false, 'too many redirects (more than 5)']);
  assert.equal(srv.requests.length, 6);
});

test('sends the configured method and headers, and drops credentials on a cross-origin redirect', async (t) => {
  const other = await startServer(t, (_req, res) => res.end('ok'));
  const srv = await startServer(t, (_req, res) => res.writeHead(307, { location: `${other.base}/landing` }).end());
  const r = await probeOnce(healthCheck(`${srv.base}/start`, {
    method: 'HEAD', followRedirects: true, headers: { Authorization: 'Bearer secret', 'X-Probe': 'yes' },
  }));
  assert.equal(r.success, true);
  const [first] = srv.requests;
  const [second] = other.requests;
  assert.equal(first!.method, 'HEAD');
  assert.equal(first!.headers.authorization, 'Bearer secret');
  assert.equal(first!.headers['x-probe'], 'yes');
  assert.equal(first!.headers.connection, 'close');
  assert.equal(second!.method, 'HEAD');
  assert.equal(second!.headers.authorization, undefined);
  assert.equal(second!.headers['x-probe'], 'yes');
});

test('turns a POST answered with 303 into a GET', async (t) => {
  const srv = await startServer(t, (req, res) => {
    if (req.url === '/submit') res.writeHead(303, { location: '/done' }).end();
    else res.end(req.method);
  });
  const r = await probeOnce(healthCheck(`${srv.base}/submit`, { method: 'POST', followRedirects: true, expectBody: { kind: 'substring', value: 'GET', flags: '' } }));
  assert.equal(r.success, true);
  assert.deepEqual(srv.requests.map((q) => q.method), ['POST', 'GET']);
});

test('is aborted at once by the caller signal', async (t) => {
  const srv = await startServer(t, () => { /* hang */ });
  const controller = new AbortController();
  const pending = probeOnce(healthCheck(srv.base, { timeout: 30 }), { signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 100));
  controller.abort();
  const r = await pending;
  assert.deepEqual([r.success, r.errorMessage], [false, 'aborted']);
  assert.ok(r.responseTimeMs! < 10_000);
});

test('describes transport errors briefly', () => {
  assert.equal(describeProbeError(Object.assign(new Error('x'), { code: 'HPE_INVALID_CONSTANT' }), 'h'), 'invalid HTTP response (HPE_INVALID_CONSTANT)');
  assert.equal(describeProbeError(Object.assign(new Error('getaddrinfo ENOTFOUND h'), { code: 'ENOTFOUND' }), 'h'), 'ENOTFOUND h');
  assert.equal(describeProbeError(new Error('y'.repeat(500)), 'h').length, 200);
});
