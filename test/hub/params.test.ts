import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubFor, getJson } from './fixtures.js';
import { idParam, parseTime } from '../../src/hub/api/params.js';

test('hostile parameters of the alert and series endpoints get a 400 naming the parameter, never a 500', async (t) => {
  const { hub } = await hubFor(t);
  const cases: [string, RegExp][] = [
    ['/api/alerts/open?status=constructor', /status must be one of open, firing, pending, resolved, all/],
    ['/api/alerts/open?status=__proto__', /status must be one of/],
    ['/api/alerts/open?status=toString', /status must be one of/],
    ['/api/alerts/open?status=hasOwnProperty', /status must be one of/],
    ['/api/alert-events?before=99999999999999999999999', /before must be an integer from 1 to/],
    ['/api/alert-events?alert=' + '9'.repeat(30), /alert must be an integer from 1 to/],
    ['/api/alert-events?alert=0', /alert must be an integer from 1/],
    ['/api/alert-events?since=20000-01-01', /since must be an ISO-8601 time/],
    ['/api/alert-events?since=0000-01-01', /since must be an ISO-8601 time/],
    ['/api/alert-events?until=2026-13-45', /until must be an ISO-8601 time/],
    ['/api/alert-events?limit=501', /limit must be an integer from 1 to 500/],
    ['/api/alert-events?kind=constructor', /kind must be one of/],
    ['/api/alert-events?vps=' + 'v'.repeat(300), /vps must be at most 256/],
    ['/api/alert-events?rule=a%00b', /rule must be at most 256 printable/],
    ['/api/alert-events?alertt=1', /unknown parameter "alertt"/],
    ['/api/alerts/history?befre=1', /unknown parameter "befre"/],
    ['/api/alert-deliveries?status=constructor', /status must be/],
    ['/api/alert-deliveries?limit=1e3', /limit must be/],
    ['/api/metrics?vps=a&app=b&from=0000-01-01T00:00:00Z', /from must be an ISO-8601 time/],
    ['/api/metrics?vps=a&app=b&to=9999-99-99T99:99:99Z', /to must be an ISO-8601 time/],
    ['/api/health?vps=a&app=b&from=2026-01-01Tgarbage', /from must be an ISO-8601 time/],
    ['/api/health?vps=a&app=b&step=99999999999999', /step must be an integer/],
  ];
  for (const [path, message] of cases) {
    const r = await getJson<{ error: string }>(hub.url + path);
    assert.equal(r.status, 400, `${path} → ${r.status} ${JSON.stringify(r.body)}`);
    assert.match(r.body.error, message, path);
  }
  const ok = await getJson<{ events: unknown[] }>(`${hub.url}/api/alert-events?since=2026-01-01&before=${Number.MAX_SAFE_INTEGER}&alert=1&limit=5`);
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body.events, []);
});

test('the shared validators bound times and ids to what PostgreSQL takes', () => {
  assert.equal(parseTime('2026-03-01T10:00:00.123456+02:00', 't').toISOString(), '2026-03-01T08:00:00.123Z');
  assert.equal(parseTime('1767225600000', 't').toISOString(), '2026-01-01T00:00:00.000Z');
  assert.throws(() => parseTime('+020000-01-01', 't'), /t must be/);
  assert.equal(idParam(new URLSearchParams('id=9007199254740991'), 'id'), Number.MAX_SAFE_INTEGER);
  assert.throws(() => idParam(new URLSearchParams('id=9007199254740992'), 'id'), /id must be an integer/);
});
