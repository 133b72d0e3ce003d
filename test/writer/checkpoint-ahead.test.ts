import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabase, eventually } from '../helpers/pg.js';
import { Writer, type WriterOptions } from '../../src/workers/writer/writer.js';
import type { LogRecord } from '../../src/supervisor/messages.js';

const FILE = '/var/log/app.log';

function line(message: string): LogRecord {
  return { timestamp: new Date().toISOString(), level: 'INFO', logger: null, message, context: null, exception: null, flags: [], raw: null, sourceFile: FILE };
}

interface Logged { level: string; message: string; context?: Record<string, unknown> }

function options(spoolDir: string, postgresUrl: string, logged: Logged[]): WriterOptions {
  return { postgresUrl, vpsName: 'vps1', app: 'demo-api', collectionInterval: 60, flushIntervalMs: 60_000, spoolDir,
    spoolMaxBytes: 8 * 1024 * 1024, queryTimeoutMs: 2000, retryBaseMs: 50, retryMaxMs: 200,
    log: (level, message, context) => { logged.push({ level, message, context }); } };
}

const TAMPER = `UPDATE agent_checkpoints SET batch_seq = 9000000000000000000 WHERE app_name = 'demo-api'`;

test('a checkpoint moved ahead of the agent while it runs is reported, and the batches are stored, not skipped', async (t) => {
  const { url, client } = await testDatabase(t);
  const dir = mkdtempSync(join(tmpdir(), 'observ-ahead-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logged: Logged[] = [];
  const w = new Writer(options(dir, url, logged));
  t.after(() => w.close(1000));
  await w.start();
  w.addLogs([line('before')], { path: FILE, identity: null, offset: 10 }, 10);
  await w.flush();
  await client.query(TAMPER); // what a login shared by several agents (or the owner) can still do
  w.addLogs([line('after-1')], { path: FILE, identity: null, offset: 20 }, 10);
  await w.flush();
  w.addLogs([line('after-2')], { path: FILE, identity: null, offset: 30 }, 10);
  await w.flush();
  const rows = await client.query<{ message: string }>(`SELECT message FROM log_entries ORDER BY id`);
  assert.deepEqual(rows.rows.map((r) => r.message), ['before', 'after-1', 'after-2']);
  const ahead = logged.filter((l) => l.context?.code === 'OBS_ERR_CHECKPOINT_AHEAD');
  assert.equal(ahead.length, 1, 'reported once, in the agent log');
  assert.equal(ahead[0]!.level, 'error');
  const events = await client.query<{ detail: { code: string; committedSeq: string } }>(`SELECT detail FROM agent_events WHERE kind = 'checkpoint_ahead'`);
  assert.equal(events.rowCount, 1);
  assert.equal(events.rows[0]!.detail.code, 'OBS_ERR_CHECKPOINT_AHEAD');
  assert.equal(events.rows[0]!.detail.committedSeq, '9000000000000000000');
  const cp = await client.query<{ batch_seq: string; files: Array<{ offset: number }> }>(`SELECT batch_seq, files FROM agent_checkpoints`);
  assert.equal(Number(cp.rows[0]!.batch_seq), w.status().nextSeq - 1, 'the checkpoint is the agent\'s own again');
  assert.equal(cp.rows[0]!.files[0]!.offset, 30);
  assert.equal(w.stats.batchesDuplicate, 0);
});

test('a checkpoint moved ahead while the agent was stopped is reported at start; it resumes from the stored offsets', async (t) => {
  const { url, client } = await testDatabase(t);
  const dir = mkdtempSync(join(tmpdir(), 'observ-ahead-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = new Writer(options(dir, url, []));
  await first.start();
  first.addLogs([line('one')], { path: FILE, identity: null, offset: 10 }, 10);
  await first.flush();
  await first.close(1000);
  await client.query(TAMPER);

  const logged: Logged[] = [];
  const w = new Writer(options(dir, url, logged));
  t.after(() => w.close(1000));
  const resume = await w.start();
  assert.deepEqual(resume.files.map((f) => f.offset), [10], 'the offsets of the checkpoint are kept');
  assert.ok(w.status().nextSeq < 9e18, 'the foreign seq is not adopted');
  assert.ok(logged.some((l) => l.level === 'error' && l.context?.code === 'OBS_ERR_CHECKPOINT_AHEAD'));
  w.addLogs([line('two')], { path: FILE, identity: null, offset: 20 }, 10);
  await w.flush();
  await eventually(async () => (await client.query(`SELECT 1 FROM log_entries WHERE message = 'two'`)).rowCount === 1, 'the new batch stored', 5000);
  const events = await client.query(`SELECT 1 FROM agent_events WHERE kind = 'checkpoint_ahead'`);
  assert.equal(events.rowCount, 1);
});
