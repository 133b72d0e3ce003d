import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CollectorMessage, ProbeResult } from '../../src/supervisor/messages.js';
import { createProber } from '../../src/workers/prober/prober.js';
import { jitterOffsetMs } from '../../src/workers/sampler/schedule.js';
import { agentConfig, healthCheck, recordingContext } from '../sampler/helpers.js';
import { startServer } from './servers.js';

const probes = (messages: CollectorMessage[], url: string): ProbeResult[] =>
  messages.flatMap((m) => (m.type === 'PROBE' && m.result.url === url ? [m.result] : []));

test('a hung check does not delay another check, whose results keep arriving each interval', async (t) => {
  const hung = await startServer(t, () => { /* never answers */ });
  const fine = await startServer(t, (_req, res) => res.end('ok'));
  const hungUrl = `${hung.base}/health`;
  const fineUrl = `${fine.base}/health`;
  const ctx = recordingContext();
  const actor = createProber({ config: agentConfig({ healthChecks: [healthCheck(hungUrl), healthCheck(fineUrl)] }), checkpoints: [] }, ctx);
  t.after(() => actor.stop());
  await actor.start();
  await ctx.waitFor((m) => probes(m, fineUrl).length >= 3 && probes(m, hungUrl).length >= 1, 6000);
  await actor.stop();

  const fineResults = probes(ctx.messages, fineUrl);
  assert.ok(fineResults.every((r) => r.success && r.statusCode === 200));
  // One result per tick: each timestamp is nearest to a different tick of this URL's phase.
  const seconds = fineResults.map((r) => Math.round((Date.parse(r.timestamp) - jitterOffsetMs(fineUrl, 1000)) / 1000));
  assert.equal(new Set(seconds).size, seconds.length);
  for (const r of probes(ctx.messages, hungUrl)) {
    assert.deepEqual([r.success, r.statusCode, r.errorMessage], [false, null, 'timeout after 1000 ms']);
  }
});

test('stop aborts in-flight probes, discards their results and is idempotent', async (t) => {
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => { arrived = resolve; });
  const hung = await startServer(t, () => arrived());
  const url = `${hung.base}/slow`;
  const ctx = recordingContext();
  const actor = createProber({ config: agentConfig({ healthChecks: [healthCheck(url, { interval: 1, timeout: 1 })] }), checkpoints: [] }, ctx);
  t.after(() => actor.stop());
  await actor.start();
  await requestArrived;
  const stopping = actor.stop();
  assert.equal(actor.stop(), stopping);
  await stopping;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(hung.closedSockets, 1, 'the hung connection was closed by stop()');
  assert.equal(probes(ctx.messages, url).length, 0, 'an aborted probe is not reported');
  const count = ctx.messages.length;
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(ctx.messages.length, count, 'nothing is sent after stop resolves');
});

test('starts and stops with no health checks configured', async () => {
  const ctx = recordingContext();
  const actor = createProber({ config: agentConfig({ healthChecks: [] }), checkpoints: [] }, ctx);
  await actor.start();
  await actor.stop();
  assert.equal(ctx.messages.filter((m) => m.type === 'PROBE').length, 0);
});
