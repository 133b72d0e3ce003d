import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasLogrotate, LineWriter, logrotate, scratchDir, sleep, startTailer, tailing, waitFor } from './harness.js';
import { DEFAULTS } from '../../src/supervisor/config.js';

const haveLogrotate = await hasLogrotate();
const needsLogrotate = haveLogrotate ? {} : { skip: 'the logrotate binary is not installed (apt-get install logrotate)' };

const TRACE = [
  '2026-12-06 10:15:03,412 ERROR [app.orders] failed to process order 4711',
  'Traceback (most recent call last):',
  '  File "/srv/app/orders.py", line 88, in process',
  '    total = compute_total(order)',
  '  File "/srv/app/pricing.py", line 41, in compute_total',
  '    return sum(item["price"] for item in order.items)',
  "KeyError: 'price'",
];
const BEFORE = '2026-12-06 10:15:02,101 INFO [app.main] before the trace';
const AFTER = '2026-12-06 10:15:04,000 INFO [app.main] after the trace';

const multiline = (o: Partial<typeof DEFAULTS.multiline>) => ({ multiline: { ...DEFAULTS.multiline, ...o } });

test('a trace written line by line over many polls arrives as one record, and no checkpoint falls inside it', async (t) => {
  const file = join(scratchDir(t), 'app.log');
  writeFileSync(file, '');
  const run = await tailing(t, [file]);
  for (const line of [BEFORE, ...TRACE, AFTER]) {
    appendFileSync(file, `${line}\n`);
    await sleep(60); // a poll (50 ms) or more between two lines of the trace
  }
  await waitFor(() => run.records().length >= 3, 10_000, 'three records');
  await sleep(200);
  assert.deepEqual(run.records().map((r) => r.message), [BEFORE, TRACE.join('\n'), AFTER]);
  assert.equal(run.records()[1]!.level, 'ERROR');
  const boundaries = [0, BEFORE.length + 1, BEFORE.length + 1 + Buffer.byteLength(TRACE.join('\n')) + 1, statSync(file).size];
  for (const b of run.batches) assert.ok(boundaries.includes(b.checkpoint.offset), `checkpoint at ${b.checkpoint.offset}, inside a record`);
  assert.equal(run.lastCheckpoint(file)!.offset, statSync(file).size);
});

test('the record in hand is handed over after timeout_ms without new bytes, by a timer, with no next line and no poll due', async (t) => {
  const file = join(scratchDir(t), 'app.log');
  writeFileSync(file, `${BEFORE}\n${TRACE.join('\n')}\n`);
  // The next regular poll would come after 60 s: only the record's own deadline can bring it sooner.
  const run = await tailing(t, [file], { pollMs: 60_000, ...multiline({ timeoutMs: 200 }) });
  await waitFor(() => run.records().length >= 2, 20_000, 'the trace, handed over after its quiet interval');
  assert.equal(run.records()[1]!.message, TRACE.join('\n'));
  assert.equal(run.lastCheckpoint(file)!.offset, statSync(file).size);
});

test('killed in the middle of a record: the last position handed out is the record\'s start, and a restart from it delivers the record once, whole', async (t) => {
  const file = join(scratchDir(t), 'app.log');
  writeFileSync(file, `${BEFORE}\n${TRACE.slice(0, 4).join('\n')}\n`);
  const first = await startTailer([file], multiline({ timeoutMs: 60_000 }));
  await waitFor(() => first.records().length >= 1, 5000, 'the line before the trace');
  await sleep(300); // every poll since has read nothing new: the half trace is in hand
  // What a writer would have committed when the process died now (the PostgreSQL test kills the real agent).
  const emitted = first.records().map((r) => r.message);
  const checkpoint = first.lastCheckpoint(file)!;
  await first.stop();
  assert.deepEqual(emitted, [BEFORE]);
  assert.equal(checkpoint.offset, Buffer.byteLength(BEFORE) + 1, 'never past the start of the open record');
  // A stop (not a crash) hands the open record over as read, so a quiet file's last entry is not held back.
  assert.deepEqual(first.records().map((r) => r.message), [BEFORE, TRACE.slice(0, 4).join('\n')]);
  assert.equal(first.lastCheckpoint(file)!.offset, statSync(file).size);

  appendFileSync(file, `${TRACE.slice(4).join('\n')}\n${AFTER}\n`);
  const second = await tailing(t, [file], { checkpoints: [checkpoint] });
  await waitFor(() => second.records().length >= 2, 10_000, 'the trace and the line after it');
  await sleep(200);
  assert.deepEqual(second.records().map((r) => r.message), [TRACE.join('\n'), AFTER]);
});

test('rotation: a record open when its file is renamed is completed from the old file\'s remainder, before the new file\'s lines', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  writer.writeRaw(`${BEFORE}\n${TRACE.slice(0, 3).join('\n')}\n`);
  const run = await tailing(t, [file], multiline({ timeoutMs: 30_000 }));
  await waitFor(() => run.records().length >= 1, 5000, 'the line before the trace');
  await sleep(150);
  renameSync(file, `${file}.1`);
  await sleep(100);
  writer.writeRaw(`${TRACE.slice(3).join('\n')}\n`); // the app still writes to the renamed file…
  await sleep(100);
  writer.reopen(); // …until it reopens its log
  writer.writeRaw(`${AFTER}\n`);
  await waitFor(() => run.records().length >= 2, 10_000, 'the trace, at the end of the old file');
  assert.deepEqual(run.records().map((r) => r.message), [BEFORE, TRACE.join('\n')]);
  // The old file's batch ends at its end; the new file's line waits for its own quiet interval.
  const oldCheckpoint = run.batches.filter((b) => b.checkpoint.identity?.ino === statSync(`${file}.1`).ino).at(-1)!.checkpoint;
  assert.equal(oldCheckpoint.offset, statSync(`${file}.1`).size);
});

test('copytruncate in the middle of a record: the record is read again, whole, from the copy; the rest from the file; nothing lost or doubled', needsLogrotate, async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  writer.writeRaw(`${BEFORE}\n${TRACE.slice(0, 3).join('\n')}\n`);
  const run = await tailing(t, [file], { pollMs: 200, ...multiline({ timeoutMs: 30_000 }) });
  await waitFor(() => run.records().length >= 1, 5000, 'the line before the trace');
  await sleep(300); // the first three lines of the trace are in hand
  run.tailer.handle({ type: 'PAUSE_TAILING', reason: 'test' });
  await sleep(300);
  // Two more lines of the trace reach the file but are not read before logrotate copies and truncates it.
  writer.writeRaw(`${TRACE.slice(3, 5).join('\n')}\n`);
  await logrotate(dir, file, ['rotate 5', 'copytruncate', 'nocompress']);
  run.tailer.handle({ type: 'RESUME_TAILING' });
  writer.writeRaw(`${TRACE.slice(5).join('\n')}\n${AFTER}\n${BEFORE}\n`);
  await waitFor(() => run.records().some((r) => r.message === AFTER), 10_000, 'the lines written after the truncation');
  const messages = run.records().map((r) => r.message);
  assert.equal(messages.join('\n'), [BEFORE, ...TRACE, AFTER].join('\n'), JSON.stringify(messages));
  assert.equal(messages[1], TRACE.slice(0, 5).join('\n'), 'what the copy holds of the record is one record');
  const [event] = run.events;
  assert.equal(event!.detail.reason, 'truncated');
  assert.equal(event!.detail.recoveredFrom, `${file}.1`);
});

test('multiline.enabled false: one record per line, as before', async (t) => {
  const file = join(scratchDir(t), 'app.log');
  writeFileSync(file, `${TRACE.join('\n')}\n`);
  const run = await tailing(t, [file], multiline({ enabled: false }));
  await waitFor(() => run.records().length >= TRACE.length, 5000, 'every line');
  assert.deepEqual(run.records().map((r) => r.message), TRACE);
  assert.equal(readFileSync(file, 'utf8').split('\n').length - 1, TRACE.length);
});

test('restarting from any checkpoint handed out delivers exactly the records after it, each trace whole', async (t) => {
  const file = join(scratchDir(t), 'app.log');
  const fixtures = ['python-logging.log', 'jvm-printstacktrace.log', 'node-uncaught.log', 'go-panic.log', 'ruby-backtrace.log'];
  writeFileSync(file, fixtures.map((f) => readFileSync(new URL(`../../../test/fixtures/logs/${f}`, import.meta.url), 'utf8')).join(''));
  const first = await startTailer([file], { maxBatchRecords: 3, ...multiline({ timeoutMs: 200 }) });
  await waitFor(() => first.lastCheckpoint(file)?.offset === statSync(file).size, 10_000, 'the whole file');
  await first.stop();
  const all = first.records().map((r) => r.message);
  assert.ok(all.some((m) => m.startsWith('panic: ') && m.split('\n').length === 17), 'the Go panic is one record');
  let seen = 0;
  const points = first.batches.map((b) => ({ checkpoint: b.checkpoint, seenBefore: (seen += b.records.length) }));
  assert.ok(points.length >= 8);
  for (const { checkpoint, seenBefore } of points) {
    const again = await startTailer([file], { checkpoints: [checkpoint], ...multiline({ timeoutMs: 200 }) });
    await waitFor(() => (again.lastCheckpoint(file)?.offset ?? checkpoint.offset) === statSync(file).size, 10_000, `the rest after ${seenBefore}`)
      .catch(() => undefined);
    await sleep(100);
    await again.stop();
    assert.deepEqual(again.records().map((r) => r.message), all.slice(seenBefore), `restart after record ${seenBefore}`);
  }
});
