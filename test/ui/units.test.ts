// Chart units and axis labels (src/hub/ui/units.ts), tested directly in Node: the module is bundled
// the way the dashboard is (esbuild), then imported. An axis over a narrow range must never show the
// same label twice (issue: "51 MB", "51 MB" on a flat RSS chart), whatever the unit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

type Units = typeof import('../../src/hub/ui/units.js');

async function units(): Promise<Units> {
  const { build } = await import('esbuild');
  const entry = fileURLToPath(new URL('../../../src/hub/ui/units.ts', import.meta.url));
  const out = await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'neutral', write: false, logLevel: 'silent' });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0]!.contents).toString('base64')}`) as Promise<Units>;
}

/** Ticks as uPlot places them: `n` multiples of `step` from `from` (with its floating-point noise). */
const ticks = (from: number, step: number, n: number) => Array.from({ length: n }, (_, i) => from + i * step);

test('axis labels are distinct and exact over narrow ranges, for every unit the charts use', async () => {
  const u = await units();
  const cases: [string, Parameters<Units['tickLabels']>[1], number[], string[]][] = [
    ['MB', u.megabytes, ticks(50.5, 0.5, 3), ['50.5 MB', '51.0 MB', '51.5 MB']],
    ['MB, finer', u.megabytes, ticks(50.6, 0.2, 5), ['50.6 MB', '50.8 MB', '51.0 MB', '51.2 MB', '51.4 MB']],
    ['ms', u.millis, ticks(20, 0.25, 5), ['20.00 ms', '20.25 ms', '20.50 ms', '20.75 ms', '21.00 ms']],
    ['%', u.percent, ticks(40, 0.5, 3), ['40.0%', '40.5%', '41.0%']],
    ['% (1 decimal)', u.percent1, ticks(2, 0.02, 4), ['2.00%', '2.02%', '2.04%', '2.06%']],
    ['load', u.loadAvg, ticks(0.5, 0.001, 3), ['0.500', '0.501', '0.502']],
    ['bytes/s', u.bytesRate, ticks(12_000, 200, 3), ['12.0 kB/s', '12.2 kB/s', '12.4 kB/s']],
    ['bytes/s across a unit', u.bytesRate, ticks(900, 50, 4), ['900.0 B/s', '950.0 B/s', '1.00 kB/s', '1.05 kB/s']],
    ['ms, an increment of 2.5', u.millis, ticks(20, 2.5, 3), ['20.0 ms', '22.5 ms', '25.0 ms']],
  ];
  for (const [what, unit, at, expected] of cases) assert.deepEqual(u.tickLabels(at, unit), expected, what);
});

test('labels keep the unit\'s usual precision when it already tells the ticks apart', async () => {
  const u = await units();
  assert.deepEqual(u.tickLabels([0, 50, 100], u.percent), ['0%', '50%', '100%']);
  assert.deepEqual(u.tickLabels([100, 200, 300], u.megabytes), ['100 MB', '200 MB', '300 MB']);
  assert.deepEqual(u.tickLabels([3000, 3500, 4000], u.bytesRate), ['3.0 kB/s', '3.5 kB/s', '4.0 kB/s']);
  assert.deepEqual(u.tickLabels([10, 20, 30, 40], u.count), ['10', '20', '30', '40']);
  assert.deepEqual(u.tickLabels([], u.millis), []);
  // Tooltips and legends: the usual precision.
  assert.equal(u.megabytes(50.6), '51 MB');
  assert.equal(u.megabytes(null), '–');
});

test('counts are ticked at whole numbers only', async () => {
  const u = await units();
  assert.equal(u.count.integer, true);
  assert.equal(u.megabytes.integer, undefined);
  assert.ok(u.INTEGER_INCRS.every((x) => Number.isInteger(x) && x >= 1), 'no fractional increments');
  assert.deepEqual(u.INTEGER_INCRS.slice(0, 6), [1, 2, 5, 10, 20, 50]);
});
