import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers/agent.js';
import { rng } from '../../bench/lib/anomaly-series.js';

function observ(args: string[], input = '') {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Two days of 5-minute points in `YYYY-MM-DD HH:MM:SS`, with a spike of three points on day 2. */
function csv(format: (t: Date) => string = (t) => t.toISOString().slice(0, 19).replace('T', ' ')): { text: string; spikeRows: number[] } {
  const r = rng(11);
  const start = Date.UTC(2026, 2, 2);
  const lines = ['timestamp,value'];
  const spikeRows: number[] = [];
  for (let i = 0; i < 2 * 288; i++) {
    const spike = i >= 400 && i < 403;
    if (spike) spikeRows.push(i);
    lines.push(`${format(new Date(start + i * 300_000))},${(20 + 4 * r() + (spike ? 40 : 0)).toFixed(2)}`);
  }
  return { text: lines.join('\n') + '\n', spikeRows };
}

test('anomaly detect reads a file and writes timestamp,value,score,anomaly for every row, flagging the spike', () => {
  const dir = mkdtempSync(join(tmpdir(), 'observ-anomaly-'));
  try {
    const { text, spikeRows } = csv();
    writeFileSync(join(dir, 'cpu.csv'), text);
    const r = observ(['anomaly', 'detect', join(dir, 'cpu.csv')]);
    assert.equal(r.code, 0, r.err);
    const rows = r.out.trimEnd().split('\n');
    assert.equal(rows[0], 'timestamp,value,score,anomaly');
    const inputRows = text.trimEnd().split('\n').slice(1);
    assert.equal(rows.length - 1, inputRows.length);
    for (let i = 0; i < inputRows.length; i++) assert.ok(rows[i + 1]!.startsWith(inputRows[i]! + ','), `row ${i} echoes its input`);
    const flagged = rows.slice(1).map((row, i) => [i, row.split(',')[3]] as const).filter(([, a]) => a === '1').map(([i]) => i);
    assert.ok(flagged.length > 0 && flagged.length < 10, `flagged rows ${flagged.join(' ')}`);
    assert.ok(flagged.every((i) => i >= spikeRows[0]! && i <= spikeRows[2]! + 5), `flagged rows ${flagged.join(' ')} near ${spikeRows.join(' ')}`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('anomaly detect reads stdin with `-`, ISO 8601 timestamps, and keeps rows with missing values', () => {
  const { text } = csv((t) => t.toISOString());
  const withGap = text.replace(/\n(2026-03-02T05:00:00\.000Z),[\d.]+\n/, '\n$1,\n');
  assert.notEqual(withGap, text);
  const r = observ(['anomaly', 'detect', '-'], withGap);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\n2026-03-02T05:00:00\.000Z,,,0\n/);
  assert.equal(r.out.trimEnd().split('\n').length, withGap.trimEnd().split('\n').length);
});

test('anomaly detect names the line and field of a bad row', () => {
  const cases: [string, RegExp][] = [
    ['time,value\n', /line 1: the header must be "timestamp,value"/],
    ['timestamp,value\n2026-01-01 00:00:00,1\n2026-01-01 00:01:00,abc\n', /line 3: value "abc" is not a number/],
    ['timestamp,value\n2026-01-01 00:00:00,1\nyesterday,2\n', /line 3: timestamp "yesterday" is not ISO 8601/],
    ['timestamp,value\n2026-01-01 00:01:00,1\n2026-01-01 00:00:00,2\n', /line 3: timestamp 2026-01-01 00:00:00 is not after the previous row's/],
    ['timestamp,value\n2026-01-01 00:00:00,1,2\n', /line 2: expected 2 fields/],
    ['', /the input is empty/],
  ];
  for (const [input, message] of cases) {
    const r = observ(['anomaly', 'detect', '-'], input);
    assert.equal(r.code, 1, input);
    assert.match(r.err, message);
    assert.match(r.err, /OBS_ERR_ANOMALY_INPUT/);
  }
});

test('anomaly detect without a file, or with a missing one, is a usage error', () => {
  assert.equal(observ(['anomaly', 'detect']).code, 2);
  const missing = observ(['anomaly', 'detect', '/nonexistent/x.csv']);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read \/nonexistent\/x\.csv: ENOENT/);
  assert.match(observ(['anomaly', 'detect', '-', '--interval', '0']).err, /--interval must be a positive number/);
});
