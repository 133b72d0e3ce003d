import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, renameSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { delivery, expectLines, hasLogrotate, LineWriter, logFixture, logrotate, numberOf, sleep, startTailer, tailing, tempDir, waitFor } from './harness.js';
import type { FileCheckpoint } from '../../src/supervisor/messages.js';

const haveLogrotate = await hasLogrotate();
const needsLogrotate = haveLogrotate ? {} : { skip: 'the logrotate binary is not installed (apt-get install logrotate)' };

/** Runs a first tailer until `count` lines are in, stops it, returns its last checkpoint. */
async function readThenStop(file: string, count: number): Promise<FileCheckpoint> {
  const run = await startTailer([file]);
  await waitFor(() => run.records().length >= count, 3000, `${count} lines`);
  await run.stop();
  assert.equal(run.records().length, count);
  return run.lastCheckpoint(file)!;
}

test('rotation while stopped: the old file\'s unread tail comes first, then the new file from 0, even when the new file is larger than the offset', needsLogrotate, async (t) => {
  const { dir, file, writer } = logFixture(t);
  writer.write(100);
  const checkpoint = await readThenStop(file, 100);
  writer.write(50); // 101..150: the old file's unread tail
  await logrotate(dir, file, ['rotate 5', 'create', 'nocompress']);
  writer.reopen();
  writer.write(300); // 151..450: the new file is already larger than the stored offset
  assert.ok(statSync(file).size > checkpoint.offset);
  const run = await tailing(t, [file], { checkpoints: [checkpoint] });
  await expectLines(run, 101, 350, 'the remaining 350 lines');
  assert.equal(run.events.length, 0);
});

test('two rotations while stopped, dateext names: found by identity among the siblings, middle file included', needsLogrotate, async (t) => {
  const { dir, file, writer } = logFixture(t);
  writer.write(100);
  const checkpoint = await readThenStop(file, 100);
  const directives = ['rotate 5', 'create', 'nocompress', 'dateext', 'dateformat -%Y%m%d-%s'];
  writer.write(20);
  await logrotate(dir, file, directives);
  writer.reopen();
  writer.write(30);
  await sleep(1100); // dateformat %s: the second rotation needs another second for its own name
  await logrotate(dir, file, directives);
  writer.reopen();
  writer.write(40);
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('app.log-')).length, 2);
  const run = await tailing(t, [file], { checkpoints: [checkpoint] });
  await expectLines(run, 101, 90, 'the remaining 90 lines');
});

test('copytruncate while stopped: the unread tail is read from the copy, then the file from 0, and it is reported', needsLogrotate, async (t) => {
  const { dir, file, writer } = logFixture(t);
  writer.write(100);
  const checkpoint = await readThenStop(file, 100);
  writer.write(50);
  await logrotate(dir, file, ['rotate 5', 'copytruncate', 'nocompress']);
  writer.write(200);
  const run = await tailing(t, [file], { checkpoints: [checkpoint] });
  await expectLines(run, 101, 250, 'the remaining 250 lines');
  assert.equal(run.events.length, 1);
  assert.equal(run.events[0]!.detail.reason, 'truncated_while_stopped');
  assert.equal(run.events[0]!.detail.recoveredFrom, `${file}.1`);
});

test('the checkpointed file is gone (compressed at rotation): reported, the new file read from 0, .gz skipped', needsLogrotate, async (t) => {
  const { dir, file, writer } = logFixture(t);
  writer.write(100);
  const checkpoint = await readThenStop(file, 100);
  writer.write(50); // lost: only in app.log.1.gz
  await logrotate(dir, file, ['rotate 5', 'create', 'compress']);
  assert.ok(readdirSync(dir).includes('app.log.1.gz'));
  writer.reopen();
  writer.write(10);
  const run = await tailing(t, [file], { checkpoints: [checkpoint] });
  await expectLines(run, 151, 10, 'the new file', 150);
  assert.equal(run.events.length, 1);
  assert.equal(run.events[0]!.kind, 'lines_possibly_lost');
  assert.equal(run.events[0]!.detail.reason, 'checkpointed_file_not_found');
});

test('same inode with other content (inode reuse) is not mistaken for the checkpointed file', async (t) => {
  const { dir, file, writer } = logFixture(t);
  writer.write(100);
  const checkpoint = await readThenStop(file, 100);
  // Same device and inode, other first bytes, and longer than the stored offset.
  truncateSync(file, 0);
  writer.next = 5000;
  writer.write(200);
  assert.equal(statSync(file).ino, checkpoint.identity!.ino);
  const run = await tailing(t, [file], { checkpoints: [checkpoint] });
  await expectLines(run, 5000, 200, 'the new content', 100, 'read from 0, no garbled line');
  assert.equal(run.events[0]!.detail.reason, 'truncated_while_stopped');
});

test('a deleted and re-created file is read from 0 even if its inode number is reused', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = join(dir, 'app.log');
  let writer = new LineWriter(file);
  writer.write(100);
  const checkpoint = await readThenStop(file, 100);
  writer.close();
  unlinkSync(file);
  writer = new LineWriter(file); // the filesystem may well hand out the same inode number
  t.after(() => writer.close());
  writer.next = 7000;
  writer.write(150);
  t.diagnostic(`inode reused: ${statSync(file).ino === checkpoint.identity!.ino}`);
  const run = await tailing(t, [file], { checkpoints: [checkpoint] });
  await expectLines(run, 7000, 150, 'the new file');
  assert.equal(run.events.length, 1);
});

test('restarting from any checkpoint emitted across rotations delivers exactly the lines after it', async (t) => {
  const { dir, file, writer } = logFixture(t);
  const first = await startTailer([file], { maxBatchRecords: 40 });
  // Three generations of the file: app.log.2, app.log.1, app.log (renames by hand).
  writer.write(100);
  await waitFor(() => first.records().length >= 100);
  renameSync(`${file}`, `${file}.1`);
  writer.write(20); // still to the renamed file
  writer.reopen();
  writer.write(100);
  await waitFor(() => first.records().length >= 220, 3000, 'second generation');
  renameSync(`${file}.1`, `${file}.2`);
  renameSync(file, `${file}.1`);
  writer.reopen();
  writer.write(100);
  await waitFor(() => first.records().length >= 320, 3000, 'third generation');
  await first.stop();
  assert.deepEqual(delivery(first.records(), 320), { received: 320, duplicates: [], outOfOrder: 0, missing: [] });

  let seen = 0;
  const points: { checkpoint: FileCheckpoint; seenBefore: number }[] = [];
  for (const b of first.batches) {
    seen += b.records.length;
    points.push({ checkpoint: b.checkpoint, seenBefore: seen });
  }
  assert.ok(points.some((p) => p.checkpoint.identity?.ino === statSync(`${file}.2`).ino));
  for (const { checkpoint, seenBefore } of points) {
    const again = await startTailer([file], { checkpoints: [checkpoint] });
    await waitFor(() => again.records().length >= 320 - seenBefore, 3000, `remainder after ${seenBefore}`).catch((e) => {
      t.diagnostic([JSON.stringify(checkpoint), again.records().map(numberOf).join(','), JSON.stringify(again.messages.filter((m) => m.type !== 'LOGS'))].join(' '));
      throw e;
    });
    await sleep(60);
    await again.stop();
    const numbers = again.records().map(numberOf);
    assert.deepEqual(numbers, Array.from({ length: 320 - seenBefore }, (_, i) => seenBefore + 1 + i), `restart after line ${seenBefore}`);
    assert.equal(again.events.length, 0);
  }
});
