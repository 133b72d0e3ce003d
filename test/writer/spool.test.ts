import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, readdirSync, statSync, symlinkSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Spool, listSegments, type SpoolHeader, type SpoolSections } from '../../src/workers/writer/spool.js';

function dir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'observ-spool-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function header(seq: number, offset = seq * 100): SpoolHeader {
  return { seq, createdAt: new Date(0).toISOString(), files: [{ path: '/var/log/app.log', identity: null, offset }],
    rows: { metrics: 0, health: 0, logs: 1, events: 0 }, logBytes: 100 };
}

function sections(seq: number, size = 50): SpoolSections {
  return { metrics: '', health: '', logs: `line ${seq} ${'x'.repeat(size)} ✓ \\t\n`, events: '' };
}

function drainAll(spool: Spool): number[] {
  const seqs: number[] = [];
  for (let r = spool.peek(); r; r = spool.peek()) { seqs.push(r.header.seq); spool.ack(); }
  return seqs;
}

test('appended batches are read back in order, byte-exact, and survive reopening', (t) => {
  const d = dir(t);
  const { spool } = Spool.open(d, { maxBytes: 1 << 20 });
  for (let seq = 1; seq <= 5; seq++) assert.equal(spool.append(header(seq), sections(seq)).ok, true);
  spool.close();
  const { spool: again, recovery } = Spool.open(d, { maxBytes: 1 << 20 });
  t.after(() => again.close());
  assert.equal(recovery.records, 5);
  assert.deepEqual(recovery.corrupt, []);
  assert.deepEqual(recovery.newest, { seq: 5, files: header(5).files });
  const first = again.peek()!;
  assert.deepEqual(first.header, header(1));
  assert.deepEqual(first.sections, sections(1));
  assert.deepEqual(drainAll(again), [1, 2, 3, 4, 5]);
});

test('acknowledged segments are deleted, except the newest, which keeps the newest checkpoint', (t) => {
  const d = dir(t);
  const { spool } = Spool.open(d, { maxBytes: 1 << 20, segmentBytes: 300 });
  t.after(() => spool.close());
  for (let seq = 1; seq <= 10; seq++) spool.append(header(seq), sections(seq));
  assert.ok(listSegments(d).length >= 5);
  drainAll(spool);
  assert.equal(listSegments(d).length, 1);
  assert.equal(spool.pendingRecords, 0);
  assert.equal(spool.newest!.seq, 10);
  const { spool: again, recovery } = Spool.open(join(d), { maxBytes: 1 << 20 });
  again.close();
  assert.equal(recovery.newest!.seq, 10, 'a restart still knows the newest position');
});

test('skipCommitted acknowledges only the batches at or below the committed seq', (t) => {
  const { spool } = Spool.open(dir(t), { maxBytes: 1 << 20 });
  t.after(() => spool.close());
  for (let seq = 1; seq <= 6; seq++) spool.append(header(seq), sections(seq));
  assert.equal(spool.skipCommitted(4), 4);
  assert.deepEqual(drainAll(spool), [5, 6]);
});

test('a torn tail is set aside, counted and truncated, and appending continues after it', (t) => {
  const d = dir(t);
  const { spool } = Spool.open(d, { maxBytes: 1 << 20 });
  for (let seq = 1; seq <= 3; seq++) spool.append(header(seq), sections(seq));
  spool.close();
  const [seg] = listSegments(d);
  const size = statSync(seg!).size;
  truncateSync(seg!, size - 5);
  const { spool: again, recovery } = Spool.open(d, { maxBytes: 1 << 20 });
  t.after(() => again.close());
  assert.equal(recovery.records, 2);
  assert.equal(recovery.corrupt.length, 1);
  assert.match(recovery.corrupt[0]!.reason, /torn/);
  assert.equal(recovery.corrupt[0]!.bytes, size - 5 - statSync(seg!).size);
  assert.equal(readdirSync(join(d, 'corrupt')).length, 1);
  assert.equal(recovery.newest!.seq, 2);
  assert.equal(again.append(header(7), sections(7)).ok, true);
  assert.deepEqual(drainAll(again), [1, 2, 7]);
});

test('a flipped byte in the middle fails the checksum: that record and the rest of its segment are set aside', (t) => {
  const d = dir(t);
  const { spool } = Spool.open(d, { maxBytes: 1 << 20 });
  for (let seq = 1; seq <= 4; seq++) spool.append(header(seq), sections(seq));
  spool.close();
  const [seg] = listSegments(d);
  const bytes = readFileSync(seg!);
  const second = bytes.indexOf('line 2 ');
  const fd = openSync(seg!, 'r+');
  writeSync(fd, Buffer.from([bytes[second + 3]! ^ 0x20]), 0, 1, second + 3);
  closeSync(fd);
  const { spool: again, recovery } = Spool.open(d, { maxBytes: 1 << 20 });
  t.after(() => again.close());
  assert.equal(recovery.corrupt[0]!.reason, 'checksum mismatch');
  assert.deepEqual(drainAll(again), [1]);
});

test('a segment with a bad header is set aside whole; garbage files are ignored', (t) => {
  const d = dir(t);
  writeFileSync(join(d, '00000000000000000001.seg'), 'not a spool segment at all');
  writeFileSync(join(d, 'README'), 'ignored');
  const { spool, recovery } = Spool.open(d, { maxBytes: 1 << 20 });
  t.after(() => spool.close());
  assert.equal(recovery.corrupt.length, 1);
  assert.equal(recovery.corrupt[0]!.reason, 'bad segment header');
  assert.equal(listSegments(d).length, 0);
  assert.equal(spool.append(header(2), sections(2)).ok, true);
});

test('a full spool refuses appends without changing, and accepts again once batches are acknowledged', (t) => {
  const d = dir(t);
  const { spool } = Spool.open(d, { maxBytes: 4096, segmentBytes: 1024 });
  t.after(() => spool.close());
  let seq = 1;
  while (spool.append(header(seq), sections(seq, 200)).ok) seq++;
  const refused = spool.append(header(seq), sections(seq, 200));
  assert.deepEqual(refused, { ok: false, reason: 'full' });
  assert.ok(spool.bytes <= 4096, `${spool.bytes} bytes`);
  const onDisk = listSegments(d).reduce((n, f) => n + statSync(f).size, 0);
  assert.equal(onDisk, spool.bytes);
  drainAll(spool);
  assert.equal(spool.append(header(seq), sections(seq, 200)).ok, true);
});

test('one batch larger than the whole spool is still accepted when nothing else is pending', (t) => {
  const { spool } = Spool.open(dir(t), { maxBytes: 1024 });
  t.after(() => spool.close());
  assert.equal(spool.append(header(1), sections(1, 5000)).ok, true);
  assert.equal(spool.append(header(2), sections(2, 10)).ok, false);
});

test('ENOSPC while appending is reported as full and leaves no partial record behind', (t) => {
  const d = dir(t);
  const { spool } = Spool.open(d, { maxBytes: 1 << 20 });
  t.after(() => spool.close());
  // The segment that seq 1 would create is a link to /dev/full: every write fails with ENOSPC.
  symlinkSync('/dev/full', join(d, '00000000000000000001.seg'));
  const r = spool.append(header(1), sections(1));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'full');
  assert.equal(spool.pendingRecords, 0);
  assert.equal(spool.append(header(2), sections(2)).ok, true);
  assert.deepEqual(drainAll(spool), [2]);
});

test('the highest reserved seq is persisted, so seqs stay monotonic after the spool is emptied', (t) => {
  const d = dir(t);
  const { spool } = Spool.open(d, { maxBytes: 1 << 20 });
  spool.append(header(41), sections(41));
  spool.close();
  const { spool: again, recovery } = Spool.open(d, { maxBytes: 1 << 20 });
  again.close();
  assert.ok(recovery.reservedSeq >= 41);
  assert.equal(Number(readFileSync(join(d, 'seq'), 'utf8')), recovery.reservedSeq);
});

test('an append with a seq not above the newest is refused', (t) => {
  const { spool } = Spool.open(dir(t), { maxBytes: 1 << 20 });
  t.after(() => spool.close());
  assert.equal(spool.append(header(5), sections(5)).ok, true);
  assert.equal(spool.append(header(5), sections(5)).ok, false);
});
