import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LineFolder, traceHeader } from '../../src/workers/tailer/multiline.js';
import { DEFAULTS } from '../../src/supervisor/config.js';
import type { LogRecord } from '../../src/supervisor/messages.js';

const FIXTURES = new URL('../../../test/fixtures/logs/', import.meta.url);
const READ_AT = new Date('2026-12-06T12:00:00.000Z');

interface Folded {
  record: LogRecord;
  bytes: number;
  /** Where the record starts in the input. */
  offset: number;
}

/** Feeds `input` line by line (as the follower does) and flushes at the end. */
function fold(input: Buffer | string, limits: { maxLines?: number; maxBytes?: number } = {}): Folded[] {
  const buf = typeof input === 'string' ? Buffer.from(input) : input;
  const out: Folded[] = [];
  let emitted = 0;
  const folder = new LineFolder(
    { maxLines: limits.maxLines ?? DEFAULTS.multiline.maxLines, maxBytes: limits.maxBytes ?? DEFAULTS.multiline.maxBytes },
    { sourceFile: '/srv/app/logs/app.log', maxLineBytes: 1024 },
    (record, bytes) => {
      out.push({ record, bytes, offset: emitted });
      emitted += bytes;
    },
  );
  let start = 0;
  for (let nl; (nl = buf.indexOf(0x0a, start)) !== -1; start = nl + 1) {
    folder.add(buf.subarray(start, nl), nl - start + 1, READ_AT, 0);
    // The stored position (emitted bytes) never passes the record in hand: everything read is either
    // handed over or held.
    assert.equal(emitted + folder.pendingBytes, nl + 1);
  }
  folder.flush();
  assert.equal(folder.pendingBytes, 0);
  assert.equal(emitted, buf.length, 'every byte is in exactly one record');
  return out;
}

function fixture(name: string): Buffer {
  return readFileSync(new URL(name, FIXTURES));
}

/** Each plain-text record's message is exactly the file's text it covers (no line lost, reordered or doubled). */
function assertFaithful(input: Buffer, records: Folded[]): void {
  for (const { record, bytes, offset } of records) {
    const text = input.subarray(offset, offset + bytes).toString('utf8');
    if (text.startsWith('{')) assert.equal(text.indexOf('\n'), text.length - 1, 'a JSON line is a record of its own');
    else assert.equal(`${record.message}\n`, text);
  }
}

/** [start of the first line, number of lines, level] of each record. */
function assertShape(records: Folded[], expected: [string, number, string][]): void {
  assert.deepEqual(records.map(({ record }, i) => {
    const lines = record.message.split('\n');
    return [lines[0]!.slice(0, expected[i]?.[0].length ?? 40), lines.length, record.level];
  }), expected);
}

test('Python tracebacks from the real logging module: one record per logged exception, chained ones included', () => {
  const input = fixture('python-logging.log');
  const records = fold(input);
  assertFaithful(input, records);
  assertShape(records, [
    ['2026-12-06 14:40:24,463 WARNING [app.ord', 1, 'WARN'],
    ['2026-12-06 14:40:24,463 ERROR [app.order', 11, 'ERROR'],
    ['2026-12-06 14:40:24,463 ERROR [app.order', 11, 'ERROR'],
  ]);
  const first = records[1]!.record;
  assert.equal(first.timestamp, new Date(2026, 11, 6, 14, 40, 24, 463).toISOString(), 'the first line\'s time');
  assert.match(first.message, /The above exception was the direct cause of the following exception:\n\nTraceback/);
  assert.match(first.message, /\nValueError: bad order$/);
  assert.match(records[2]!.record.message, /During handling of the above exception, another exception occurred:\n\nTraceback[^]*RuntimeError: retry failed$/);
});

test('Python: carets, exception lines without a message, and a traceback after an INFO line is its own ERROR record', () => {
  const input = fixture('python-traceback.log');
  const records = fold(input);
  assertFaithful(input, records);
  assertShape(records, [
    ['2026-12-06 10:15:02,101 INFO [app.main] ', 1, 'INFO'],
    ['2026-12-06 10:15:03,412 ERROR [app.order', 11, 'ERROR'],
    ['2026-12-06 10:15:03,415 INFO [app.orders', 1, 'INFO'],
    ['2026-12-06 10:15:04,002 WARNING [app.cac', 1, 'WARN'],
    ['2026-12-06 10:15:05,230 ERROR [app.sync]', 23, 'ERROR'],
    ['', 1, 'INFO'], // a blank line after a trace stays a record of its own, as without folding
    ['2026-12-06 10:15:06,000 INFO [app.main] ', 1, 'INFO'],
    ['Traceback (most recent call last):', 4, 'ERROR'],
    ['2026-12-06 10:15:07,500 INFO [app.main] ', 1, 'INFO'],
  ]);
  assert.match(records[1]!.record.message, /\n {15}~~~~\^{9}\nKeyError: 'price'$/);
  assert.equal(records[7]!.record.timestamp, READ_AT.toISOString(), 'a line without a time gets the read time');
});

test('JVM traces from the real printStackTrace: Suppressed, Caused by and "... N more" stay in the record', () => {
  const input = fixture('jvm-printstacktrace.log');
  const records = fold(input);
  assertFaithful(input, records);
  assertShape(records, [
    ['2026-12-06 10:20:00.900  INFO 4242 --- [', 1, 'INFO'],
    ['2026-12-06 10:20:01.118 ERROR 4242 --- [', 17, 'ERROR'],
    ['2026-12-06 10:20:01.250  INFO 4242 --- [', 1, 'INFO'],
    ['Exception in thread "main" java.lang.Run', 2, 'ERROR'],
    ['2026-12-06 10:20:02.000  INFO 4242 --- [', 1, 'INFO'],
  ]);
  assert.match(records[1]!.record.message, /\n\tSuppressed: java\.io\.IOException: stream closed\n\t\tat [^\n]+\n\t\t\.\.\. 8 more\nCaused by: java\.sql\.SQLException[^\n]+\n\tat [^\n]+\n\t\.\.\. 9 more$/);
});

test('JVM traces as Spring Boot logs them, with nested Caused by', () => {
  const input = fixture('jvm-trace.log');
  const records = fold(input);
  assertFaithful(input, records);
  assert.deepEqual(records.map((r) => r.record.message.split('\n').length), [1, 16, 1, 1, 3, 1]);
  assert.equal(records[1]!.record.level, 'ERROR');
  assert.equal(records[1]!.record.timestamp, new Date(2026, 11, 6, 10, 20, 1, 118).toISOString());
  assert.equal((records[1]!.record.message.match(/\nCaused by: /g) ?? []).length, 2);
});

test('Node.js: error stacks with inspected properties, and the real uncaught-exception output with its code frame and cause', () => {
  const input = fixture('node-stack.log');
  const records = fold(input);
  assertFaithful(input, records);
  assertShape(records, [
    ['[2026-12-06T10:30:00.000Z] INFO  listenin', 1, 'INFO'],
    ['[2026-12-06T10:30:01.250Z] ERROR request', 8, 'ERROR'],
    ['[2026-12-06T10:30:01.300Z] INFO  GET /ap', 1, 'INFO'],
    ['pino error', 1, 'ERROR'], // a JSON line is never merged…
    ['    at notAContinuationOfJson (/srv/app/', 1, 'INFO'], // …nor continued
    ['/srv/app/src/server.js:88', 10, 'ERROR'],
    ['[2026-12-06T10:30:05.000Z] INFO  restart', 1, 'INFO'],
  ]);
  const uncaught = fixture('node-uncaught.log');
  const real = fold(uncaught);
  assertFaithful(uncaught, real);
  assertShape(real, [
    ['[2026-12-06T10:30:00.000Z] INFO  listenin', 1, 'INFO'],
    ['/srv/app/server.js:1', 23, 'ERROR'],
    ['[2026-12-06T10:30:05.000Z] INFO  restart', 1, 'INFO'],
  ]);
  assert.match(real[1]!.record.message, /\n\s+\^\n\nError: config missing\n[^]*\[cause\]: TypeError: inner[^]*\n}\n\nNode\.js v\d+\.\d+\.\d+$/);
});

test('Go panics: signal line, goroutine sections separated by blank lines, function and file lines; FATAL; not merged into the line before', () => {
  const input = fixture('go-panic.log');
  const records = fold(input);
  assertFaithful(input, records);
  assertShape(records, [
    ['2026/12/06 10:40:00 INFO server started ', 1, 'INFO'],
    ['2026/12/06 10:40:01 WARN slow request pa', 1, 'WARN'],
    ['panic: runtime error: invalid memory add', 17, 'FATAL'],
    ['2026/12/06 10:40:05 INFO server started ', 1, 'INFO'],
  ]);
  assert.match(records[2]!.record.message, /\n\ngoroutine 34 \[running\]:\nmain\.\(\*Exporter\)\.Write[^]*\n\ngoroutine 1 \[IO wait\]:[^]*\nexit status 2$/);
});

test('Ruby: `file:line:in` backtraces after a logged error (Rails gem frames included) and `from` lines of an uncaught exception', () => {
  const input = fixture('ruby-backtrace.log');
  const records = fold(input);
  assertFaithful(input, records);
  assertShape(records, [
    ['I, [2026-12-06T10:50:00.000123 #901]  IN', 1, 'INFO'],
    ['E, [2026-12-06T10:50:00.052001 #901] ERR', 4, 'ERROR'],
    ['I, [2026-12-06T10:50:00.060000 #901]  IN', 1, 'INFO'],
    ["/srv/app/bin/import.rb:21:in 'Integer#/'", 3, 'ERROR'],
    ['I, [2026-12-06T10:50:01.000000 #902]  IN', 1, 'INFO'],
  ]);
});

test('plain lines without traces stay one record each', () => {
  const input = fixture('plain.log');
  const records = fold(input);
  assertFaithful(input, records);
  assert.equal(records.length, input.toString().split('\n').length - 1);
});

test('JSON lines are never merged: they end the record in hand, and indented lines after them are not theirs', () => {
  const input = [
    '2026-12-06 10:00:00 ERROR failed',
    'java.lang.IllegalStateException: boom',
    '\tat A.b(A.java:1)',
    '{"level":"error","msg":"json in the middle"}',
    '\tat A.c(A.java:2)',
    '  {"level":"info","msg":"indented json"}',
    '\tat A.d(A.java:3)',
    '',
  ].join('\n');
  const records = fold(input);
  assert.deepEqual(records.map((r) => r.record.message), [
    '2026-12-06 10:00:00 ERROR failed\njava.lang.IllegalStateException: boom\n\tat A.b(A.java:1)',
    'json in the middle',
    '\tat A.c(A.java:2)',
    'indented json',
    '\tat A.d(A.java:3)',
  ]);
});

test('a trace header is merged only into a line of level WARN or above, and runtime-written traces never are', () => {
  const lines = (first: string, second: string) => fold(`${first}\n${second}\n\tat x(X.java:1)\n`).map((r) => r.record.message.split('\n').length);
  assert.deepEqual(lines('INFO all good', 'java.lang.RuntimeException: x'), [1, 2]);
  assert.deepEqual(lines('WARN retrying', 'java.lang.RuntimeException: x'), [3]);
  assert.deepEqual(lines('ERROR failed', 'Exception in thread "main" java.lang.RuntimeException: x'), [1, 2]);
  assert.deepEqual(lines('ERROR failed', 'panic: boom'), [1, 2]);
  assert.deepEqual(lines('ERROR failed', 'just another line'), [1, 2]);
  // Merged once only: a second header after a folded trace starts a new record.
  assert.deepEqual(fold('ERROR a\nValueError: x\nTypeError: y\n').map((r) => r.record.message), ['ERROR a\nValueError: x', 'TypeError: y']);
});

test('indented lines continue any line, unless they are padded log lines of their own (%5p layouts)', () => {
  const records = fold([
    'ERROR [main] - query failed:',
    '    SELECT *',
    '      FROM orders',
    ' INFO [main] - padded level, a line of its own',
    '  2026-12-06 10:00:00 indented date, a line of its own',
    'DEBUG [main] - next',
    '',
  ].join('\n'));
  assert.deepEqual(records.map((r) => r.record.message.split('\n').length), [3, 1, 1, 1]);
  assert.equal(records[1]!.record.level, 'INFO');
});

test('blank lines are held only where a trace may go on after them, at most two, and otherwise stay records', () => {
  assert.deepEqual(fold('INFO a\n\n\tindented\n').map((r) => r.record.message), ['INFO a', '', '\tindented']);
  assert.deepEqual(fold('panic: x\n\n\n\ngoroutine 1 [running]:\n').map((r) => r.record.message), ['panic: x', '', '', '', 'goroutine 1 [running]:']);
  assert.deepEqual(fold('panic: x\n\n\ngoroutine 1 [running]:\n').map((r) => r.record.message), ['panic: x\n\n\ngoroutine 1 [running]:']);
  assert.deepEqual(fold('\n\nINFO a\n').map((r) => r.record.message), ['', '', 'INFO a']);
});

test('a level-less record that is a trace gets ERROR (FATAL for Go); a lone exception-like line keeps the parser\'s level', () => {
  assert.deepEqual(fold('ValueError: x\n').map((r) => r.record.level), ['INFO']);
  assert.deepEqual(fold('Error: boom\n    at f (/a.js:1:1)\n').map((r) => r.record.level), ['ERROR']);
  assert.deepEqual(fold('fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\n').map((r) => r.record.level), ['FATAL']);
  assert.deepEqual(fold('2026-12-06 10:00:00 WARN x\n  detail\n').map((r) => r.record.level), ['WARN']);
});

test('max_lines and max_bytes split a long trace into continued records: same time and level, nothing lost', () => {
  const frames = Array.from({ length: 25 }, (_, i) => `\tat com.example.Deep.call${i}(Deep.java:${i + 1})`);
  const input = Buffer.from(['2026-12-06 10:00:00,000 ERROR deep recursion', 'java.lang.StackOverflowError', ...frames, 'INFO after', ''].join('\n'));
  for (const limits of [{ maxLines: 10 }, { maxBytes: 400 }]) {
    const records = fold(input, limits);
    const trace = records.slice(0, -1);
    assert.ok(trace.length >= 3, `${JSON.stringify(limits)}: split into ${trace.length}`);
    assert.deepEqual(trace[0]!.record.flags, ['multiline_split']);
    assert.deepEqual(trace.at(-1)!.record.flags, ['multiline_continued']);
    for (const { record, bytes } of trace) {
      assert.equal(record.level, 'ERROR');
      assert.equal(record.timestamp, trace[0]!.record.timestamp);
      if (limits.maxLines) assert.ok(record.message.split('\n').length <= 10);
      else assert.ok(bytes <= 400);
    }
    assert.equal(trace.map((r) => r.record.message).join('\n'), input.toString().split('\n').slice(0, 27).join('\n'));
    assert.equal(records.at(-1)!.record.message, 'INFO after');
  }
});

test('a continuation line with bad bytes keeps its flags on the record, and a cut line keeps the whole text in raw', () => {
  const input = Buffer.concat([
    Buffer.from('ERROR x\nValueError: y\n  bad \xff byte\n', 'latin1'),
    Buffer.from(`  ${'z'.repeat(2000)}\n`),
  ]);
  const [record] = fold(input).map((r) => r.record);
  assert.deepEqual(record!.flags, ['invalid_utf8', 'truncated']);
  assert.match(record!.message, /\n {2}bad \uFFFD byte\n {2}z{1022}$/);
  assert.equal(record!.raw, record!.message);
});

test('pendingSince, flush and discard: the follower\'s handles on the record in hand', () => {
  const out: string[] = [];
  const folder = new LineFolder({ maxLines: 100, maxBytes: 10_000 }, { sourceFile: 'f', maxLineBytes: 1024 }, (r) => out.push(r.message));
  assert.equal(folder.pendingSince, null);
  folder.add(Buffer.from('ERROR a'), 8, READ_AT, 1000);
  folder.add(Buffer.from('  b'), 4, READ_AT, 1500);
  assert.equal(folder.pendingSince, 1500);
  assert.equal(folder.pendingBytes, 12);
  folder.discard();
  assert.equal(folder.pendingBytes, 0);
  assert.equal(folder.pendingSince, null);
  folder.add(Buffer.from('ERROR c'), 8, READ_AT, 2000);
  folder.add(Buffer.from('  d'), 4, READ_AT, 2000);
  folder.flush();
  folder.flush();
  assert.deepEqual(out, ['ERROR c\n  d']);
});

test('traceHeader knows each language\'s first line', () => {
  assert.equal(traceHeader('Traceback (most recent call last):'), 'python');
  assert.equal(traceHeader('panic: boom'), 'go');
  assert.equal(traceHeader('goroutine 7 [select]:'), 'go');
  assert.equal(traceHeader('java.lang.NullPointerException'), 'stack');
  assert.equal(traceHeader('TypeError [ERR_INVALID_ARG_TYPE]: The "path" argument must be of type string'), 'stack');
  assert.equal(traceHeader("app.rb:3:in `divide': divided by 0 (ZeroDivisionError)"), 'stack');
  assert.equal(traceHeader('/srv/app/server.js:10'), 'node_source');
  assert.equal(traceHeader('Errors: 3 of 10 jobs failed'), null);
  assert.equal(traceHeader('INFO java.lang.String loaded'), null);
});
