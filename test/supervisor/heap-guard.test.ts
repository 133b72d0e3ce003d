// The heap guard: a full collection once the used heap has grown a step past its live size, never
// more often than that; the real V8 heap of a child process under --expose-gc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HeapGuard } from '../../src/supervisor/heap-guard.js';

test('collects once the heap has grown past the step over the lowest size seen, then starts again from what survived', () => {
  let used = 10;
  let collected = 0;
  const g = new HeapGuard({ stepBytes: 5, gc: () => { collected++; used = 12; }, heapUsed: () => used });
  assert.equal(g.check(), false);
  used = 8; // V8 collected by itself: the floor follows
  assert.equal(g.check(), false);
  used = 13;
  assert.equal(g.check(), false, '5 over the floor of 8 is not past the step');
  used = 14;
  assert.equal(g.check(), true);
  assert.equal(collected, 1);
  used = 16;
  assert.equal(g.check(), false, 'the floor is now the 12 that survived');
  used = 17.5;
  assert.equal(g.check(), true);
  assert.equal(g.collections, 2);
});

test('without a collector (no --expose-gc) it does nothing', () => {
  const g = new HeapGuard({ gc: null, heapUsed: () => 1e9 });
  assert.equal(g.active, false);
  assert.equal(g.check(), false);
  g.start();
  g.stop();
});

test('in a real process it keeps the heap near its live size where V8 alone lets garbage pile up', () => {
  const guard = fileURLToPath(new URL('../../src/supervisor/heap-guard.js', import.meta.url));
  // Long-lived garbage: objects that survive the young generation (a 1 MB semi-space) and die later,
  // like a batch of lines held until its flush. Checked after every batch instead of once a second.
  const script = `
    const { HeapGuard } = await import(${JSON.stringify(guard)});
    const v8 = await import('node:v8');
    const g = process.env.GUARD ? new HeapGuard() : null;
    let maxOld = 0;
    for (let round = 0; round < 150; round++) {
      let batch = [];
      for (let i = 0; i < 4000; i++) batch.push({ line: 'request ' + i + ' ' + round, at: Date.now() });
      for (let k = 0; k < 20; k++) { let tmp = []; for (let i = 0; i < 2000; i++) tmp.push({ i }); tmp = null; }
      batch = null;
      g?.check();
      const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
      maxOld = Math.max(maxOld, old);
    }
    console.log(JSON.stringify({ maxOld, collections: g?.collections ?? 0 }));`;
  const run = (guarded: boolean) => {
    const r = spawnSync(process.execPath, ['--max-semi-space-size=1', '--expose-gc', '--input-type=module', '-e', script],
      { encoding: 'utf8', env: { ...process.env, GUARD: guarded ? '1' : '' } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { maxOld: number; collections: number };
  };
  const alone = run(false);
  const guarded = run(true);
  assert.ok(guarded.collections > 0, 'the guard collected');
  assert.ok(guarded.maxOld < alone.maxOld - 2 * 1024 * 1024,
    `old space at most ${(guarded.maxOld / 2 ** 20).toFixed(1)} MB with the guard against ${(alone.maxOld / 2 ** 20).toFixed(1)} MB without`);
});
