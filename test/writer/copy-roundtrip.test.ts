import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase } from '../helpers/pg.js';
import { storeBatch, type Batch } from '../../src/workers/writer/writer.js';
import { encodeCopyRow, escapeCopyText, jsonForPg, MAX_JSON_DEPTH } from '../../src/workers/writer/copy-encode.js';
import type { LogRecord } from '../../src/supervisor/messages.js';

const who = { vps: 'vps-1', app: 'roundtrip', collectionInterval: 60, startedAt: new Date().toISOString() };

const HOSTILE = [
  'plain',
  'tab\there',
  'new\nline',
  'carriage\rreturn\r\n',
  'back\\slash \\N \\t \\\\',
  '\\.',
  'before\n\\.\nafter',
  '\\.\n',
  'quotes \' " `',
  'emoji 😀👩‍👩‍👧 and 中文 and é',
  '{"looks":"like json"}',
  'trailing backslash \\',
  '',
  ' ',
];

function record(message: string, context: Record<string, unknown> | null = null, extra: Partial<LogRecord> = {}): LogRecord {
  return { timestamp: '2026-03-04T05:06:07.089Z', level: 'WARN', logger: 'rt', message, context, exception: null, flags: [], raw: null,
    sourceFile: '/var/log/app.log', ...extra };
}

async function roundTrip(t: import('node:test').TestContext, logs: LogRecord[]) {
  const { client } = await testDatabase(t);
  const b: Batch = { seq: 1, createdAt: new Date().toISOString(), metrics: [], probes: [], logs, events: [], files: [] };
  assert.equal(await storeBatch(client, b, who), 'committed');
  const r = await client.query<{ message: string; context: unknown; flags: string[] | null; raw: string | null; timestamp: Date }>(
    'SELECT message, context, flags, raw, timestamp FROM log_entries ORDER BY id');
  return r.rows;
}

test('hostile text survives COPY byte-exact: tabs, newlines, backslashes, \\. lines, quotes, emoji', async (t) => {
  const rows = await roundTrip(t, HOSTILE.map((m) => record(m, null, { raw: m })));
  assert.deepEqual(rows.map((r) => r.message), HOSTILE);
  assert.deepEqual(rows.map((r) => r.raw), HOSTILE);
  assert.ok(rows.every((r) => r.flags === null));
});

test('JSONB context with nested and hostile strings and keys round-trips exactly', async (t) => {
  const context = {
    nested: { deeper: { list: [1, 'two', { three: HOSTILE }], empty: {}, nothing: null, yes: true } },
    'key\twith\ttabs': 'v',
    'key "quoted" \\ slash': 'value\nwith\nlines',
    '😀': ['🎉', '\\u0000 as text', '\\.'],
    number: 1.5e300,
    negative: -0.000001,
  };
  const rows = await roundTrip(t, [record('ctx', context)]);
  assert.deepEqual(rows[0]!.context, context);
});

test('NUL is removed from text and JSON (keys too) and the row is flagged nul_removed', async (t) => {
  const rows = await roundTrip(t, [
    record('a\u0000b', null),
    record('clean', { 'k\u0000ey': 'v\u0000al', list: ['x\u0000'] }),
    record('clean too', null, { flags: ['invalid_json'], raw: '{"broken\u0000' }),
  ]);
  assert.equal(rows[0]!.message, 'ab');
  assert.deepEqual(rows[0]!.flags, ['nul_removed']);
  assert.deepEqual(rows[1]!.context, { key: 'val', list: ['x'] });
  assert.deepEqual(rows[1]!.flags, ['nul_removed']);
  assert.equal(rows[2]!.raw, '{"broken');
  assert.deepEqual(rows[2]!.flags, ['invalid_json', 'nul_removed']);
});

test('lone surrogates become U+FFFD in text and in JSON instead of failing the batch', async (t) => {
  const rows = await roundTrip(t, [record('high \ud800 low \udc00 pair \ud83d\ude00', { 'k\ud800': '\udfff', ok: '\ud83d\ude00' })]);
  assert.equal(rows[0]!.message, 'high \ufffd low \ufffd pair 😀');
  assert.deepEqual(rows[0]!.context, { 'k\ufffd': '\ufffd', ok: '😀' });
});

test('too deep JSON, unparseable timestamps and non-finite numbers are made storable', async (t) => {
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < MAX_JSON_DEPTH + 50; i++) deep = { d: deep };
  const rows = await roundTrip(t, [record('deep', deep), record('bad ts', { n: Infinity }, { timestamp: 'yesterday-ish' })]);
  let v = rows[0]!.context as Record<string, unknown>;
  let depth = 0;
  while (v && typeof v === 'object' && 'd' in v) { v = v.d as Record<string, unknown>; depth++; }
  assert.ok(depth <= MAX_JSON_DEPTH + 1 && depth >= MAX_JSON_DEPTH - 1, `kept ${depth} levels`);
  assert.deepEqual(rows[1]!.flags, ['bad_timestamp']);
  assert.deepEqual(rows[1]!.context, { n: null });
  assert.ok(Math.abs(rows[1]!.timestamp.getTime() - Date.now()) < 60_000, 'a bad timestamp falls back to the batch time');
});

test('COPY text escapes exactly backslash, tab, newline and carriage return; NULL is \\N', () => {
  assert.equal(escapeCopyText('a\\b\tc\nd\re'), 'a\\\\b\\tc\\nd\\re');
  assert.equal(encodeCopyRow([null, undefined, 'x', 1, true, ['a"b', 'c\\d']]), '\\N\t\\N\tx\t1\tt\t{"a\\\\"b","c\\\\\\\\d"}\n');
  assert.equal(jsonForPg({ a: 'b' }).text, '{"a":"b"}');
  assert.equal(jsonForPg({ a: '\u0000' }).nulRemoved, true);
});
