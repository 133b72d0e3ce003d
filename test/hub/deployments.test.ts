// GET /api/deployments (deploy markers, docs/deployments.md) against a real hub and a real PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubFor, getJson, minutesAgo } from './fixtures.js';
import type { DeploymentsResult } from '../../src/hub/api/types.js';

test('GET /api/deployments lists deploys newest first, filtered by vps, app and range, each with the version before it', async (t) => {
  const { hub, db } = await hubFor(t);
  const rows: [string, string, number, string, string][] = [
    ['web1', 'shop', 600, '1.0', 'symlink'], ['web1', 'shop', 120, '1.1', 'symlink'], ['web1', 'shop', 30, '1.2', 'cli'],
    ['web2', 'shop', 60, '9.0', 'cli'], ['web1', 'blog', 45, 'b7', 'symlink'],
  ];
  for (const [vps, app, ago, version, source] of rows) {
    await db.client.query(`INSERT INTO deployments (timestamp, vps_name, app_name, release, version, source) VALUES ($1, $2, $3, '/r/' || $4, $4, $5)`,
      [minutesAgo(ago), vps, app, version, source]);
  }
  const r = await getJson<DeploymentsResult>(`${hub.url}/api/deployments?vps=web1&app=shop&from=${encodeURIComponent(minutesAgo(180))}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.deployments.map((d) => [d.version, d.previousVersion, d.source, d.release]), [
    ['1.2', '1.1', 'cli', '/r/1.2'], ['1.1', '1.0', 'symlink', '/r/1.1'], // 1.0 is before the range, still named as 1.1's predecessor
  ]);
  assert.equal(r.body.truncated, false);
  const all = await getJson<DeploymentsResult>(`${hub.url}/api/deployments?from=${encodeURIComponent(minutesAgo(24 * 60))}`);
  assert.deepEqual(all.body.deployments.map((d) => `${d.vps}/${d.app}@${d.version}`), ['web1/shop@1.2', 'web1/blog@b7', 'web2/shop@9.0', 'web1/shop@1.1', 'web1/shop@1.0']);
  const cut = await getJson<DeploymentsResult>(`${hub.url}/api/deployments?app=shop&limit=2`);
  assert.deepEqual(cut.body.deployments.map((d) => d.version), ['1.2', '9.0']);
  assert.equal(cut.body.truncated, true);
  const empty = await getJson<DeploymentsResult>(`${hub.url}/api/deployments?app=nothing-here`);
  assert.deepEqual(empty.body, { deployments: [], truncated: false });
});

test('GET /api/deployments refuses bad parameters with a 400 naming them', async (t) => {
  const { hub } = await hubFor(t);
  const cases: [string, RegExp][] = [
    ['limit=0', /limit must be an integer from 1 to 1000/],
    ['limit=abc', /limit must be an integer/],
    ['from=yesterday', /from must be an ISO-8601 time/],
    ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', /from must be earlier than to/],
    ['app=' + 'x'.repeat(300), /app must be at most 256 printable characters/],
    ['ap=shop', /unknown parameter "ap"/],
  ];
  for (const [query, re] of cases) {
    const r = await getJson<{ error: string }>(`${hub.url}/api/deployments?${query}`);
    assert.equal(r.status, 400, query);
    assert.match(r.body.error, re, query);
  }
});
