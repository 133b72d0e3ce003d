// CPU time per metric sample: the sampler's procfs + statfs path, beside two baselines —
// the same procfs files read through fs.promises (the thread-pool route), and one child process
// per sample (what shelling out to `df`, or a library that spawns, costs at the least). The app's
// own processes are measured separately: the working-directory fallback (a scan of every /proc/PID/cwd
// on this machine) and a unit's cgroup (root only: a cgroup is created for the bench's children).
// Prints one JSON object. Usage: node dist/bench/sampler.js [samples=200]

import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { HostReader } from '../src/workers/sampler/sampler.js';
import { buildSample, parseMounts, type ProcReading } from '../src/workers/sampler/procfs.js';
import { AppReader } from '../src/workers/sampler/app-reader.js';
import { buildAppSample, cgroupMounts, countRestart, type AppReading, type MainProcess } from '../src/workers/sampler/app-procfs.js';

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

// The app: 3 idle node processes working in a release dir, found among everything running here.
const release = mkdtempSync(join(tmpdir(), 'observ-bench-app-'));
const children = [0, 1, 2].map(() => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { cwd: release, stdio: 'ignore' }));
await new Promise((r) => setTimeout(r, 1500));
const hostReader = new HostReader();
const measureApp = (reader: AppReader) => {
  let appPrev: AppReading | null = null;
  let main: MainProcess | null = null;
  let hostPrev: ProcReading | null = null;
  return measure(async () => {
    const host = hostReader.read();
    const cur = reader.read();
    const r = countRestart(main, cur);
    main = r.last;
    buildAppSample({ prev: appPrev, cur, hostPrev: hostPrev?.cpu ?? null, hostCur: host.cpu, pageSize: 4096, restarts: r.restarts });
    appPrev = cur;
    hostPrev = host;
  });
};
const processesOnMachine = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
const appCwd = await measureApp(new AppReader({ app: 'bench-none', service: null, releaseDir: release }));
const hostOnly = await measure(async () => { hostReader.read(); });

// The same processes in a unit's cgroup (v2 where mounted, else v1 name=systemd + cpuacct + memory).
let appUnit: Figures | { skipped: string } = { skipped: 'needs root and a cgroup hierarchy' };
const cg = cgroupMounts(parseMounts(readFileSync('/proc/mounts', 'latin1')));
const roots = [cg.unified, ...(cg.unified ? [] : [cg.systemd, cg.cpuacct, cg.memory])].filter((r): r is string => !!r);
const unit = `observ-bench-${process.pid}.service`;
const made: string[] = [];
if (process.getuid?.() === 0 && roots.length) {
  for (const r of roots) {
    for (const dir of [join(r, 'system.slice'), join(r, 'system.slice', unit)]) if (!existsSync(dir)) { mkdirSync(dir); made.push(dir); }
    for (const c of children) writeFileSync(join(r, 'system.slice', unit, 'cgroup.procs'), String(c.pid));
  }
  appUnit = await measureApp(new AppReader({ app: 'bench', service: unit, releaseDir: '/nonexistent' }));
}
for (const c of children) c.kill('SIGKILL');
await new Promise((r) => setTimeout(r, 300));
for (const dir of made.reverse()) { try { rmdirSync(dir); } catch { /* busy */ } }
rmSync(release, { recursive: true, force: true });

process.stdout.write(`${JSON.stringify({
  scenario: 'sampler CPU time per sample',
  node: process.version,
  app_processes: { processesOnMachine, appProcesses: children.length,
    note: 'app figures include one host /proc read (for the CPU share); subtract host_read_only for the app part',
    host_read_only: hostOnly, working_directory_fallback: appCwd, unit_cgroup: appUnit },
  sampler_procfs_sync_plus_statfs: sampler,
  baseline_procfs_via_fs_promises_reads_only: asyncReads,
  baseline_one_child_process_df: spawnOne,
}, null, 2)}\n`);
