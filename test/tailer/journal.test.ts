// The journald source against real journal files: written by systemd-journal-remote from export-format
// input, read by the tailer through `journalctl --directory`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectorMessage, FileCheckpoint, LogRecord } from '../../src/supervisor/messages.js';
import { numberedEntries, writeJournal } from '../helpers/journal.js';
import { sleep, startTailer, tempDir, waitFor, type RunningTailer } from './harness.js';

const UNIT = 'my-app.service';

async function journalTailer(t: import('node:test').TestContext, dir: string, o: Parameters<typeof startTailer>[1] = {}): Promise<RunningTailer> {
  const tailer = await startTailer([], { journal: { journalUnits: [UNIT], journalDirectory: dir }, ...o });
  t.after(() => tailer.stop());
  return tailer;
}

function numbers(records: LogRecord[]): number[] {
  return records.map((r) => Number(/^journal-line-(\d+)$/.exec(r.message)?.[1] ?? NaN));
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

function logs(messages: CollectorMessage[], level: string): Array<Extract<CollectorMessage, { type: 'LOG' }>> {
  return messages.filter((m): m is Extract<CollectorMessage, { type: 'LOG' }> => m.type === 'LOG' && m.level === level);
}

test('journal entries of the chosen unit are stored with levels from PRIORITY, parsed JSON messages and the journal fields in context', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678) * 1000 + 901; // µs
  await writeJournal(dir, [
    ...[0, 1, 2, 3, 4, 5, 6, 7].map((p) => ({ __REALTIME_TIMESTAMP: at + p, _SYSTEMD_UNIT: UNIT, PRIORITY: p, _PID: 42, SYSLOG_IDENTIFIER: 'shop', MESSAGE: `priority ${p}` })),
    { __REALTIME_TIMESTAMP: at + 10, _SYSTEMD_UNIT: 'other.service', PRIORITY: 3, MESSAGE: 'not ours' },
    // JSON written to stdout: journald gives it the stream's default PRIORITY 6; its own level and time win.
    { __REALTIME_TIMESTAMP: at + 11, _SYSTEMD_UNIT: UNIT, PRIORITY: 6, _PID: 42,
      MESSAGE: JSON.stringify({ level: 'error', time: '2026-01-02T03:00:00.000Z', msg: 'payment failed', orderId: 7, pid: 42 }) },
    // A JSON line stating no level takes PRIORITY's.
    { __REALTIME_TIMESTAMP: at + 12, _SYSTEMD_UNIT: UNIT, PRIORITY: 4, MESSAGE: JSON.stringify({ msg: 'disk filling' }) },
    // Plain text with a level word: the word wins over the stream default.
    { __REALTIME_TIMESTAMP: at + 13, _SYSTEMD_UNIT: UNIT, PRIORITY: 6, MESSAGE: 'ERROR something broke' },
    // Not UTF-8: journalctl writes MESSAGE as an array of bytes.
    { __REALTIME_TIMESTAMP: at + 14, _SYSTEMD_UNIT: UNIT, PRIORITY: 5, MESSAGE: Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0x21]) },
    // systemd about the unit: matched by -u through UNIT=, attributed to the unit.
    { __REALTIME_TIMESTAMP: at + 15, _SYSTEMD_UNIT: 'init.scope', UNIT: UNIT, _PID: 1, PRIORITY: 6, MESSAGE: `Started ${UNIT}.` },
    // A multi-line MESSAGE is one entry, one record.
    { __REALTIME_TIMESTAMP: at + 16, _SYSTEMD_UNIT: UNIT, PRIORITY: 3, MESSAGE: 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: x' },
  ]);
  const tailer = await journalTailer(t, dir);
  await waitFor(() => tailer.records().length >= 14, 20_000, '14 records');
  await sleep(300);
  const records = tailer.records();
  assert.equal(records.length, 14, 'other.service is left out');
  assert.ok(records.every((r) => r.sourceFile === `journald:${UNIT}`));

  assert.deepEqual(records.slice(0, 8).map((r) => [r.message, r.level]), [
    ['priority 0', 'FATAL'], ['priority 1', 'FATAL'], ['priority 2', 'FATAL'], ['priority 3', 'ERROR'],
    ['priority 4', 'WARN'], ['priority 5', 'INFO'], ['priority 6', 'INFO'], ['priority 7', 'DEBUG'],
  ]);
  assert.equal(records[0]!.timestamp, '2026-01-02T03:04:05.678Z', '__REALTIME_TIMESTAMP, µs cut to ms');
  assert.deepEqual(records[0]!.context, { journal: { unit: UNIT, pid: 42, identifier: 'shop', priority: 0 } });

  const json = records[8]!;
  assert.equal(json.message, 'payment failed');
  assert.equal(json.level, 'ERROR');
  assert.equal(json.timestamp, '2026-01-02T03:00:00.000Z', 'the time in the message wins');
  assert.deepEqual(json.context, { orderId: 7, pid: 42, journal: { unit: UNIT, pid: 42, priority: 6 } });

  assert.deepEqual([records[9]!.message, records[9]!.level], ['disk filling', 'WARN']);
  assert.deepEqual([records[10]!.message, records[10]!.level], ['ERROR something broke', 'ERROR']);

  const binary = records[11]!;
  assert.equal(binary.message, 'bad \ufffd\ufffd!');
  assert.deepEqual(binary.flags, ['invalid_utf8']);
  assert.equal(binary.level, 'INFO');

  assert.equal(records[12]!.message, `Started ${UNIT}.`);
  assert.deepEqual(records[12]!.context, { journal: { unit: UNIT, pid: 1, priority: 6 } });
  assert.equal(records[13]!.message, 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: x');
  assert.equal(records[13]!.level, 'ERROR');

  const cp = tailer.lastCheckpoint('journald')!;
  assert.equal(cp.identity, null);
  assert.match(cp.cursor ?? '', /^s=[0-9a-f]+;i=[0-9a-f]+;/);
});

test('entries appended after the start, in the same journal file and in a new one, are followed', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  await writeJournal(dir, numberedEntries(UNIT, 1, 50));
  const tailer = await journalTailer(t, dir);
  await waitFor(() => tailer.records().length >= 50, 20_000, 'the first 50');
  await writeJournal(dir, numberedEntries(UNIT, 51, 50)); // appended to remote.journal
  await waitFor(() => tailer.records().length >= 100, 20_000, 'entries appended to the same file');
  await writeJournal(dir, numberedEntries(UNIT, 101, 50), 'second'); // a new file in the directory
  await waitFor(() => tailer.records().length >= 150, 20_000, 'entries of a new journal file');
  await sleep(300);
  assert.deepEqual(numbers(tailer.records()), range(1, 150));
});

test('a restart from the committed cursor reads every entry after it once, and none before it', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  await writeJournal(dir, numberedEntries(UNIT, 1, 300));
  const first = await startTailer([], { journal: { journalUnits: [UNIT], journalDirectory: dir }, maxBatchRecords: 40 });
  await waitFor(() => first.records().length >= 300, 20_000, 'first 300');
  // What the writer committed last: a batch in the middle.
  const cut = first.batches[3]!;
  const committed: FileCheckpoint = cut.checkpoint;
  const upTo = first.batches.slice(0, 4).reduce((n, b) => n + b.records.length, 0);
  await first.stop();

  await writeJournal(dir, numberedEntries(UNIT, 301, 100));
  const second = await journalTailer(t, dir, { checkpoints: [committed] });
  await waitFor(() => second.records().length >= 400 - upTo, 20_000, 'the rest');
  await sleep(300);
  assert.deepEqual(numbers(second.records()), range(upTo + 1, 400 - upTo));
});

test('reading stops while the window is full and goes on when batches are committed, without loss or duplicates', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  await writeJournal(dir, numberedEntries(UNIT, 1, 3000));
  const tailer = await journalTailer(t, dir, { autoCommit: false, windowBytes: 32 * 1024, maxBatchBytes: 8 * 1024 });
  await waitFor(() => tailer.uncommittedBytes() >= 32 * 1024, 20_000, 'a full window');
  await sleep(500);
  const held = tailer.records().length;
  assert.ok(held < 3000, `reading paused with ${held} of 3000 read`);
  // Bounded overshoot: the batch being built when the window filled (8 KiB and one entry); the rest of the
  // pipe read is held unparsed.
  assert.ok(tailer.uncommittedBytes() < 32 * 1024 + 9 * 1024, `uncommitted ${tailer.uncommittedBytes()} bytes`);
  for (let i = 0; i < 400 && tailer.records().length < 3000; i++) {
    tailer.commitAll();
    await sleep(20);
  }
  await sleep(300);
  assert.deepEqual(numbers(tailer.records()), range(1, 3000));
});

test('tailing paused for a full spool holds the journal until it is resumed', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  const tailer = await journalTailer(t, dir);
  tailer.tailer.handle({ type: 'PAUSE_TAILING', reason: 'test' });
  await sleep(200);
  const before = tailer.records().length;
  await writeJournal(dir, numberedEntries(UNIT, 1, 2000));
  await sleep(1500);
  // Nothing is handed out while paused: what a pipe read brought in is held, the rest waits in the journal.
  assert.equal(tailer.records().length, before, 'no entry read while paused');
  tailer.tailer.handle({ type: 'RESUME_TAILING' });
  await waitFor(() => tailer.records().length >= 2000, 20_000, 'all after resume');
  assert.deepEqual(numbers(tailer.records()), range(1, 2000));
});

test('a missing journalctl is one clear error, retried quietly with backoff', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  const tailer = await journalTailer(t, dir, { journalctl: join(dir, 'no-such-journalctl'), journalRestartBaseMs: 20, journalRestartMaxMs: 40 });
  await waitFor(() => logs(tailer.messages, 'error').length > 0, 10_000, 'an error');
  await sleep(500); // several retries
  const errors = logs(tailer.messages, 'error');
  assert.equal(errors.length, 1, 'logged once');
  assert.equal(errors[0]!.message, 'cannot follow the journal');
  assert.equal(errors[0]!.context!.code, 'OBS_ERR_JOURNAL');
  assert.match(String(errors[0]!.context!.error), /no-such-journalctl not found: install systemd's journalctl/);
});

test('an unreadable journal directory is one clear error naming journalctl\'s reason, and entries flow once it is fixed', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  const missing = join(dir, 'journal');
  const tailer = await journalTailer(t, missing, { journalRestartBaseMs: 50, journalRestartMaxMs: 100 });
  await waitFor(() => logs(tailer.messages, 'error').length > 0, 10_000, 'an error');
  await sleep(500);
  const errors = logs(tailer.messages, 'error');
  assert.equal(errors.length, 1, 'logged once');
  assert.match(String(errors[0]!.context!.error), /journalctl stopped: Failed to open .*journal: No such file or directory/);

  mkdirSync(missing);
  await writeJournal(missing, numberedEntries(UNIT, 1, 5));
  await waitFor(() => tailer.records().length >= 5, 20_000, 'entries once readable');
  assert.ok(logs(tailer.messages, 'info').some((m) => m.message === 'journal readable again'));
});

test('a journal file journalctl may not read is reported (as a user outside the systemd-journal group)', { skip: process.getuid?.() !== 0 && 'needs root to run journalctl as another user' }, async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  await writeJournal(dir, numberedEntries(UNIT, 1, 5));
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'remote.journal'), 0o600);
  // journalctl run as nobody through a wrapper: what an agent outside the group sees.
  const wrapper = join(dir, 'journalctl-as-nobody');
  writeFileSync(wrapper, '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups journalctl "$@"\n', { mode: 0o755 });
  const tailer = await journalTailer(t, dir, { journalctl: wrapper, journalRestartBaseMs: 50, journalRestartMaxMs: 100 });
  await waitFor(() => logs(tailer.messages, 'error').length > 0, 10_000, 'an error');
  assert.match(String(logs(tailer.messages, 'error')[0]!.context!.error), /insufficient permissions/);
  assert.equal(tailer.records().length, 0);
});

test('a cursor journalctl refuses is reported as a possible loss, and reading resumes from then on instead of failing forever', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  await writeJournal(dir, numberedEntries(UNIT, 1, 5, (Date.now() - 3_600_000) * 1000)); // an hour ago
  const refused: FileCheckpoint = { path: 'journald', identity: null, offset: 0, cursor: 'not-a-cursor' };
  const tailer = await journalTailer(t, dir, { checkpoints: [refused], journalRestartBaseMs: 50 });
  await waitFor(() => tailer.events.length > 0, 10_000, 'an event');
  await sleep(300);
  await writeJournal(dir, numberedEntries(UNIT, 6, 5));
  await waitFor(() => tailer.records().length >= 5, 20_000, 'new entries');
  await sleep(300);
  assert.deepEqual(numbers(tailer.records()), range(6, 5), 'entries from before the refusal are not read again');
  assert.equal(tailer.events[0]!.kind, 'lines_possibly_lost');
  assert.equal(tailer.events[0]!.detail.reason, 'journal_cursor_refused');
  assert.match(logs(tailer.messages, 'error')[0]!.message, /refused the committed journal cursor/);
  assert.match(tailer.lastCheckpoint('journald')!.cursor ?? '', /^s=/, 'a real cursor is committed from then on');
});

test('a user outside the systemd-journal group gets one clear error (journalctl itself exits 0 and shows nothing)', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  // What journalctl prints, and does, for such a user: a hint on stderr, then it follows the user's own journal.
  const fake = join(dir, 'journalctl');
  writeFileSync(fake, '#!/bin/sh\necho "Hint: You are currently not seeing messages from other users and the system." >&2\n' +
    'echo "      Users in groups \'adm\', \'systemd-journal\' can see all messages." >&2\nexec sleep 60\n', { mode: 0o755 });
  const tailer = await journalTailer(t, dir, { journalctl: fake });
  await waitFor(() => logs(tailer.messages, 'error').length > 0, 10_000, 'an error');
  await sleep(300);
  const errors = logs(tailer.messages, 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.context!.code, 'OBS_ERR_JOURNAL');
  assert.match(String(errors[0]!.context!.error), /add the agent's user to the systemd-journal group/);
});

test('an entry too long to hold is skipped and counted; the entries after it are read', async (t) => {
  const { dir, cleanup } = tempDir('observ-journal-');
  t.after(cleanup);
  const fake = join(dir, 'journalctl');
  writeFileSync(fake, '#!/bin/sh\necho \'{"__CURSOR":"c1","MESSAGE":"before"}\'\nhead -c 1200000 /dev/zero | tr "\\\\000" x\necho\n' +
    'echo \'{"__CURSOR":"c3","MESSAGE":"after"}\'\nexec sleep 60\n', { mode: 0o755 });
  const tailer = await journalTailer(t, dir, { journalctl: fake });
  await waitFor(() => tailer.records().length >= 2, 10_000, 'two records');
  assert.deepEqual(tailer.records().map((r) => r.message), ['before', 'after']);
  assert.equal(tailer.lastCheckpoint('journald')!.cursor, 'c3');
  assert.deepEqual(tailer.events.map((e) => [e.kind, e.detail.reason]), [['journal_entry_skipped', 'entry longer than the limit']]);
});
