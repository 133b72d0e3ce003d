import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fnv1a32, jitterOffsetMs, nextAlignedTick, startTicker } from '../../src/workers/sampler/schedule.js';

test('aligns ticks to wall-clock multiples of the interval', () => {
  const t = Date.UTC(2026, 1, 8, 20, 30, 17, 250);
  assert.equal(nextAlignedTick(t, 60_000), Date.UTC(2026, 1, 8, 20, 31, 0));
  assert.equal(nextAlignedTick(t, 10_000), Date.UTC(2026, 1, 8, 20, 30, 20));
  assert.equal(nextAlignedTick(t, 3_600_000), Date.UTC(2026, 1, 8, 21, 0, 0));
});

test('returns the following tick when now is exactly on a tick', () => {
  const t = Date.UTC(2026, 1, 8, 20, 30, 0);
  assert.equal(nextAlignedTick(t, 60_000), t + 60_000);
});

test('shifts ticks by an offset', () => {
  const t = Date.UTC(2026, 1, 8, 20, 30, 0);
  assert.equal(nextAlignedTick(t, 30_000, 1_234), t + 1_234);
  assert.equal(nextAlignedTick(t + 1_234, 30_000, 1_234), t + 31_234);
});

test('rejects a non-positive interval', () => {
  assert.throws(() => nextAlignedTick(0, 0), RangeError);
});

test('derives a per-URL phase that is stable and bounded by a tenth of the interval', () => {
  const urls = Array.from({ length: 200 }, (_, i) => `http://localhost:${8000 + i}/health`);
  const offsets = urls.map((u) => jitterOffsetMs(u, 30_000));
  assert.deepEqual(urls.map((u) => jitterOffsetMs(u, 30_000)), offsets);
  assert.ok(offsets.every((o) => Number.isInteger(o) && o >= 0 && o < 3_000));
  assert.ok(new Set(offsets).size > 150, 'different URLs spread out');
  assert.equal(jitterOffsetMs('x', 5), 0);
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
});

test('fires on aligned ticks and stops', async (t) => {
  const ticks: number[] = [];
  let ticker!: ReturnType<typeof startTicker>;
  await new Promise<void>((resolve) => {
    ticker = startTicker({
      intervalMs: 100,
      onTick: (tick) => {
        ticks.push(tick);
        if (ticks.length === 3) resolve();
      },
    });
    t.after(() => ticker.stop());
  });
  ticker.stop();
  assert.equal(ticker.nextTickMs, null);
  assert.ok(ticks.every((tick) => tick % 100 === 0));
  assert.deepEqual(ticks.slice(1).map((tick, i) => tick - ticks[i]!), [100, 100]);
});

test('skips ticks missed while the event loop was blocked instead of bursting', async (t) => {
  const ticks: number[] = [];
  const skipped: number[] = [];
  const ticker = startTicker({
    intervalMs: 50,
    onTick: (tick) => {
      ticks.push(tick);
      ticker.stop();
    },
    onSkipped: (n) => skipped.push(n),
  });
  t.after(() => ticker.stop());
  const first = ticker.nextTickMs!;
  const until = Date.now() + 230;
  while (Date.now() < until) { /* block the loop for more than four intervals */ }
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(ticks.length, 1);
  assert.ok(skipped[0]! >= 3, `skipped ${skipped[0]}`);
  assert.equal(ticks[0], first + skipped[0]! * 50, 'stamped with the latest tick, not the missed one');
});
