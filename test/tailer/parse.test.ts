import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import pino from 'pino';
import bunyan from 'bunyan';
import winston from 'winston';
import { parseLogLine, parseTimestamp, normalizeLevel } from '../../src/workers/tailer/parse.js';
import type { LogRecord } from '../../src/supervisor/messages.js';

const FIXTURES = new URL('../../../test/fixtures/logs/', import.meta.url);
const READ_AT = new Date('2026-11-28T12:00:00.000Z');
const OPTS = { readAt: READ_AT, sourceFile: '/var/log/app.log', maxLineBytes: 64 * 1024 };

function parse(line: string | Buffer, maxLineBytes = OPTS.maxLineBytes): LogRecord {
  return parseLogLine(typeof line === 'string' ? Buffer.from(line) : line, { ...OPTS, maxLineBytes });
}

function fixtureLines(name: string): string[] {
  return readFileSync(new URL(name, FIXTURES), 'utf8').split('\n').filter((l) => l.length > 0);
}

test('parses the logcore format, exception included', () => {
  const [info, error, spec] = fixtureLines('logcore.jsonl').map((l) => parse(l));
  assert.deepEqual(info, {
    timestamp: '2026-02-08T20:30:00.123Z', level: 'INFO', logger: 'my_app', message: 'User action',
    context: { user_id: 123 }, exception: null, flags: [], raw: null, sourceFile: '/var/log/app.log',
  });
  assert.equal(error!.level, 'ERROR');
  assert.deepEqual(error!.context, { order_id: 456 });
  assert.equal(error!.exception!.type, 'ValueError');
  assert.deepEqual((error!.exception!.cause as Record<string, unknown>).type, 'KeyError');
  assert.equal(spec!.level, 'WARN');
  assert.equal(spec!.timestamp, '2026-02-08T20:30:00.000Z');
  assert.equal(spec!.message, 'spec example with spaces');
});

test('parses lines written by the real pino, numeric levels and epoch-ms time included', () => {
  const lines: string[] = [];
  const logger = pino({ name: 'my_app' }, { write: (s: string) => void lines.push(s) });
  logger.info({ user_id: 123 }, 'User action');
  logger.warn('careful');
  logger.error(new Error('boom'), 'failed');
  logger.fatal('dying');
  logger.level = 'trace';
  logger.trace('tracing');
  logger.debug('debugging');
  const records = lines.map((l) => parse(l.replace(/\n$/, '')));
  assert.deepEqual(records.map((r) => r.level), ['INFO', 'WARN', 'ERROR', 'FATAL', 'TRACE', 'DEBUG']);
  const first = records[0]!;
  const written = JSON.parse(lines[0]!) as { time: number; pid: number };
  assert.equal(first.timestamp, new Date(written.time).toISOString());
  assert.equal(first.message, 'User action');
  assert.equal(first.logger, 'my_app');
  assert.deepEqual(first.context, { pid: written.pid, hostname: JSON.parse(lines[0]!).hostname, user_id: 123 });
  assert.equal(records[2]!.exception!.message, 'boom');
  assert.match(String(records[2]!.exception!.stack), /Error: boom/);
  assert.ok(records.every((r) => r.flags.length === 0));
});

test('parses lines written by the real bunyan', () => {
  const lines: string[] = [];
  const logger = bunyan.createLogger({
    name: 'my_app', serializers: bunyan.stdSerializers,
    streams: [{ level: 'trace', stream: { write: (s: string) => void lines.push(s) } as unknown as NodeJS.WritableStream }],
  });
  logger.info({ user_id: 1 }, 'hello bunyan');
  logger.error({ err: new Error('bad') }, 'oops');
  logger.trace('fine grained');
  const records = lines.map((l) => parse(l.replace(/\n$/, '')));
  assert.deepEqual(records.map((r) => r.level), ['INFO', 'ERROR', 'TRACE']);
  assert.equal(records[0]!.timestamp, JSON.parse(lines[0]!).time);
  assert.equal(records[0]!.logger, 'my_app');
  assert.equal(records[0]!.context!.user_id, 1);
  assert.equal(records[0]!.context!.v, 0);
  assert.equal(records[1]!.exception!.message, 'bad');
});

test('parses lines written by the real winston (json + timestamp + errors formats)', async () => {
  const lines: string[] = [];
  const logger = winston.createLogger({
    level: 'silly',
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Stream({
      stream: new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }),
    })],
  });
  logger.warn('winston warn', { user_id: 5 });
  logger.error(new Error('werr'));
  logger.verbose('chatty');
  logger.silly('sillier');
  logger.http('GET /');
  await new Promise<void>((resolve) => logger.end(resolve));
  for (let i = 0; i < 50 && lines.length < 5; i++) await new Promise((r) => setTimeout(r, 10));
  const records = lines.map((l) => parse(l.replace(/\n$/, '')));
  assert.deepEqual(records.map((r) => r.level), ['WARN', 'ERROR', 'DEBUG', 'TRACE', 'INFO']);
  assert.equal(records[0]!.timestamp, JSON.parse(lines[0]!).timestamp);
  assert.deepEqual(records[0]!.context, { user_id: 5 });
  assert.match(String(records[1]!.exception!.stack), /Error: werr/);
  assert.equal(records[1]!.message, 'werr');
});

test('parses Python JSON logger and structlog shapes produced by python3', (t) => {
  // python-json-logger and structlog are not installed: the script emulates their output with the
  // standard library (logging + json), keeping their field names and value formats.
  const script = `
import json, logging, sys, datetime
class JsonFormatter(logging.Formatter):
    def format(self, record):
        out = {"asctime": self.formatTime(record), "levelname": record.levelname,
               "name": record.name, "message": record.getMessage()}
        out.update(getattr(record, "ctx", {}))
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out)
h = logging.StreamHandler(sys.stdout)
h.setFormatter(JsonFormatter())
log = logging.getLogger("my_app")
log.addHandler(h)
log.setLevel(logging.DEBUG)
log.info("User action", extra={"ctx": {"user_id": 123}})
log.warning("disk")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("Payment failed")
log.critical("down")
ts = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
print(json.dumps({"event": "structlog event", "level": "warning", "timestamp": ts, "logger": "svc", "user_id": 7}))
print(json.dumps({"event": "epoch seconds", "level": "info", "timestamp": 1770582600.25}))
`;
  const py = spawnSync('python3', ['-c', script], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
  if (py.error) {
    t.skip('python3 is not available');
    return;
  }
  assert.equal(py.status, 0, py.stderr);
  const records = py.stdout.trim().split('\n').map((l) => parse(l));
  assert.deepEqual(records.map((r) => r.level), ['INFO', 'WARN', 'ERROR', 'FATAL', 'WARN', 'INFO']);
  assert.equal(records[0]!.logger, 'my_app');
  assert.equal(records[0]!.message, 'User action');
  assert.deepEqual(records[0]!.context, { user_id: 123 });
  assert.match(records[0]!.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.match(String(records[2]!.exception!.stack), /ZeroDivisionError/);
  assert.equal(records[4]!.message, 'structlog event');
  assert.equal(records[4]!.logger, 'svc');
  assert.deepEqual(records[4]!.context, { user_id: 7 });
  assert.equal(records[5]!.timestamp, '2026-02-08T20:30:00.250Z');
  assert.ok(records.every((r) => r.flags.length === 0));
});

test('parses Go slog JSON lines, offsets and nanoseconds normalised to UTC', () => {
  const records = fixtureLines('slog.jsonl').map((l) => parse(l));
  assert.deepEqual(records.map((r) => r.level), ['INFO', 'WARN', 'ERROR', 'DEBUG', 'INFO']);
  assert.deepEqual(records.map((r) => r.timestamp), [
    '2026-02-08T20:30:00.123Z', '2026-02-08T20:30:01.500Z', '2026-02-08T21:30:02.000Z',
    '2026-02-09T02:30:03.000Z', '2026-02-08T21:30:04.000Z',
  ]);
  assert.deepEqual(records[0]!.context, { user_id: 123, req: { method: 'GET', path: '/' } });
  assert.equal(records[0]!.message, 'User action');
  // slog's `err` attribute is the error's message as a string.
  assert.deepEqual(records[2]!.exception, { message: 'card declined' });
});

test('parses Elastic ECS lines with dotted and nested log.level', () => {
  const [dotted, nested, onlyLevel] = fixtureLines('ecs.jsonl').map((l) => parse(l));
  assert.equal(dotted!.level, 'ERROR');
  assert.equal(dotted!.logger, 'payments');
  assert.equal(dotted!.timestamp, '2026-02-08T20:30:00.123Z');
  assert.equal(dotted!.exception!.type, 'CardError');
  assert.deepEqual(dotted!.context, {
    'ecs.version': '8.10.0', log: { origin: { file: { name: 'pay.js', line: 10 } } }, 'order.id': 456,
  });
  assert.equal(nested!.level, 'WARN');
  assert.equal(nested!.logger, 'http');
  assert.deepEqual(nested!.context, { ecs: { version: '8.10.0' }, http: { request: { method: 'GET' } } });
  assert.equal(onlyLevel!.level, 'INFO');
  assert.equal(onlyLevel!.context, null);
});

test('detects the level of plain-text lines', () => {
  const records = fixtureLines('plain.log').map((l) => parse(l));
  assert.deepEqual(records.map((r) => r.level), [
    'ERROR', 'WARN', 'ERROR', 'WARN', 'ERROR', 'FATAL', 'INFO', 'DEBUG', 'INFO', 'INFO',
  ]);
  assert.equal(records[0]!.message, '2026-02-08 20:30:00,123 ERROR [main] Connection refused');
  assert.equal(records[0]!.timestamp, new Date(2026, 1, 8, 20, 30, 0, 123).toISOString());
  assert.equal(records[1]!.timestamp, '2026-02-08T20:30:01.000Z');
  assert.equal(records[3]!.timestamp, '2026-02-08T20:30:03.000Z');
  assert.equal(records[6]!.timestamp, READ_AT.toISOString());
  assert.ok(records.every((r) => r.flags.length === 0 && r.raw === null && r.context === null));
});

test('maps level names and numbers to canonical upper-case names', () => {
  assert.equal(normalizeLevel('WARNING'), 'WARN');
  assert.equal(normalizeLevel('critical'), 'FATAL');
  assert.equal(normalizeLevel('Err'), 'ERROR');
  assert.equal(normalizeLevel(10), 'TRACE');
  assert.equal(normalizeLevel(35), 'WARN');
  assert.equal(normalizeLevel(60), 'FATAL');
  assert.equal(normalizeLevel('30'), 'INFO');
  assert.equal(normalizeLevel('\u001b[31merror\u001b[39m'), 'ERROR');
  assert.equal(normalizeLevel('chatty'), null);
});

test('an unrecognised level defaults to INFO and stays in context as written', () => {
  const r = parse('{"level":"chatty","msg":"x"}');
  assert.equal(r.level, 'INFO');
  assert.deepEqual(r.context, { level: 'chatty' });
});

test('normalises timestamps to UTC and falls back to read time when unusable', () => {
  assert.equal(parseTimestamp('2026-02-08T20:30:00.123456789+01:00'), Date.UTC(2026, 1, 8, 19, 30, 0, 123));
  assert.equal(parseTimestamp(1770582600123), 1770582600123);
  assert.equal(parseTimestamp(1770582600), 1770582600000);
  assert.equal(parseTimestamp(1770582600123456), 1770582600123);
  assert.equal(parseTimestamp(1770582600123456789), 1770582600123);
  assert.ok(Number.isNaN(parseTimestamp('garbage 2026')));
  assert.ok(Number.isNaN(parseTimestamp('2026-13-01T00:00:00Z')));
  assert.ok(Number.isNaN(parseTimestamp(-5)));
  const bad = parse('{"timestamp":"yesterday","level":"info","message":"m"}');
  assert.equal(bad.timestamp, READ_AT.toISOString());
  assert.deepEqual(bad.flags, ['invalid_timestamp']);
  assert.deepEqual(bad.context, { timestamp: 'yesterday' });
});

test('keeps invalid JSON raw and flags it', () => {
  const line = '{"level":"error","message":"cut short';
  const r = parse(line);
  assert.deepEqual(r.flags, ['invalid_json']);
  assert.equal(r.raw, line);
  assert.equal(r.message, line);
  assert.equal(r.level, 'INFO');
  assert.equal(parse('{not json at all} ERROR').level, 'ERROR');
});

test('a JSON value that is not an object is treated as text', () => {
  const r = parse('[1,2,3]');
  assert.equal(r.message, '[1,2,3]');
  assert.deepEqual(r.flags, []);
});

test('replaces invalid UTF-8 and flags it', () => {
  const r = parse(Buffer.concat([Buffer.from('bad '), Buffer.from([0xff, 0xfe]), Buffer.from(' bytes ERROR')]));
  assert.deepEqual(r.flags, ['invalid_utf8']);
  assert.equal(r.message, 'bad \ufffd\ufffd bytes ERROR');
  assert.equal(r.level, 'ERROR');
  const json = parse(Buffer.concat([Buffer.from('{"message":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]));
  assert.deepEqual(json.flags, ['invalid_utf8']);
  assert.equal(json.message, 'caf\ufffd');
});

test('removes NUL bytes and flags it', () => {
  const r = parse(Buffer.from('\u0000\u0000{"message":"after nuls"}\u0000'));
  assert.deepEqual(r.flags, ['nul_removed']);
  assert.equal(r.message, 'after nuls');
});

test('strips the CR of CRLF line ends', () => {
  const r = parse('{"message":"windows"}\r');
  assert.equal(r.message, 'windows');
  assert.deepEqual(r.flags, []);
  assert.equal(parse('plain WARN\r').message, 'plain WARN');
});

test('truncates over-long lines at a character boundary and keeps the kept part raw', () => {
  // 'é' is two bytes: a limit of 5 falls inside the third one.
  const r = parse('éééé', 5);
  assert.deepEqual(r.flags, ['truncated']);
  assert.equal(r.message, 'éé');
  assert.equal(r.raw, 'éé');
  const euro = parse('ab€€', 4); // '€' is three bytes
  assert.equal(euro.message, 'ab');
  const json = parse(`{"message":"${'x'.repeat(100)}"}`, 50);
  assert.deepEqual(json.flags, ['truncated', 'invalid_json']);
  assert.equal(Buffer.byteLength(json.raw!), 50);
  // Exactly at the limit after the CR is removed: not truncated.
  assert.deepEqual(parse('12345\r', 5).flags, []);
});

test('keeps an empty line as an empty message', () => {
  const r = parse('');
  assert.equal(r.message, '');
  assert.equal(r.level, 'INFO');
  assert.equal(r.timestamp, READ_AT.toISOString());
});

test('a JSON object without a message field is searchable by its text', () => {
  const r = parse('{"user":"ann","action":"login"}');
  assert.equal(r.message, '{"user":"ann","action":"login"}');
  assert.deepEqual(r.context, { user: 'ann', action: 'login' });
});
