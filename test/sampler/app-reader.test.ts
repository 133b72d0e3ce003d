// The app's processes, found for real: child processes working in a temporary release dir, and
// child processes moved into cgroups created here (v1 cpuacct + memory + name=systemd, and cgroup2).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppReader } from '../../src/workers/sampler/app-reader.js';
import { buildAppSample, cgroupMounts, countRestart } from '../../src/workers/sampler/app-procfs.js';
import { parseMounts, parseProcStat } from '../../src/workers/sampler/procfs.js';
import { createSamplerWith } from '../../src/workers/sampler/sampler.js';
import { agentConfig, recordingContext } from './helpers.js';
import { cgroupFor, nodeChild as child } from '../helpers/cgroup.js';

const linux = existsSync('/proc/stat');
const mounts = linux ? cgroupMounts(parseMounts(readFileSync('/proc/mounts', 'latin1'))) : null;
const root = process.getuid?.() === 0;

/** A release laid out as deployments are: releases/r1, and `current` a symlink to it. */
function deployment(t: TestContext): { current: string; real: string } {
  const dir = mkdtempSync(join(tmpdir(), 'observ-app-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const real = join(dir, 'shop', 'releases', 'r1');
  mkdirSync(real, { recursive: true });
  symlinkSync(real, join(dir, 'shop', 'current'));
  return { current: join(dir, 'shop', 'current'), real };
}

const IDLE = 'setInterval(() => {}, 1000)';
const BUSY = 'const fs = require("fs"); const fds = [0,1,2,3,4].map(() => fs.openSync(process.execPath, "r")); setTimeout(() => { for (;;) {} }, 100)';

const hostCpu = () => parseProcStat(readFileSync('/proc/stat', 'latin1'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two readings `ms` apart turned into a sample, as the sampler does. */
async function sampleOver(reader: AppReader, ms: number) {
  const h0 = hostCpu();
  const prev = reader.read();
  await sleep(ms);
  const h1 = hostCpu();
  const cur = reader.read();
  return { cur, sample: buildAppSample({ prev, cur, hostPrev: h0, hostCur: h1, pageSize: 4096, restarts: countRestart(null, cur).restarts }) };
}

test('without a unit, the processes working under the release dir are the app (symlink resolved), not the agent itself', { skip: !linux && 'needs /proc' }, async (t) => {
  const { current, real } = deployment(t);
  const idle = await child(t, IDLE, current);
  const busy = await child(t, BUSY, join(real));
  await child(t, IDLE, tmpdir()); // elsewhere: not the app's
  const reader = new AppReader({ app: `observ-none-${process.pid}`, service: null, releaseDir: current });
  assert.deepEqual(reader.resolve().source, { kind: 'cwd', dir: current });
  const { cur, sample } = await sampleOver(reader, 600);
  assert.deepEqual(new Set(cur.pids), new Set([idle.pid, busy.pid]));
  assert.equal(sample.source, `cwd:${current}`);
  assert.equal(sample.processes, 2);
  // One spinning process: some share of the machine (how much depends on what else runs), at most one core's.
  const cores = readFileSync('/proc/stat', 'latin1').split('\n').filter((l) => /^cpu\d/.test(l)).length;
  assert.ok(sample.cpuPercent! > 0.5 && sample.cpuPercent! <= 100 / cores + 5, `cpu ${sample.cpuPercent} on ${cores} cores`);
  assert.ok(sample.rssMb! > 20, `rss ${sample.rssMb}`);
  assert.ok(sample.threads! >= 4, `threads ${sample.threads}`);
  assert.ok(sample.openFiles! >= 10, `open files ${sample.openFiles} (5 opened by the busy child)`);
});

test('the app\'s main process replaced is counted as a restart', { skip: !linux && 'needs /proc' }, async (t) => {
  const { current } = deployment(t);
  const first = await child(t, IDLE, current);
  const reader = new AppReader({ app: `observ-none-${process.pid}`, service: null, releaseDir: current });
  let r = countRestart(null, reader.read());
  assert.equal(r.restarts, 0);
  assert.equal(r.last?.pid, first.pid);
  first.kill('SIGKILL');
  await new Promise((resolve) => first.once('exit', resolve));
  r = countRestart(r.last, reader.read());
  assert.equal(r.restarts, 0, 'stopped, not yet restarted');
  const second = await child(t, IDLE, current);
  r = countRestart(r.last, reader.read());
  assert.equal(r.restarts, 1);
  assert.equal(r.last?.pid, second.pid);
});

const v1Ready = !!(root && mounts?.systemd && mounts.cpuacct && mounts.memory);
test('a unit on cgroup v1: processes from name=systemd, CPU from cpuacct, the unit named in the source', { skip: !v1Ready && 'needs root and cgroup v1 hierarchies' }, async (t) => {
  const unit = `observ-test-${process.pid}-v1.service`;
  const busy = await child(t, BUSY, tmpdir());
  cgroupFor(t, [mounts!.systemd!, mounts!.cpuacct!, mounts!.memory!], `system.slice/${unit}`, busy.pid!);
  const reader = new AppReader({ app: 'shop', service: unit, releaseDir: '/nonexistent' });
  const { source } = reader.resolve();
  assert.equal(source.kind, 'unit');
  assert.match(source.kind === 'unit' ? source.via : '', /cgroup v1 .*\(cpu v1, memory v1\)/);
  const { cur, sample } = await sampleOver(reader, 600);
  assert.deepEqual(cur.pids, [busy.pid]);
  assert.ok(cur.cgroupCpuUsec! > 0, 'the cgroup\'s own CPU counter is read');
  assert.equal(sample.source, `unit:${unit}`);
  assert.ok(sample.cpuPercent! > 0, `cpu ${sample.cpuPercent}`);
  assert.ok(sample.rssMb! > 10 && sample.threads! >= 1);
});

const v2Ready = !!(root && mounts?.unified);
test('a unit on cgroup v2: processes and CPU from the unified hierarchy', { skip: !v2Ready && 'needs root and a cgroup2 mount' }, async (t) => {
  const unit = `observ-test-${process.pid}-v2.service`;
  const busy = await child(t, BUSY, tmpdir());
  cgroupFor(t, [mounts!.unified!], `system.slice/${unit}`, busy.pid!);
  const reader = new AppReader({ app: 'shop', service: unit, releaseDir: '/nonexistent', cgroupMounts: { ...mounts!, systemd: null, cpuacct: null, memory: null } });
  const { source } = reader.resolve();
  assert.match(source.kind === 'unit' ? source.via : '', /cgroup v2 .*cpu v2/);
  const { cur, sample } = await sampleOver(reader, 600);
  assert.deepEqual(cur.pids, [busy.pid]);
  assert.ok(sample.cpuPercent! > 0, `cpu ${sample.cpuPercent}`);
});

test('the default unit {app}.service is used when it exists; a named unit that is not running reports 0 processes, not the release dir', { skip: !v1Ready && !v2Ready && 'needs root and cgroups' }, async (t) => {
  const app = `observ-test-${process.pid}-default`;
  const { current } = deployment(t);
  await child(t, IDLE, current);
  const inUnit = await child(t, IDLE, tmpdir());
  cgroupFor(t, [mounts!.unified ?? mounts!.systemd!], `system.slice/${app}.service`, inUnit.pid!);
  const byDefault = new AppReader({ app, service: null, releaseDir: current });
  assert.deepEqual(byDefault.read().pids, [inUnit.pid]);
  const named = new AppReader({ app, service: `observ-absent-${process.pid}.service`, releaseDir: current });
  const r = named.read();
  assert.deepEqual([r.source.kind, r.pids], ['unit', []]);
});

test('the sampler sends the app beside the host in every sample', { skip: !linux && 'needs /proc' }, async (t) => {
  const { current } = deployment(t);
  const app = await child(t, IDLE, current);
  const ctx = recordingContext();
  const actor = createSamplerWith({ intervalMs: 1000, baselineLeadMs: 400, minRateWindowMs: 100 })(
    { config: agentConfig({ app: `observ-none-${process.pid}`, releaseDir: current }), checkpoints: [] }, ctx);
  t.after(() => actor.stop());
  await actor.start();
  await ctx.waitFor((m) => m.some((x) => x.type === 'METRIC'), 5000);
  await actor.stop();
  const sample = ctx.messages.flatMap((m) => (m.type === 'METRIC' ? [m.sample] : []))[0]!;
  assert.equal(sample.app?.source, `cwd:${current}`);
  assert.equal(sample.app?.processes, 1);
  assert.ok(sample.app!.rssMb! > 10, `rss ${sample.app!.rssMb} of pid ${app.pid}`);
  assert.ok(ctx.messages.some((m) => m.type === 'LOG' && /app processes: no unit .*working directory is under/.test(m.message)));
});
