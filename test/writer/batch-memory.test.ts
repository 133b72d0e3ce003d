// A batch is held as bytes in reused buffers and reaches COPY in pieces: the pure parts (buffers,
// chunking) and the spool path that hands records over without decoding them.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteBuffer, Scratch } from '../../src/workers/writer/scratch.js';
import { Spool, encodeRecord, type SpoolHeader } from '../../src/workers/writer/spool.js';
import { Writer, copyChunks } from '../../src/workers/writer/writer.js';
import { freePort } from '../../src/db/embedded.js';

function dir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'observ-batch-mem-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function header(seq: number, logs: number): SpoolHeader {
  return { seq, createdAt: new Date(0).toISOString(), files: [{ path: '/var/log/app.log', identity: null, offset: seq * 10 }],
    rows: { metrics: 0, health: 0, logs, events: 0 }, logBytes: 10 };
}

test('a byte buffer appends text as UTF-8, reuses its memory, and gives it back after many much smaller batches', () => {
  const b = new ByteBuffer();
  b.appendText('é\t');
  b.appendText('✓\n');
  assert.equal(b.view().toString('utf8'), 'é\t✓\n');
  b.reset();
  assert.equal(b.length, 0);
  const big = 'x'.repeat(300 * 1024);
  b.appendText(big);
  b.appendText(big);
  assert.equal(b.view().toString('latin1'), big + big);
  const grown = b.capacity;
  assert.ok(grown >= 600 * 1024);
  b.reset();
  b.appendText(big);
  assert.equal(b.capacity, grown, 'a batch of a similar size reuses the buffer');
  b.reset();
  for (let i = 0; i < 15; i++) {
    b.appendText('small');
    b.reset();
  }
  assert.equal(b.capacity, grown, 'small batches between full ones (sealed by the timer) keep the buffer');
  b.appendText(big);
  b.reset();
  for (let i = 0; i < 16; i++) {
    b.appendText('small');
    b.reset();
  }
  assert.equal(b.capacity, 0, 'after 16 batches in a row far below its capacity the buffer is let go');
  b.appendText('again');
  assert.equal(b.view().toString(), 'again');
});

test('a scratch buffer grows to the largest need and shrinks once needs stay well below it', () => {
  const s = new Scratch();
  assert.equal(s.take(10).length, 10);
  const small = s.capacity;
  s.take(1024 * 1024);
  assert.ok(s.capacity >= 1024 * 1024);
  const big = s.capacity;
  s.take(600 * 1024);
  assert.equal(s.capacity, big);
  for (let i = 0; i < 15; i++) s.take(1000);
  assert.equal(s.capacity, big);
  s.take(1000);
  assert.equal(s.capacity, small);
});

test('a batch just over 1 MiB takes under 1.5 MiB in each buffer, not the next power of two', () => {
  // The writer seals at 1 MiB, so a full batch is 1 MiB plus the last message and the frame header.
  const need = 1024 * 1024 + 70 * 1024;
  const s = new Scratch();
  s.take(need);
  assert.ok(s.capacity >= need && s.capacity < 1.5 * 1024 * 1024, `frame buffer ${s.capacity}`);
  const cap = s.capacity;
  s.take(need - 20 * 1024);
  s.take(need + 20 * 1024);
  assert.equal(s.capacity, cap, 'batches a little larger or smaller reuse the buffer');
  const b = new ByteBuffer();
  const piece = 'p'.repeat(10 * 1024 - 1) + '\n';
  let grown = 0;
  let last = 0;
  while (b.length < need) {
    b.appendText(piece);
    if (b.capacity !== last) { grown++; last = b.capacity; }
  }
  assert.ok(b.capacity < 1.5 * 1024 * 1024, `text buffer ${b.capacity}`);
  assert.ok(grown <= 10, `grew ${grown} times while filling`);
  assert.equal(b.view().length, b.length);
  assert.ok(b.view().subarray(0, piece.length).equals(Buffer.from(piece)));
});

test('COPY data is cut into pieces that put the batch back together exactly, text only after a newline', () => {
  const rows = Array.from({ length: 5000 }, (_, i) => `2026-01-01T00:00:00Z\tv\ta\tINFO\tline ${i} ✓ 𝄞 ${'y'.repeat(i % 97)}\n`).join('');
  const fromText = [...copyChunks(rows, 4096)];
  assert.ok(fromText.length > 10);
  assert.ok(fromText.every((c) => c.length <= 4096 * 2 && c[c.length - 1] === 10), 'each text piece ends a row');
  assert.equal(Buffer.concat(fromText).toString('utf8'), rows);
  const bytes = Buffer.from(rows, 'utf8');
  const fromBytes = [...copyChunks(bytes, 4096)];
  assert.ok(fromBytes.every((c) => c.length <= 4096));
  assert.ok(fromBytes.every((c) => c.buffer === bytes.buffer), 'bytes are sliced, not copied');
  assert.deepEqual(Buffer.concat(fromBytes), bytes);
  assert.deepEqual([...copyChunks('')], []);
});

test('the spool stores sections given as text or bytes alike, and peekRaw hands them back as bytes without decoding', (t) => {
  const d = dir(t);
  const { spool } = Spool.open(d, { maxBytes: 64 * 1024 * 1024 });
  t.after(() => spool.close());
  const logs = 'a\tb ✓\n'.repeat(20_000);
  const asBytes = { metrics: '', health: Buffer.from('h\n'), logs: Buffer.from(logs), events: '' };
  const asText = { metrics: '', health: 'h\n', logs, events: '' };
  assert.deepEqual(encodeRecord(header(1, 20_000), asBytes), encodeRecord(header(1, 20_000), asText), 'same bytes on disk');
  assert.equal(spool.append(header(1, 20_000), asBytes).ok, true);
  assert.equal(spool.append(header(2, 1), { metrics: 'm\n', health: '', logs: 'second\n', events: '' }).ok, true);
  const first = spool.peekRaw()!;
  assert.equal(first.header.seq, 1);
  assert.ok(Buffer.isBuffer(first.sections.logs));
  assert.equal(first.sections.logs.toString('utf8'), logs);
  // Appending while a record is handed out must not disturb it (appends use their own buffer).
  assert.equal(spool.append(header(3, 1), { metrics: '', health: '', logs: 'third\n', events: '' }).ok, true);
  assert.equal(spool.peekRaw(), first, 'the same record until it is acknowledged');
  assert.equal(first.sections.logs.toString('utf8'), logs);
  spool.ack();
  assert.deepEqual(spool.peek()!.sections, { metrics: 'm\n', health: '', logs: 'second\n', events: '' });
  spool.ack();
  assert.equal(spool.peek()!.sections.logs, 'third\n');
});

test('a backlog is sealed into batches bounded by maxBatchBytes, with every line once and in order', async (t) => {
  const d = dir(t);
  const deadUrl = `postgresql://nobody:x@127.0.0.1:${await freePort()}/none`;
  const maxBatchBytes = 64 * 1024;
  const w = new Writer({ postgresUrl: deadUrl, vpsName: 'vps-b', app: 'batches', collectionInterval: 60, flushIntervalMs: 60_000,
    spoolDir: d, spoolMaxBytes: 64 * 1024 * 1024, maxBatchBytes, queryTimeoutMs: 1000, retryBaseMs: 10_000, retryMaxMs: 10_000 });
  await w.start();
  let n = 0;
  for (let message = 0; message < 100; message++) {
    const records = Array.from({ length: 50 }, () => ({ timestamp: '2026-01-01T00:00:00.000Z', level: 'INFO', logger: null,
      message: `line ${n++} ${'z'.repeat(100)}`, context: null, exception: null, flags: [], raw: null, sourceFile: '/var/log/app.log' }));
    w.addLogs(records, { path: '/var/log/app.log', identity: null, offset: n * 120 }, records.length * 120);
  }
  await w.close(500);
  const { spool } = Spool.open(d, { maxBytes: 64 * 1024 * 1024 });
  t.after(() => spool.close());
  const seen: number[] = [];
  let batches = 0;
  for (let r = spool.peek(); r; r = spool.peek(), batches++) {
    const bytes = Buffer.byteLength(r.sections.logs);
    // Sealed as soon as the buffer reaches the bound: at most one message (50 lines, ~8 KB) beyond it.
    assert.ok(bytes <= maxBatchBytes + 10 * 1024, `batch of ${bytes} bytes`);
    for (const line of r.sections.logs.split('\n').filter(Boolean)) seen.push(Number(/line (\d+)/.exec(line)![1]));
    spool.ack();
  }
  assert.ok(batches >= 5, `${batches} batches`);
  assert.deepEqual(seen, Array.from({ length: n }, (_, i) => i));
});
