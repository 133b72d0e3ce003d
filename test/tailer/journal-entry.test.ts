import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cursorRealtimeUs, fieldBytes, journalctlArgs, parseJournalEntry, priorityLevel } from '../../src/workers/tailer/journal-entry.js';

const OPTS = { maxLineBytes: 64 * 1024, now: () => Date.UTC(2030, 0, 1), units: ['shop.service'] };
const CURSOR = 's=5a51;i=1;b=0123;m=1;t=661f;x=47d5';

test('PRIORITY 0-7 maps to the tailer\'s levels; anything else is no level', () => {
  assert.deepEqual(['0', '1', '2', '3', '4', '5', '6', '7'].map(priorityLevel), ['FATAL', 'FATAL', 'FATAL', 'ERROR', 'WARN', 'INFO', 'INFO', 'DEBUG']);
  for (const bad of [undefined, null, '8', '-1', 'err', '', '33']) assert.equal(priorityLevel(bad), null, String(bad));
});

test('a field is read as journalctl writes it: text, an array of byte values, or a repeated field', () => {
  assert.deepEqual(fieldBytes('héllo'), Buffer.from('héllo'));
  assert.deepEqual(fieldBytes([98, 255, 10]), Buffer.from([98, 255, 10]));
  assert.deepEqual(fieldBytes(['first', 'second']), Buffer.from('first'));
  assert.deepEqual(fieldBytes([[104, 105], 'x']), Buffer.from('hi'));
  assert.equal(fieldBytes(null), null, 'journalctl writes null for a field it left out');
  assert.equal(fieldBytes([1, 300]), null);
  assert.equal(fieldBytes([]), null);
});

test('an entry becomes a record: MESSAGE parsed by the file dialects, PRIORITY the level it states none of, the journal fields in context', () => {
  const r = parseJournalEntry(JSON.stringify({ __CURSOR: CURSOR, __REALTIME_TIMESTAMP: '1767225600123456', PRIORITY: '3',
    _SYSTEMD_UNIT: 'shop.service', _PID: '17', SYSLOG_IDENTIFIER: 'gunicorn', MESSAGE: 'worker timeout' }), OPTS);
  assert.ok(r.ok);
  assert.equal(r.cursor, CURSOR);
  assert.deepEqual(r.record, {
    timestamp: '2026-01-01T00:00:00.123Z', level: 'ERROR', logger: null, message: 'worker timeout',
    context: { journal: { unit: 'shop.service', pid: 17, identifier: 'gunicorn', priority: 3 } },
    exception: null, flags: [], raw: null, sourceFile: 'journald:shop.service',
  });
});

test('a JSON message keeps its own level, time, logger and fields; the journal\'s sit beside them', () => {
  const message = JSON.stringify({ level: 20, time: 1767225000000, name: 'api', msg: 'cache miss', key: 'k1' });
  const r = parseJournalEntry(JSON.stringify({ __CURSOR: CURSOR, __REALTIME_TIMESTAMP: '1767225600123456', PRIORITY: '6', _COMM: 'node', MESSAGE: message }), OPTS);
  assert.ok(r.ok);
  assert.equal(r.record.level, 'DEBUG');
  assert.equal(r.record.timestamp, '2025-12-31T23:50:00.000Z', 'the message\'s time, not __REALTIME_TIMESTAMP');
  assert.equal(r.record.logger, 'api');
  assert.deepEqual(r.record.context, { key: 'k1', journal: { unit: 'shop.service', identifier: 'node', priority: 6 } });
  assert.equal(r.record.sourceFile, 'journald:shop.service', 'no unit field: the configured unit');
});

test('a MESSAGE of invalid UTF-8 is kept, flagged, with U+FFFD for the bad bytes; an oversized one is cut and flagged', () => {
  const bad = parseJournalEntry(JSON.stringify({ __CURSOR: CURSOR, __REALTIME_TIMESTAMP: '1', MESSAGE: [104, 105, 255] }), OPTS);
  assert.ok(bad.ok);
  assert.equal(bad.record.message, 'hi\ufffd');
  assert.deepEqual(bad.record.flags, ['invalid_utf8']);
  const long = parseJournalEntry(JSON.stringify({ __CURSOR: CURSOR, MESSAGE: 'x'.repeat(3000) }), { ...OPTS, maxLineBytes: 1024 });
  assert.ok(long.ok);
  assert.equal(long.record.message.length, 1024);
  assert.deepEqual(long.record.flags, ['truncated']);
  assert.equal(long.record.timestamp, '2030-01-01T00:00:00.000Z', 'no __REALTIME_TIMESTAMP: the time it was read');
});

test('output that is not an entry is refused with a reason, never half-read', () => {
  assert.deepEqual(parseJournalEntry('{"MESSAGE":"x"', OPTS), { ok: false, reason: 'not JSON' });
  assert.deepEqual(parseJournalEntry('[1]', OPTS), { ok: false, reason: 'not a JSON object' });
  assert.deepEqual(parseJournalEntry('{"MESSAGE":"x"}', OPTS), { ok: false, reason: 'no __CURSOR' });
});

test('journalctl is asked for JSON of the chosen units, all of every field, from the cursor (or the oldest entry) onwards', () => {
  const fields = '--output-fields=MESSAGE,PRIORITY,_SYSTEMD_UNIT,UNIT,OBJECT_SYSTEMD_UNIT,COREDUMP_UNIT,_PID,SYSLOG_IDENTIFIER,_COMM';
  assert.deepEqual(journalctlArgs({ units: ['a.service', 'b.service'], directory: null, cursor: null, follow: true }),
    ['--output=json', '--all', '--no-pager', fields, '--unit=a.service', '--unit=b.service', '--no-tail', '--follow']);
  assert.deepEqual(journalctlArgs({ units: ['a.service'], directory: '/j', cursor: CURSOR, follow: true }),
    ['--output=json', '--all', '--no-pager', fields, '--directory=/j', '--unit=a.service', `--after-cursor=${CURSOR}`, '--no-tail', '--follow']);
  assert.deepEqual(journalctlArgs({ units: ['a.service'], directory: null, cursor: CURSOR, follow: false }),
    ['--output=json', '--all', '--no-pager', fields, '--unit=a.service', `--after-cursor=${CURSOR}`]);
});

test('without a usable cursor journalctl starts at a time given to the µs; a cursor\'s time is read from its t= part', () => {
  const args = journalctlArgs({ units: ['a.service'], directory: null, cursor: null, sinceUs: 1796567651000042, follow: true });
  assert.deepEqual(args.slice(-3), ['--since=@1796567651.000042', '--no-tail', '--follow']);
  assert.equal(cursorRealtimeUs('s=5a;i=1;b=01;m=1;t=661f800aa436b;x=47'), 0x661f800aa436b);
  assert.equal(cursorRealtimeUs('not-a-cursor'), null);
});

test('an entry about a unit from systemd itself (init.scope) or from systemd-coredump is attributed to the configured unit it is about', () => {
  const entry = (fields: Record<string, string>) => parseJournalEntry(JSON.stringify({ __CURSOR: CURSOR, MESSAGE: 'm', ...fields }),
    { ...OPTS, units: ['shop.service', 'cron.service'] });
  const unitOf = (fields: Record<string, string>) => { const r = entry(fields); assert.ok(r.ok); return [r.record.sourceFile, r.record.context!.journal]; };
  assert.deepEqual(unitOf({ _SYSTEMD_UNIT: 'init.scope', UNIT: 'cron.service', _PID: '1' }), ['journald:cron.service', { unit: 'cron.service', pid: 1 }]);
  assert.deepEqual(unitOf({ _SYSTEMD_UNIT: 'systemd-coredump@0.service', COREDUMP_UNIT: 'shop.service' })[0], 'journald:shop.service');
  assert.deepEqual(unitOf({ _SYSTEMD_UNIT: 'other.service' })[0], 'journald:other.service', 'none configured: its own unit');
  assert.deepEqual(unitOf({})[0], 'journald:unknown', 'no unit field and several configured');
});
