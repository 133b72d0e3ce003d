import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedPostgres } from '../../src/db/embedded.js';
import { connect } from '../../src/db/pg.js';

test('the embedded server keeps its data across a stop and start, and SIGSTOP freezes existing connections too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'observ-embedded-'));
  const pg = new EmbeddedPostgres({ dir, settings: { fsync: 'off' } });
  t.after(async () => { try { pg.signal('SIGCONT'); } catch { /* stopped */ } await pg.stop(); rmSync(dir, { recursive: true, force: true }); });
  await pg.start();
  const c = await connect(pg.url, { queryTimeoutMs: 1000 });
  await c.query('CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)');

  pg.signal('SIGSTOP');
  await assert.rejects(c.query('SELECT 1'), /timeout/i, 'an open connection hangs while the server is frozen');
  pg.signal('SIGCONT');
  await c.end().catch(() => {});

  await pg.stop();
  await pg.start();
  const again = await connect(pg.url);
  try {
    assert.deepEqual((await again.query('SELECT x FROM kept')).rows, [{ x: 42 }]);
  } finally { await again.end(); }
});
