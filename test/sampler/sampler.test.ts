import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import type { MetricSample } from '../../src/supervisor/messages.js';
import { HostReader, createSampler, createSamplerWith, sampleOnce } from '../../src/workers/sampler/sampler.js';
import { parseNetDev } from '../../src/workers/sampler/procfs.js';
import { agentConfig, recordingContext } from './helpers.js';

const linux = existsSync('/proc/stat');
/**
 * Start just after a whole second, so the baseline read (400 ms before the first 1 s tick) has
 * its full window; started closer to a tick, the first sample's rates are null by design.
 */
async function justAfterWholeSecond(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
}

const samples = (ctx: ReturnType<typeof recordingContext>) =>
  ctx.messages.flatMap((m) => (m.type === 'METRIC' ? [m.sample] : []));

function assertSane(s: MetricSample): void {
  for (const key of ['cpuPercent', 'cpuUser', 'cpuSystem', 'cpuIowait', 'cpuSteal', 'memoryPercent', 'diskPercent'] as const) {
    const v = s[key];
    assert.ok(v !== null && v >= 0 && v <= 100, `${key} = ${v}`);
  }
  assert.ok(s.memoryMb! > 0 && s.memoryMb! < os.totalmem() / 2 ** 20, `memoryMb ${s.memoryMb}`);
  assert.ok(s.memoryAvailableMb! > 0);
  assert.ok(s.diskGb! > 0 && s.diskFreeGb! >= 0);
  assert.ok(s.loadAvg1m! >= 0 && s.loadAvg5m! >= 0 && s.loadAvg15m! >= 0);
  assert.ok(s.uptimeSeconds! > 0 && s.uptimeSeconds! <= os.uptime() + 1);
  for (const key of ['diskReadBps', 'diskWriteBps', 'netRxBps', 'netTxBps'] as const) {
    assert.ok(s[key] === null || s[key]! >= 0, `${key} = ${s[key]}`);
  }
  assert.ok(s.mounts.some((m) => m.mount === '/'), 'root is among the mounts');
  assert.ok(s.mounts.every((m) => !['proc', 'sysfs', 'tmpfs', 'cgroup', 'cgroup2', 'devtmpfs', 'squashfs'].includes(m.fsType)));
}

test('samples the real host at aligned ticks with values in sane ranges', { skip: !linux && 'needs /proc' }, async (t) => {
  const ctx = recordingContext();
  const actor = createSamplerWith({ intervalMs: 1000, baselineLeadMs: 400, minRateWindowMs: 100 })({ config: agentConfig(), checkpoints: [] }, ctx);
  t.after(() => actor.stop());
  await justAfterWholeSecond();
  await actor.start();
  await ctx.waitFor((m) => m.filter((x) => x.type === 'METRIC').length >= 2, 5000);
  await actor.stop();
  const [first, second] = samples(ctx);
  for (const s of [first!, second!]) {
    assertSane(s);
    assert.equal(Date.parse(s.timestamp) % 1000, 0, `${s.timestamp} is on a whole second`);
  }
  assert.equal(Date.parse(second!.timestamp) - Date.parse(first!.timestamp), 1000);
  // The baseline read before the first tick gives the first sample real rates.
  assert.notEqual(first!.cpuPercent, null);
  assert.notEqual(first!.netRxBps, null);
});

test('never reports a first-sample rate against zero', { skip: !linux && 'needs /proc' }, async (t) => {
  const ctx = recordingContext();
  const actor = createSamplerWith({ intervalMs: 1000, baselineLeadMs: 400, minRateWindowMs: 100 })({ config: agentConfig(), checkpoints: [] }, ctx);
  t.after(() => actor.stop());
  await justAfterWholeSecond();
  await actor.start();
  await ctx.waitFor((m) => m.some((x) => x.type === 'METRIC'), 3000);
  await actor.stop();
  const first = samples(ctx)[0]!;
  // A rate "since zero" over the ≤ 1 s window would be the interfaces' whole byte counters per second.
  const totals = parseNetDev(readFileSync('/proc/net/dev', 'latin1')).filter((i) => i.name !== 'lo');
  const rxTotal = totals.reduce((n, i) => n + i.rxBytes, 0);
  assert.ok(first.netRxBps !== null && first.netRxBps >= 0);
  if (rxTotal > 1_000_000) assert.ok(first.netRxBps < rxTotal, `first netRxBps ${first.netRxBps} vs counter ${rxTotal}`);
  assert.ok(first.cpuPercent !== null && first.cpuPercent >= 0 && first.cpuPercent <= 100);
});

test('reports the disk usage of diskPath as statfs and df see it', { skip: !linux && 'needs /proc' }, async () => {
  const sample = await sampleOnce({ diskPath: '/', windowMs: 200 });
  const s = await statfs('/');
  const usedGb = ((s.blocks - s.bfree) * s.bsize) / 2 ** 30;
  assert.ok(Math.abs(sample.diskGb! - usedGb) < 0.5, `${sample.diskGb} vs statfs ${usedGb}`);
  let df: string | null = null;
  try {
    df = execFileSync('df', ['-P', '-B1', '/'], { encoding: 'utf8' });
  } catch {
    df = null;
  }
  if (df) {
    const [, , used, avail, usePct] = df.trim().split('\n').at(-1)!.trim().split(/\s+/);
    assert.ok(Math.abs(sample.diskGb! - Number(used) / 2 ** 30) < 0.5, `${sample.diskGb} vs df ${used}`);
    assert.ok(Math.abs(sample.diskFreeGb! - Number(avail) / 2 ** 30) < 0.5, `${sample.diskFreeGb} vs df ${avail}`);
    // df's Use% is used / (used + avail), rounded up to a whole percent. Other tests write to the same disk
    // between the sample and df, so the figures are compared within half a point, not to the same whole percent;
    // counting reserved blocks as free or used would be off by whole points on ext4.
    const dfExact = (Number(used) / (Number(used) + Number(avail))) * 100;
    assert.ok(Math.abs(sample.diskPercent! - dfExact) < 0.5, `${sample.diskPercent}% vs df ${dfExact}%`);
    assert.ok(Math.abs(Math.ceil(sample.diskPercent!) - Number(usePct!.replace('%', ''))) <= 1, `${sample.diskPercent}% vs df ${usePct}`);
  }
});

test('samples once on demand with rates over the given window', { skip: !linux && 'needs /proc' }, async () => {
  const sample = await sampleOnce({ windowMs: 300 });
  assertSane(sample);
  assert.ok(Math.abs(Date.parse(sample.timestamp) - Date.now()) < 5000);
});

test('falls back to the os module where there is no /proc', async () => {
  const reader = new HostReader({ procRoot: '/nonexistent-proc' });
  assert.equal(reader.mode, 'os');
  const r = reader.read();
  assert.ok(r.cpu && r.cpu.idle > 0);
  assert.equal(r.mem!.totalKb, Math.floor(os.totalmem() / 1024));
  assert.equal(r.disks, null);
  assert.equal(r.net, null);
  assert.ok(r.uptimeSeconds! > 0);
  const usage = await reader.usage('/');
  assert.ok(usage.disk && usage.disk.usedBytes > 0);
  assert.deepEqual(usage.mounts, []);
});

test('stops idempotently and sends nothing after stop resolves', async (t) => {
  const ctx = recordingContext();
  const actor = createSampler({ config: agentConfig({ collectionInterval: 10 }), checkpoints: [] }, ctx);
  t.after(() => actor.stop());
  await actor.start();
  const first = actor.stop();
  assert.equal(actor.stop(), first);
  await first;
  const count = ctx.messages.length;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ctx.messages.length, count);
  assert.equal(samples(ctx).length, 0);
});

test('stops when the context signal aborts', async () => {
  const ctx = recordingContext();
  const actor = createSamplerWith({ intervalMs: 200, baselineLeadMs: 100 })({ config: agentConfig(), checkpoints: [] }, ctx);
  await actor.start();
  ctx.controller.abort();
  await actor.stop();
  const count = samples(ctx).length;
  await new Promise((r) => setTimeout(r, 450));
  assert.equal(samples(ctx).length, count);
});
