// First version of the sampler (procfs + statfs); the collectors issue deepens it.
import { readFileSync, statfsSync } from 'node:fs';
import type { ActorFactory } from '../../supervisor/actor.js';
import type { MetricSample } from '../../supervisor/messages.js';

function cpuTimes(): number[] {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  return line.trim().split(/\s+/).slice(1).map(Number);
}

export function sampleNow(prevCpu: number[] | null, diskPath: string, at: Date): { sample: MetricSample; cpu: number[] } {
  const cpu = cpuTimes();
  let cpuPercent: number | null = null;
  if (prevCpu) {
    const d = cpu.map((v, i) => v - (prevCpu[i] ?? 0));
    const total = d.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (d[3] ?? 0) + (d[4] ?? 0);
    cpuPercent = total > 0 ? ((total - idle) / total) * 100 : 0;
  }
  const mem: Record<string, number> = {};
  for (const l of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(l);
    if (m) mem[m[1]!] = Number(m[2]) * 1024;
  }
  const total = mem.MemTotal ?? 0;
  const avail = mem.MemAvailable ?? 0;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  const fs = statfsSync(diskPath);
  const size = fs.blocks * fs.bsize;
  const free = fs.bavail * fs.bsize;
  const used = size - fs.bfree * fs.bsize;
  const sample: MetricSample = {
    timestamp: at.toISOString(),
    cpuPercent, cpuUser: null, cpuSystem: null, cpuIowait: null, cpuSteal: null,
    memoryPercent: total ? ((total - avail) / total) * 100 : null,
    memoryMb: (total - avail) / 1048576,
    memoryAvailableMb: avail / 1048576,
    swapPercent: null, swapUsedMb: null,
    diskPercent: size ? (used / (used + free)) * 100 : null,
    diskGb: used / 1073741824,
    diskFreeGb: free / 1073741824,
    diskReadBps: null, diskWriteBps: null, netRxBps: null, netTxBps: null,
    loadAvg1m: load[0] ?? null, loadAvg5m: load[1] ?? null, loadAvg15m: load[2] ?? null,
    uptimeSeconds: Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]),
    mounts: [],
  };
  return { sample, cpu };
}

export const createSampler: ActorFactory = (start, ctx) => {
  const intervalMs = start.config.collectionInterval * 1000;
  let timer: NodeJS.Timeout | null = null;
  let prev: number[] | null = null;
  const tick = () => {
    const now = Date.now();
    const next = Math.ceil((now + 1) / intervalMs) * intervalMs;
    timer = setTimeout(() => {
      const r = sampleNow(prev, start.config.diskPath, new Date(next));
      prev = r.cpu;
      ctx.send({ type: 'METRIC', sample: r.sample });
      tick();
    }, next - now);
  };
  return {
    name: 'sampler',
    async start() {
      prev = cpuTimes();
      // First sample soon, so a new agent shows up at once; then aligned to the interval.
      setTimeout(() => {
        if (ctx.signal.aborted) return;
        const r = sampleNow(prev, start.config.diskPath, new Date());
        prev = r.cpu;
        ctx.send({ type: 'METRIC', sample: r.sample });
      }, 1000);
      tick();
    },
    handle() {},
    async stop() { if (timer) clearTimeout(timer); timer = null; },
  };
};
