import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, truncateSync, readdirSync } from 'node:fs';
import { delivery, hasLogrotate, LineWriter, logFixture, logrotate, numberedLine, sleep, tailing, waitFor } from './harness.js';

const haveLogrotate = await hasLogrotate();
const needsLogrotate = haveLogrotate ? {} : { skip: 'the logrotate binary is not installed (apt-get install logrotate)' };

test('logrotate create: the old file is drained while the app keeps writing to it, then the new one is followed (fs.watch on)', needsLogrotate, async (t) => {
  const { dir, file, writer } = logFixture(t);
  const run = await tailing(t, [file], { watch: true, pollMs: 1000 });
  writer.start(5, 5); // about 1,000 lines/s
  await sleep(300);
  await logrotate(dir, file, ['rotate 5', 'create', 'missingok', 'nocompress']);
  await sleep(1000); // the app has not reopened yet: still writing to app.log.1
  writer.reopen();
  await sleep(300);
  writer.stopLoop();
  await waitFor(() => run.records().length >= writer.written, 5000, 'every written line');
  await sleep(300);
  const d = delivery(run.records(), writer.written);
  t.diagnostic(`written ${writer.written}, lost ${d.missing.length}, duplicates ${d.duplicates.length}`);
  assert.deepEqual(d, { received: writer.written, duplicates: [], outOfOrder: 0, missing: [] });
  assert.equal(run.events.length, 0);
  assert.ok(readdirSync(dir).includes('app.log.1'));
});

test('logrotate copytruncate: truncation is detected, the unread tail is read from the copy, and losses are reported', needsLogrotate, async (t) => {
  const { dir, file, writer } = logFixture(t);
  // A slow poll: without the copy, every line since the last poll would be lost.
  const run = await tailing(t, [file], { pollMs: 500 });
  writer.start(5, 5);
  await sleep(300);
  await logrotate(dir, file, ['rotate 5', 'copytruncate', 'missingok', 'nocompress']);
  await sleep(300);
  await logrotate(dir, file, ['rotate 5', 'copytruncate', 'missingok', 'nocompress']);
  await sleep(300);
  writer.stopLoop();
  const d0 = () => delivery(run.records(), writer.written);
  // The last line was written after both truncations, so it is never lost: wait until it is read (on a
  // loaded machine the newest lines can take seconds), then judge what the truncations cost.
  await waitFor(() => !d0().missing.includes(writer.written), 15_000, 'the last line written');
  await sleep(300);
  const d = d0();
  t.diagnostic(`written ${writer.written}, lost ${d.missing.length} (${JSON.stringify(d.missing)}), events ${run.events.length}`);
  assert.deepEqual(d.duplicates, []);
  assert.equal(d.outOfOrder, 0);
  const truncations = run.events.filter((e) => e.kind === 'lines_possibly_lost' && e.detail.reason === 'truncated');
  assert.equal(truncations.length, 2, 'each truncation is reported');
  assert.ok(truncations.some((e) => e.detail.recoveredFrom !== null), 'the unread tail is read from the copy');
  // Only lines written between logrotate's copy and its truncate can be lost (milliseconds of writes),
  // not the ~500 written since the last poll.
  assert.ok(d.missing.length < 100, `lost ${d.missing.length} lines`);
  assert.ok(d.received + d.missing.length === writer.written);
});

test('two logrotate rotations between two polls: the middle file is not lost', needsLogrotate, async (t) => {
  const { dir, file, writer } = logFixture(t);
  writer.write(50);
  const run = await tailing(t, [file], { pollMs: 1000, watch: false });
  await waitFor(() => run.records().length >= 50);
  // All of this happens well within one poll period.
  writer.write(50);
  await logrotate(dir, file, ['rotate 5', 'create', 'nocompress']);
  writer.reopen();
  writer.write(50);
  await logrotate(dir, file, ['rotate 5', 'create', 'nocompress']);
  writer.reopen();
  writer.write(50);
  await waitFor(() => run.records().length >= 200, 8000, 'all 200 lines');
  const d = delivery(run.records(), writer.written);
  assert.deepEqual(d, { received: 200, duplicates: [], outOfOrder: 0, missing: [] });
});

test('a file renamed away and re-created 3 s later: the old one is drained, then the new one is followed', async (t) => {
  const { dir, file, writer } = logFixture(t);
  const run = await tailing(t, [file]);
  writer.start(2, 10);
  await sleep(200);
  renameSync(file, `${file}.1`);
  await sleep(3000); // still writing to the renamed file; nothing at the path
  writer.reopen(); // creates app.log
  await sleep(300);
  writer.stopLoop();
  await waitFor(() => run.records().length >= writer.written, 5000, 'every written line');
  assert.deepEqual(delivery(run.records(), writer.written), {
    received: writer.written, duplicates: [], outOfOrder: 0, missing: [],
  });
});

test('truncation in place without a copy: reading restarts at 0 and the unread bytes are reported', async (t) => {
  const { dir, file, writer } = logFixture(t);
  writer.write(100);
  const run = await tailing(t, [file]);
  await waitFor(() => run.records().length >= 100);
  run.tailer.handle({ type: 'PAUSE_TAILING', reason: 'test' });
  // The commit of lines 1..100 starts a poll at once: a read already in flight when the pause arrives
  // completes. Let it, before writing what must stay unread.
  await sleep(150);
  writer.write(50); // 101..150: seen by the poll, never read
  await sleep(200);
  truncateSync(file, 0);
  writer.write(30); // 151..180
  run.tailer.handle({ type: 'RESUME_TAILING' });
  await waitFor(() => run.records().length >= 130, 3000, 'lines after the truncation');
  await sleep(150);
  const d = delivery(run.records(), writer.written);
  assert.deepEqual(d.missing, Array.from({ length: 50 }, (_, i) => 101 + i));
  assert.deepEqual(d.duplicates, []);
  const [event] = run.events;
  assert.equal(event!.kind, 'lines_possibly_lost');
  assert.equal(event!.detail.reason, 'truncated');
  assert.equal(event!.detail.recoveredFrom, null);
  let unread = 0;
  for (let n = 101; n <= 150; n++) unread += Buffer.byteLength(numberedLine(n)) + 1;
  assert.equal(event!.detail.unreadBytes, unread);
});

test('truncated and regrown past the old offset between two polls: noticed by the fingerprint', async (t) => {
  const { dir, file, writer } = logFixture(t);
  writer.write(100);
  const run = await tailing(t, [file], { pollMs: 1500, watch: false });
  await waitFor(() => run.records().length >= 100);
  truncateSync(file, 0);
  writer.write(200); // larger than before: the size alone would not tell
  await waitFor(() => run.records().length >= 300, 5000, 'the new content');
  assert.deepEqual(delivery(run.records(), 300), { received: 300, duplicates: [], outOfOrder: 0, missing: [] });
  assert.equal(run.events.length, 1);
  assert.equal(run.events[0]!.detail.reason, 'truncated');
});

test('a rotated file the app keeps writing to is left only after it has been idle', async (t) => {
  const { dir, file, writer } = logFixture(t);
  writer.write(10);
  const run = await tailing(t, [file], { rotationIdleMs: 400 });
  await waitFor(() => run.records().length >= 10);
  renameSync(file, `${file}.1`);
  const newFile = new LineWriter(file); // a second writer: lines for the new file, numbered apart
  t.after(() => newFile.close());
  newFile.next = 1_000_000;
  newFile.write(5);
  // The app writes to the old file every 100 ms, for a second, before it reopens.
  for (let i = 0; i < 10; i++) {
    await sleep(100);
    writer.write(1);
  }
  await waitFor(() => run.records().length >= 25, 5000, 'all lines');
  const numbers = run.records().map((r) => Number(/^n=(\d+)/.exec(r.message)![1]));
  assert.deepEqual(numbers.slice(0, 20), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.deepEqual(numbers.slice(20), [1_000_000, 1_000_001, 1_000_002, 1_000_003, 1_000_004]);
});
