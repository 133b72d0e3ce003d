import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentConfig, delivery, LineWriter, numberedLine, scratchDir, sleep, startTailer, tailing, waitFor } from './harness.js';
import { createTailerWith } from '../../src/workers/tailer/tailer.js';
import { FdHandle } from '../../src/workers/fs-async.js';

function assertCheckpointsOnLineBoundaries(file: string, offsets: number[]): void {
  const content = readFileSync(file);
  for (const offset of offsets) {
    assert.ok(offset === 0 || content[offset - 1] === 0x0a, `offset ${offset} is not just after a newline`);
  }
}

test('reads an existing file from the start in bounded batches with checkpoints at line boundaries', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  writer.write(2500);
  const run = await tailing(t, [file], { maxBatchRecords: 1000, maxBatchBytes: 256 * 1024 });
  await waitFor(() => run.records().length >= 2500, 5000, '2500 lines');
  const d = delivery(run.records(), writer.written);
  assert.deepEqual(d, { received: 2500, duplicates: [], outOfOrder: 0, missing: [] });
  assert.ok(run.batches.every((b) => b.records.length <= 1000 && b.bytes <= 256 * 1024 + 1024));
  assert.ok(run.batches.every((b) => b.records.every((r) => r.sourceFile === file)));
  assert.equal(run.batches.reduce((s, b) => s + b.bytes, 0), statSync(file).size);
  const last = run.lastCheckpoint(file)!;
  assert.equal(last.offset, statSync(file).size);
  assert.equal(last.identity!.ino, statSync(file).ino);
  assert.match(last.identity!.fingerprint, /^[0-9a-f]{40}$/);
  assertCheckpointsOnLineBoundaries(file, run.batches.map((b) => b.checkpoint.offset));
});

test('waits for a missing file (and directory) and picks it up when it appears', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'later', 'app.log');
  const run = await tailing(t, [file]);
  await sleep(200);
  assert.equal(run.records().length, 0);
  mkdirSync(join(dir, 'later'));
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  writer.write(10);
  await waitFor(() => run.records().length >= 10, 3000, 'lines of the new file');
  assert.deepEqual(delivery(run.records(), 10).missing, []);
});

test('a last line without newline waits for its newline', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  writeFileSync(file, 'first line\nsecond li');
  const run = await tailing(t, [file]);
  await waitFor(() => run.records().length >= 1);
  await sleep(200);
  assert.deepEqual(run.records().map((r) => r.message), ['first line']);
  assert.equal(run.lastCheckpoint(file)!.offset, 'first line\n'.length);
  appendFileSync(file, 'ne\n');
  await waitFor(() => run.records().length >= 2);
  assert.deepEqual(run.records().map((r) => r.message), ['first line', 'second line']);
  assert.equal(run.lastCheckpoint(file)!.offset, statSync(file).size);
});

test('a last line without newline is handed over after a long idle, with a correct offset', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  writeFileSync(file, 'complete\nno newline ever');
  const run = await tailing(t, [file], { flushPartialAfterMs: 300 });
  await waitFor(() => run.records().length >= 2, 3000, 'the flushed partial line');
  const partial = run.records()[1]!;
  assert.equal(partial.message, 'no newline ever');
  assert.deepEqual(partial.flags, ['partial_line']);
  assert.equal(run.lastCheckpoint(file)!.offset, statSync(file).size);
  appendFileSync(file, 'next\n');
  await waitFor(() => run.records().length >= 3);
  assert.equal(run.records()[2]!.message, 'next');
});

test('stops reading when the uncommitted window is full and goes on after COMMITTED', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  writer.write(2000); // ~330 KB
  const windowBytes = 32 * 1024;
  const chunkBytes = 8 * 1024;
  const run = await tailing(t, [file], { autoCommit: false, windowBytes, chunkBytes, maxBatchBytes: 16 * 1024 });
  await waitFor(() => run.uncommittedBytes() >= windowBytes, 3000, 'a full window');
  await sleep(200);
  const sentWhileFull = run.uncommittedBytes();
  // One chunk may be in hand when the window fills: the overshoot is bounded by it.
  assert.ok(sentWhileFull < windowBytes + chunkBytes, `sent ${sentWhileFull} bytes with a ${windowBytes}-byte window`);
  assert.ok(run.records().length < 2000);
  for (let i = 0; i < 200 && run.records().length < 2000; i++) {
    run.commitAll();
    await sleep(10);
  }
  assert.deepEqual(delivery(run.records(), 2000).missing, []);
});

test('PAUSE_TAILING stops reading and RESUME_TAILING resumes it', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  writer.write(5);
  const run = await tailing(t, [file]);
  await waitFor(() => run.records().length >= 5);
  run.tailer.handle({ type: 'PAUSE_TAILING', reason: 'spool full' });
  writer.write(5);
  await sleep(300);
  assert.equal(run.records().length, 5);
  run.tailer.handle({ type: 'RESUME_TAILING' });
  await waitFor(() => run.records().length >= 10);
  assert.deepEqual(delivery(run.records(), 10), { received: 10, duplicates: [], outOfOrder: 0, missing: [] });
});

test('a read in flight when PAUSE_TAILING arrives hands over nothing: lines appended meanwhile wait for RESUME_TAILING, once', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  writer.write(5);
  const run = await tailing(t, [file]);
  await waitFor(() => run.records().length >= 5);
  // The race, made certain: the pause and an append land after the tailer has decided to read and
  // before the read runs (as when the read waits in libuv's pool on a busy machine).
  const original = FdHandle.prototype.read;
  const next = statSync(file).size; // where the next line starts (other reads check the file's head)
  let armed = true;
  FdHandle.prototype.read = function (this: FdHandle, ...args: Parameters<FdHandle['read']>) {
    if (armed && args[3] === next) {
      armed = false;
      run.tailer.handle({ type: 'PAUSE_TAILING', reason: 'spool full' });
      writer.write(5);
    }
    return original.apply(this, args);
  };
  t.after(() => { FdHandle.prototype.read = original; });
  writer.write(1); // what makes the tailer read
  await waitFor(() => !armed, 3000, 'the read');
  await sleep(300);
  assert.equal(run.records().length, 5, 'nothing read after the pause is handed over');
  run.tailer.handle({ type: 'RESUME_TAILING' });
  await waitFor(() => run.records().length >= 11);
  await sleep(100);
  assert.deepEqual(delivery(run.records(), 11), { received: 11, duplicates: [], outOfOrder: 0, missing: [] });
});

test('stop() hands over the batch in hand, resolves, and is idempotent; STOP answers STOPPED', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  writer.write(20000);
  const run = await startTailer([file]);
  await waitFor(() => run.records().length > 0);
  const first = run.tailer.stop();
  assert.equal(run.tailer.stop(), first);
  await first;
  const count = run.records().length;
  const checkpoint = run.lastCheckpoint(file)!;
  assert.equal(checkpoint.offset, run.batches.reduce((s, b) => s + b.bytes, 0));
  writer.write(5);
  await sleep(150);
  assert.equal(run.records().length, count);

  const again = await startTailer([file], { checkpoints: [checkpoint] });
  again.tailer.handle({ type: 'STOP' });
  await waitFor(() => again.messages.some((m) => m.type === 'STOPPED'));
  await again.stop();
});

test('restarting from any emitted checkpoint delivers exactly the lines after it', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  const writer = new LineWriter(file);
  t.after(() => writer.close());
  writer.write(1200);
  const first = await startTailer([file], { maxBatchRecords: 100 });
  await waitFor(() => first.records().length >= 1200);
  await first.stop();
  const points = first.batches.filter((b) => b.records.length > 0);
  for (const index of [0, 4, points.length - 2, points.length - 1]) {
    const from = points[index]!;
    const seenBefore = points.slice(0, index + 1).reduce((s, b) => s + b.records.length, 0);
    const again = await startTailer([file], { checkpoints: [from.checkpoint] });
    await waitFor(() => again.records().length >= 1200 - seenBefore, 3000, 'the remainder');
    await sleep(100);
    const numbers = again.records().map((r) => Number(/^n=(\d+)/.exec(r.message)![1]));
    assert.equal(numbers.length, 1200 - seenBefore);
    if (numbers.length) assert.equal(numbers[0], seenBefore + 1);
    await again.stop();
  }
});

test('over-long lines are truncated and the lines after them are intact', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  writeFileSync(file, `${numberedLine(1)}\n${'y'.repeat(300_000)}\n${numberedLine(2)}\n`);
  const run = await tailing(t, [file], { maxLineBytes: 1024, chunkBytes: 16 * 1024 });
  await waitFor(() => run.records().length >= 3);
  const [a, long, b] = run.records();
  assert.match(a!.message, /^n=0000001 /);
  assert.deepEqual(long!.flags, ['truncated']);
  assert.equal(long!.message.length, 1024);
  assert.match(b!.message, /^n=0000002 /);
  assert.equal(run.lastCheckpoint(file)!.offset, statSync(file).size);
});

test('follows several files, each batch holding lines of one file', async (t) => {
  const dir = scratchDir(t);
  const a = join(dir, 'a.log');
  const b = join(dir, 'b.log');
  const wa = new LineWriter(a);
  const wb = new LineWriter(b);
  t.after(() => { wa.close(); wb.close(); });
  wa.write(300);
  wb.write(200);
  const run = await tailing(t, [a, b]);
  await waitFor(() => run.records().length >= 500);
  for (const batch of run.batches) {
    assert.ok(batch.records.every((r) => r.sourceFile === batch.checkpoint.path));
  }
  assert.equal(run.records().filter((r) => r.sourceFile === a).length, 300);
  assert.equal(run.records().filter((r) => r.sourceFile === b).length, 200);
});

test('CRLF files are read line by line without the CR', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'app.log');
  writeFileSync(file, 'one ERROR\r\ntwo\r\n');
  const run = await tailing(t, [file]);
  await waitFor(() => run.records().length >= 2);
  assert.deepEqual(run.records().map((r) => [r.message, r.level]), [['one ERROR', 'ERROR'], ['two', 'INFO']]);
});

test('stop() during start() leaves no file open', async (t) => {
  const dir = scratchDir(t);
  const files = Array.from({ length: 5 }, (_, i) => join(dir, `app${i}.log`));
  for (const f of files) writeFileSync(f, `${numberedLine(1)}\n`);
  const openOnDir = () => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
    } catch {
      return false;
    }
  }).length;
  const ctx = { signal: new AbortController().signal, send: () => undefined };
  const tailer = createTailerWith({ pollMs: 50 })({ config: agentConfig(files), checkpoints: [] }, ctx);
  const starting = tailer.start();
  await tailer.stop();
  await starting;
  assert.equal(openOnDir(), 0);
});
