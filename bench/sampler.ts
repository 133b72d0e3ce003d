// CPU time per metric sample: the sampler's procfs + statfs path, beside two baselines —
// the same procfs files read through fs.promises (the thread-pool route), and one child process
// per sample (what shelling out to `df`, or a library that spawns, costs at the least).
// Prints one JSON object. Usage: node dist/bench/sampler.js [samples=200]

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { HostReader } from '../src/workers/sampler/sampler.js';
import { buildSample, type ProcReading } from '../src/workers/sampler/procfs.js';

const samples = Number(process.argv[2] ?? 200);
const execFileP = promisify(execFile);

/** CPU of reaped children (clock ticks in /proc/self/stat fields 16–17), in microseconds. */
function childrenCpuMicros(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the comm field, field 16 (cutime) is index 13 and 17 (cstime) index 14; USER_HZ is 100 on Linux.
    return (Number(f[13]) + Number(f[14])) * 10_000;
  } catch {
    return 0;
  }
}

interface Figures {
  samples: number;
  cpuMicrosPerSample: number;
  childCpuMicrosPerSample: number;
  wallMsPerSample: number;
  /** CPU share of one core at the default 60 s interval and at the minimum 10 s interval. */
  cpuPercentAt60s: number;
  cpuPercentAt10s: number;
}

async function measure(run: () => Promise<void>): Promise<Figures> {
  for (let i = 0; i < 10; i++) await run(); // warm up JIT and caches
  const child0 = childrenCpuMicros();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < samples; i++) await run();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const child = childrenCpuMicros() - child0;
  const perSample = (cpu.user + cpu.system) / samples;
  const childPerSample = child / samples;
  const total = perSample + childPerSample;
  return {
    samples,
    cpuMicrosPerSample: Math.round(perSample),
    childCpuMicrosPerSample: Math.round(childPerSample),
    wallMsPerSample: Math.round((wall / samples) * 100) / 100,
    cpuPercentAt60s: Math.round((total / 60e6) * 100 * 10_000) / 10_000,
    cpuPercentAt10s: Math.round((total / 10e6) * 100 * 10_000) / 10_000,
  };
}

const reader = new HostReader();
if (reader.mode !== 'procfs') {
  process.stdout.write(`${JSON.stringify({ error: 'no /proc on this platform; the benchmark measures the Linux path' })}\n`);
  process.exit(0);
}

let prev: ProcReading | null = null;
const sampler = await measure(async () => {
  const cur = reader.read();
  const { disk, mounts } = await reader.usage('/');
  buildSample({ timestampMs: Date.now(), prev, cur, disk, mounts, minRateWindowMs: 0 });
  prev = cur;
});

const files = ['stat', 'meminfo', 'diskstats', 'net/dev', 'loadavg', 'uptime', 'mounts'];
const asyncReads = await measure(async () => {
  await Promise.all(files.map((f) => readFile(`/proc/${f}`, 'latin1')));
});

const spawnOne = await measure(async () => {
  await execFileP('df', ['-P', '-B1', '/']);
});

process.stdout.write(`${JSON.stringify({
  scenario: 'sampler CPU time per sample',
  node: process.version,
  sampler_procfs_sync_plus_statfs: sampler,
  baseline_procfs_via_fs_promises_reads_only: asyncReads,
  baseline_one_child_process_df: spawnOne,
}, null, 2)}\n`);
