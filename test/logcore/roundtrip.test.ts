// Lines written by both logcore libraries, read back by the agent's parser: everything an
// application logged must come back as it went in.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { getLogger, type LevelName, type SerializedError } from '../../src/logcore/index.js';
import { parseLogLine } from '../../src/workers/tailer/parse.js';
import type { LogRecord } from '../../src/supervisor/messages.js';
import { TWIN_CASES, expectedText } from '../fixtures/logcore/cases.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pythonApp = path.join(root, 'test', 'fixtures', 'logcore', 'python_app.py');
const PYTHON_TIMESTAMP = '2026-02-08T20:30:00.123Z';
const MAX_LINE_BYTES = 1024 * 1024;

function tempLog(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logcore-roundtrip-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'app.log');
}

/** Splits the file into lines as the tailer does (on \n, which never occurs inside a logcore line). */
function readRecords(file: string): LogRecord[] {
  const content = fs.readFileSync(file);
  const records: LogRecord[] = [];
  let start = 0;
  for (let end = content.indexOf(0x0a); end !== -1; end = content.indexOf(0x0a, start)) {
    records.push(parseLogLine(content.subarray(start, end), { readAt: new Date(), sourceFile: file, maxLineBytes: MAX_LINE_BYTES }));
    start = end + 1;
  }
  assert.equal(start, content.length, 'the file ends with a complete line');
  return records;
}

function runPython(mode: string, logFile: string, stdin = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-B', pythonApp, mode, logFile], {
      env: { ...process.env, PYTHONPATH: path.join(root, 'clients', 'python') },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`python3 ${mode} exited with ${code}: ${stderr}`));
    });
    child.stdin.end(stdin);
  });
}

function deepWellFormed(value: unknown): unknown {
  if (typeof value === 'string') return expectedText(value);
  if (Array.isArray(value)) return value.map(deepWellFormed);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [expectedText(key), deepWellFormed(item)]));
  }
  return value;
}

function assertCleanRecord(record: LogRecord, file: string): void {
  assert.deepEqual(record.flags, [], 'a logcore line is never flagged');
  assert.equal(record.raw, null);
  assert.equal(record.sourceFile, file);
}

function assertCasesRecovered(records: LogRecord[], logger: string, file: string, timestampIn: (timestamp: string) => void): void {
  assert.equal(records.length, TWIN_CASES.length);
  records.forEach((record, index) => {
    const [level, message, context] = TWIN_CASES[index]!;
    assertCleanRecord(record, file);
    timestampIn(record.timestamp);
    assert.equal(record.level, level);
    assert.equal(record.logger, logger);
    assert.equal(record.message, expectedText(message));
    assert.deepEqual(record.context, deepWellFormed(context));
    assert.equal(record.exception, null);
  });
}

function expectedException(thrown: Error): SerializedError {
  const expected: SerializedError = { type: thrown.name, message: expectedText(thrown.message), stack: expectedText(thrown.stack!) };
  if (thrown.cause instanceof Error) expected.cause = expectedException(thrown.cause);
  if (thrown instanceof AggregateError) expected.errors = (thrown.errors as Error[]).map(expectedException);
  return expected;
}

test('the parser recovers every field of every level and hostile string the Node library writes', async (t) => {
  const file = tempLog(t);
  const logger = getLogger('node_app', { logFile: file, level: 'trace' });
  const before = new Date();
  for (const [level, message, context] of TWIN_CASES) logger[level.toLowerCase() as LevelName](message, { context });
  const after = new Date();
  await logger.close();
  assertCasesRecovered(readRecords(file), 'node_app', file, (timestamp) => {
    assert.match(timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const written = Date.parse(timestamp);
    assert.ok(written >= before.getTime() && written <= after.getTime(), `${timestamp} within the logging window`);
  });
});

test('the parser recovers every field of every level and hostile string the Python library writes', async (t) => {
  const file = tempLog(t);
  await runPython('same', file, JSON.stringify(TWIN_CASES));
  assertCasesRecovered(readRecords(file), 'twin', file, (timestamp) => assert.equal(timestamp, PYTHON_TIMESTAMP));
});

test('the parser recovers Node exceptions with their cause chains and aggregate members', async (t) => {
  const file = tempLog(t);
  const logger = getLogger('node_errors', { logFile: file });
  const root = new TypeError('quote " backslash \\ </script> \u202E 😀 \uD800');
  const middle = new RangeError('line one\nline two', { cause: root });
  const top = new Error('Ünïcödé failure', { cause: middle });
  const aggregate = new AggregateError([new Error('first'), new SyntaxError('second', { cause: new Error('deeper') })], 'several');
  logger.error('three deep', { err: top, context: { order_id: 456 } });
  logger.fatal('aggregate', { err: aggregate });
  await logger.close();
  const [first, second] = readRecords(file);
  assertCleanRecord(first!, file);
  assert.equal(first!.level, 'ERROR');
  assert.equal(first!.message, 'three deep');
  assert.deepEqual(first!.context, { order_id: 456 });
  assert.deepEqual(first!.exception, expectedException(top));
  assert.equal(second!.level, 'FATAL');
  assert.deepEqual(second!.context, {});
  assert.deepEqual(second!.exception, expectedException(aggregate));
});

test('the parser recovers Python exceptions with their __cause__ and __context__ chain', async (t) => {
  const file = tempLog(t);
  await runPython('errors', file);
  const [record] = readRecords(file);
  assertCleanRecord(record!, file);
  assert.equal(record!.timestamp, PYTHON_TIMESTAMP);
  assert.equal(record!.level, 'ERROR');
  assert.equal(record!.logger, 'errors');
  assert.equal(record!.message, 'three deep');
  assert.deepEqual(record!.context, { order_id: 456 });
  const top = record!.exception as unknown as SerializedError;
  assert.equal(top.type, 'ValueError');
  assert.equal(top.message, 'Ünïcödé \uFFFD failure');
  assert.match(top.stack!, /\nValueError: Ünïcödé \uFFFD failure$/);
  const middle = top.cause!;
  assert.equal(middle.type, 'ConnectionError');
  assert.equal(middle.message, 'line one\nline two');
  assert.match(middle.stack!, /\nConnectionError: line one\nline two$/);
  const bottom = middle.cause!;
  assert.equal(bottom.type, 'LookupError');
  assert.equal(bottom.message, 'quote " backslash \\ </script> \u202E 😀');
  assert.equal(bottom.cause, undefined);
});
