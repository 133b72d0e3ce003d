import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { getLogger, type Logger, type LoggerOptions } from '../../src/logcore/index.js';

const TIMESTAMP = /^\{"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",/;

function openLogger(
  t: TestContext,
  name: string,
  options: Omit<LoggerOptions, 'logFile'> = {},
): { logger: Logger; logFile: string; read: () => Promise<string[]> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logcore-format-'));
  const logFile = path.join(dir, 'app.log');
  const logger = getLogger(name, { ...options, logFile });
  t.after(async () => {
    await logger.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    logger,
    logFile,
    read: async () => {
      await logger.flush();
      const lines = fs.readFileSync(logFile, 'utf8').split('\n');
      assert.equal(lines.pop(), '', 'every line ends with a newline');
      return lines;
    },
  };
}

// The line without its timestamp, which is the one part a test cannot predict.
function body(line: string): string {
  assert.match(line, TIMESTAMP);
  return '{' + line.slice('{"timestamp":"2026-02-08T20:30:00.123Z",'.length);
}

test('writes the spec line: timestamp, level, logger, message, context in that order', async (t) => {
  const { logger, read } = openLogger(t, 'my_app');
  logger.info('User action', { context: { user_id: 123 } });
  const [line] = await read();
  assert.equal(body(line!), '{"level":"INFO","logger":"my_app","message":"User action","context":{"user_id":123}}');
});

test('writes a timestamp in UTC with milliseconds taken at the call', async (t) => {
  const { logger, read } = openLogger(t, 'clock');
  const before = Date.now();
  logger.info('tick');
  const after = Date.now();
  const [line] = await read();
  const written = Date.parse((JSON.parse(line!) as { timestamp: string }).timestamp);
  assert.ok(written >= before && written <= after, `${written} within [${before}, ${after}]`);
});

test('names every level in uppercase, WARN and FATAL included', async (t) => {
  const { logger, read } = openLogger(t, 'levels', { level: 'trace' });
  logger.trace('t');
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error('e');
  logger.fatal('f');
  const levels = (await read()).map((line) => (JSON.parse(line) as { level: string }).level);
  assert.deepEqual(levels, ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']);
});

test('writes an empty context as {} so every line has the same keys', async (t) => {
  const { logger, read } = openLogger(t, 'empty');
  logger.info('no context');
  logger.info('undefined context', { context: undefined });
  const lines = await read();
  assert.equal(body(lines[0]!), '{"level":"INFO","logger":"empty","message":"no context","context":{}}');
  assert.equal(body(lines[1]!), '{"level":"INFO","logger":"empty","message":"undefined context","context":{}}');
});

test('leaves out lines below the level, which defaults to info', async (t) => {
  const { logger, read } = openLogger(t, 'filter');
  logger.trace('no');
  logger.debug('no');
  logger.info('yes');
  assert.equal(logger.level, 'info');
  assert.equal(logger.isLevelEnabled('debug'), false);
  assert.deepEqual((await read()).map((line) => (JSON.parse(line) as { message: string }).message), ['yes']);
});

test('accepts Python level names and rejects unknown ones naming the option', async (t) => {
  const { logger, read } = openLogger(t, 'python_names', { level: 'WARNING' });
  logger.info('no');
  logger.warn('yes');
  assert.equal((await read()).length, 1);
  assert.throws(() => getLogger('bad', { level: 'loud' as never }), /options\.level must be one of trace, debug, info, warn, error, fatal/);
  assert.throws(() => getLogger('bad', { redact: 'password' as never }), /options\.redact must be an array/);
  assert.throws(() => getLogger('bad', { redact: ['user.password'] }), /options\.redact\[0\] must be a key name or a path starting with "context\."/);
  assert.throws(() => getLogger('bad', { context: [] as never }), /options\.context must be a plain object/);
  assert.throws(() => getLogger(''), /name must be a non-empty string/);
});

test('writes an error under exception after context, with its cause chain and code', async (t) => {
  const { logger, read } = openLogger(t, 'payments');
  const root = new TypeError('socket closed');
  const failure = Object.assign(new Error('Payment failed upstream', { cause: root }), { code: 'E_UPSTREAM' });
  logger.error('Payment failed', { err: failure, context: { order_id: 456 } });
  const [line] = await read();
  const stack = failure.stack!;
  const rootStack = root.stack!;
  assert.equal(
    body(line!),
    '{"level":"ERROR","logger":"payments","message":"Payment failed","context":{"order_id":456},' +
      `"exception":{"type":"Error","message":"Payment failed upstream","code":"E_UPSTREAM","stack":${JSON.stringify(stack)},` +
      `"cause":{"type":"TypeError","message":"socket closed","stack":${JSON.stringify(rootStack)}}}}`,
  );
});

test('writes no exception for err: null, as callback-style code passes when nothing failed', async (t) => {
  const { logger, read } = openLogger(t, 'callbacks');
  logger.info('done', { err: null });
  assert.equal(body((await read())[0]!), '{"level":"INFO","logger":"callbacks","message":"done","context":{}}');
});

test('writes AggregateError members under errors and names subclasses by their constructor', async (t) => {
  class PaymentError extends Error {}
  const { logger, read } = openLogger(t, 'aggregate');
  logger.error('batch failed', { err: new AggregateError([new PaymentError('card declined'), 'plain string'], 'two failed') });
  const exception = (JSON.parse((await read())[0]!) as { exception: Record<string, unknown> }).exception;
  assert.equal(exception.type, 'AggregateError');
  const errors = exception.errors as Record<string, unknown>[];
  assert.equal(errors[0]!.type, 'PaymentError');
  assert.equal(errors[0]!.message, 'card declined');
  assert.deepEqual(errors[1], { type: 'string', message: 'plain string', stack: null });
});

test('survives circular references, BigInt, undefined, and errors inside the context', async (t) => {
  const { logger, read } = openLogger(t, 'hostile_values');
  const loop: Record<string, unknown> = { name: 'loop' };
  loop.self = loop;
  const problem = new RangeError('out of range');
  logger.info('values', {
    context: { loop, big: 12345678901234567890n, missing: undefined, list: [undefined, 1], nan: Number.NaN, when: new Date(0), problem },
  });
  const [line] = await read();
  assert.equal(
    body(line!),
    '{"level":"INFO","logger":"hostile_values","message":"values","context":{"loop":{"name":"loop","self":"[Circular]"},' +
      '"big":"12345678901234567890","list":[null,1],"nan":null,"when":"1970-01-01T00:00:00.000Z",' +
      `"problem":{"type":"RangeError","message":"out of range","stack":${JSON.stringify(problem.stack)}}}}`,
  );
});

test('redacts configured keys at any depth and configured context paths', async (t) => {
  const { logger, read } = openLogger(t, 'redacting', { redact: ['password', 'context.card', 'context.users.*.email'] });
  logger.info('signup', {
    context: {
      password: 'hunter2',
      nested: { password: 'hunter3', kept: true },
      card: '4111 1111 1111 1111',
      other: { card: 'not at the configured path' },
      users: [{ email: 'a@example.com', id: 1 }],
    },
  });
  const [line] = await read();
  assert.equal(
    body(line!),
    '{"level":"INFO","logger":"redacting","message":"signup","context":{"password":"[Redacted]",' +
      '"nested":{"password":"[Redacted]","kept":true},"card":"[Redacted]","other":{"card":"not at the configured path"},' +
      '"users":[{"email":"[Redacted]","id":1}]}}',
  );
});

test('escapes quotes, backslashes and newlines, and replaces lone surrogates', async (t) => {
  const { logger, read } = openLogger(t, 'strings');
  logger.info('say "hi"\\ \n next </script> \u202E 😀 \uD800');
  const lines = await read();
  assert.equal(lines.length, 1, 'a newline in a message never splits the line');
  assert.equal(body(lines[0]!), '{"level":"INFO","logger":"strings","message":"say \\"hi\\"\\\\ \\n next </script> \u202E 😀 \uFFFD","context":{}}');
});

test('a child logger adds its context under the call context', async (t) => {
  const { logger, read } = openLogger(t, 'parent', { context: { service: 'api' } });
  const requestLogger = logger.child({ request_id: 'r1', service: 'api-child' });
  requestLogger.info('handled', { context: { status: 200, request_id: 'r2' } });
  const [line] = await read();
  assert.equal(body(line!), '{"level":"INFO","logger":"parent","message":"handled","context":{"service":"api-child","request_id":"r2","status":200}}');
});

test('loggers with the same file share it and keep their lines in call order', async (t) => {
  const { logger: first, logFile, read } = openLogger(t, 'first');
  const second = getLogger('second', { logFile: path.join(path.dirname(logFile), '.', 'app.log') });
  first.info('1');
  second.info('2');
  first.info('3');
  const written = (await read()).map((line) => JSON.parse(line) as { logger: string; message: string });
  assert.deepEqual(
    written.map(({ logger, message }) => `${logger} ${message}`),
    ['first 1', 'second 2', 'first 3'],
  );
});

test('close() is idempotent and lines logged after it are dropped without throwing', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logcore-close-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const logFile = path.join(dir, 'app.log');
  const logger = getLogger('closing', { logFile });
  logger.info('kept');
  const closing = logger.close();
  assert.equal(logger.close(), closing);
  await closing;
  logger.info('dropped');
  await logger.flush();
  assert.equal(fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean).length, 1);
});
