// The sampler actor: one MetricSample per `collection_interval`, stamped with the wall-clock tick.
//
//   start ──► baseline read (≤ 5 s before the first tick) ──► tick ──► read ──► METRIC ──► tick …
//
// Reads are procfs files (synchronous: the kernel generates them from memory in microseconds, so
// an async round trip through the thread pool would cost more than it saves) and fs.statfs
// (asynchronous, bounded, because a hung network mount blocks statfs indefinitely). No child
// processes. Without /proc (macOS, development) the `os` module supplies CPU, memory, load and
// uptime; I/O rates and the per-mount list are then null/empty.

import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { statfs } from '../fs-async.js';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Actor, ActorContext, ActorFactory, CollectorsStart } from '../../supervisor/actor.js';
import type { CollectorMessage, ControlMessage, MetricSample, MountUsage } from '../../supervisor/messages.js';
import {
  buildSample, fsUsageFromStatfs, mountUsage, parseDiskstats, parseLoadavg, parseMeminfo, parseMounts,
  parseNetDev, parseProcStat, parseUptime, selectInterfaces, selectMounts, selectWholeDisks,
  type CpuTimes, type FsUsage, type ProcReading,
} from './procfs.js';
import { startTicker, type Ticker } from './schedule.js';
import { buildAppSample, countRestart, pageSizeFrom, type AppReading, type MainProcess } from './app-procfs.js';
import { AppReader } from './app-reader.js';

type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type SamplerLog = (level: LogLevel, message: string, context?: Record<string, unknown>) => void;

export interface HostReaderOptions {
  procRoot?: string;
  sysRoot?: string;
  /** Deadline for one statfs call; a mount that misses it is skipped until that call returns. */
  statfsTimeoutMs?: number;
  log?: SamplerLog;
}

/** The sysfs classification caches are bounded: veth names come and go on container hosts. */
const MAX_CACHED_NAMES = 1024;

/**
 * Reads the host. Holds only what must survive between samples: which devices are virtual, which
 * statfs calls are still hanging, which warnings were already logged.
 */
export class HostReader {
  readonly mode: 'procfs' | 'os';
  private readonly procRoot: string;
  private readonly sysRoot: string;
  private readonly statfsTimeoutMs: number;
  private readonly log: SamplerLog;
  private readonly warned = new Set<string>();
  private readonly blockKind = new Map<string, 'whole' | 'virtual' | 'partition'>();
  private readonly netVirtual = new Map<string, boolean>();
  private readonly hungStatfs = new Set<string>();
  private readonly sysBlockReadable: boolean;

  constructor(options: HostReaderOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.sysRoot = options.sysRoot ?? '/sys';
    this.statfsTimeoutMs = options.statfsTimeoutMs ?? 2000;
    this.log = options.log ?? (() => {});
    this.mode = this.readText('stat', true) === null ? 'os' : 'procfs';
    let sysBlock = false;
    try {
      sysBlock = readdirSync(`${this.sysRoot}/block`).length > 0;
    } catch {
      sysBlock = false;
    }
    this.sysBlockReadable = sysBlock;
  }

  /** One synchronous read of every counter (about a millisecond). */
  read(): ProcReading {
    if (this.mode === 'os') return this.readFromOs();
    const atMs = performance.now();
    const stat = this.readText('stat');
    const meminfo = this.readText('meminfo');
    const diskstats = this.readText('diskstats');
    const netdev = this.readText('net/dev');
    const loadavg = this.readText('loadavg');
    const uptime = this.readText('uptime');
    const disks = diskstats === null ? null : parseDiskstats(diskstats);
    const net = netdev === null ? null : parseNetDev(netdev);
    return {
      atMs,
      cpu: stat === null ? null : parseProcStat(stat),
      mem: meminfo === null ? null : parseMeminfo(meminfo),
      disks: disks && selectWholeDisks(disks, this.sysBlockReadable ? this.classifyDisks(disks.map((d) => d.name)) : null),
      net: net && selectInterfaces(net, this.classifyInterfaces(net.map((n) => n.name))),
      load: loadavg === null ? null : parseLoadavg(loadavg),
      uptimeSeconds: uptime === null ? null : parseUptime(uptime),
    };
  }

  /** Usage of `diskPath`'s filesystem and of every real mount. */
  async usage(diskPath: string): Promise<{ disk: FsUsage | null; mounts: MountUsage[] }> {
    const mountsText = this.mode === 'procfs' ? this.readText('mounts') : null;
    const entries = mountsText === null ? [] : selectMounts(parseMounts(mountsText));
    // diskPath is usually "/" and a mount too: one statfs per distinct path.
    const paths = [...new Set([diskPath, ...entries.map((e) => e.mount)])];
    const results = await Promise.all(paths.map((p) => this.statfsBounded(p)));
    const byPath = new Map(paths.map((p, i) => [p, results[i] ?? null]));
    const mounts: MountUsage[] = [];
    for (const e of entries) {
      const u = byPath.get(e.mount);
      if (u) mounts.push(mountUsage(e, u));
    }
    const disk = byPath.get(diskPath);
    return { disk: disk ?? null, mounts };
  }

  private readText(file: string, quiet = false): string | null {
    try {
      return readFileSync(`${this.procRoot}/${file}`, 'latin1');
    } catch (err) {
      if (!quiet) this.warnOnce(`read:${file}`, `cannot read ${this.procRoot}/${file}; its fields are reported as null`,
        { code: (err as NodeJS.ErrnoException).code ?? String(err) });
      return null;
    }
  }

  private classifyDisks(names: string[]) {
    if (this.blockKind.size > MAX_CACHED_NAMES) this.blockKind.clear();
    const wholeDiskNames = new Set<string>();
    const virtualNames = new Set<string>();
    for (const name of names) {
      let kind = this.blockKind.get(name);
      if (!kind) {
        try {
          // /sys/block lists whole disks only; its entries link into /sys/devices, where
          // loop, dm, md and zram live under /devices/virtual/.
          kind = readlinkSync(`${this.sysRoot}/block/${name}`).includes('/devices/virtual/') ? 'virtual' : 'whole';
        } catch {
          kind = 'partition';
        }
        this.blockKind.set(name, kind);
      }
      if (kind !== 'partition') wholeDiskNames.add(name);
      if (kind === 'virtual') virtualNames.add(name);
    }
    return { wholeDiskNames, virtualNames };
  }

  private classifyInterfaces(names: string[]): Set<string> | null {
    if (this.netVirtual.size > MAX_CACHED_NAMES) this.netVirtual.clear();
    const virtualNames = new Set<string>();
    for (const name of names) {
      let virtual = this.netVirtual.get(name);
      if (virtual === undefined) {
        try {
          virtual = readlinkSync(`${this.sysRoot}/class/net/${name}`).includes('/devices/virtual/');
        } catch {
          // Interface gone since /proc/net/dev was read, or no /sys: counted like a physical one.
          virtual = false;
        }
        this.netVirtual.set(name, virtual);
      }
      if (virtual) virtualNames.add(name);
    }
    return virtualNames;
  }

  private async statfsBounded(path: string): Promise<FsUsage | null> {
    if (this.hungStatfs.has(path)) return null;
    let timer: NodeJS.Timeout | undefined;
    const call = statfs(path).then(
      (s) => fsUsageFromStatfs(s),
      (err: NodeJS.ErrnoException) => {
        this.warnOnce(`statfs:${path}`, `statfs ${path} failed; it is left out`, { code: err.code ?? String(err) });
        return null;
      },
    );
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.statfsTimeoutMs);
      timer.unref();
    });
    const result = await Promise.race([call, timeout]);
    clearTimeout(timer);
    if (result !== 'timeout') return result;
    // The call keeps a thread-pool thread until the kernel answers; issuing more would exhaust
    // the pool (and stall DNS lookups of the prober), so the mount is skipped until it returns.
    this.hungStatfs.add(path);
    this.log('warn', `statfs ${path} did not answer within ${this.statfsTimeoutMs} ms (hung network mount?); skipping it until it does`);
    void call.finally(() => {
      this.hungStatfs.delete(path);
      this.log('info', `statfs ${path} answered again`);
    });
    return null;
  }

  private readFromOs(): ProcReading {
    const cpus = os.cpus();
    let cpu: CpuTimes | null = null;
    if (cpus.length) {
      cpu = { user: 0, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq: 0, steal: 0 };
      for (const c of cpus) {
        cpu.user += c.times.user;
        cpu.nice += c.times.nice;
        cpu.system += c.times.sys;
        cpu.idle += c.times.idle;
        cpu.irq += c.times.irq;
      }
    }
    const totalKb = Math.floor(os.totalmem() / 1024);
    // os.freemem() is MemAvailable on Linux but "free" pages on macOS, so memory looks fuller there.
    const freeKb = Math.floor(os.freemem() / 1024);
    const load = os.loadavg();
    return {
      atMs: performance.now(),
      cpu,
      mem: { totalKb, availableKb: freeKb, availableEstimated: true, swapTotalKb: 0, swapFreeKb: 0 },
      disks: null,
      net: null,
      // Windows reports [0, 0, 0]: that is "unknown", not "idle".
      load: process.platform === 'win32' ? null : [load[0]!, load[1]!, load[2]!],
      uptimeSeconds: os.uptime(),
    };
  }

  private warnOnce(key: string, message: string, context?: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log('warn', message, context);
  }
}

export interface SampleOnceOptions extends HostReaderOptions {
  /** Filesystem reported as diskPercent/diskGb. Default '/'. */
  diskPath?: string;
  /** Window over which CPU and I/O rates are measured. Default 1000 ms. */
  windowMs?: number;
}

/** One sample now, with rates measured over `windowMs` (for `observ doctor` and the CLI). */
export async function sampleOnce(options: SampleOnceOptions = {}): Promise<MetricSample> {
  const reader = new HostReader(options);
  const windowMs = options.windowMs ?? 1000;
  const baseline = reader.read();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const cur = reader.read();
  const { disk, mounts } = await reader.usage(options.diskPath ?? '/');
  // Timers may fire a millisecond early: the window just waited must count as long enough.
  return buildSample({ timestampMs: Date.now(), prev: baseline, cur, disk, mounts, minRateWindowMs: Math.min(500, windowMs * 0.9) });
}

export interface SamplerTuning extends HostReaderOptions {
  /** How long before the first tick the baseline read is taken. Default min(5 s, interval / 2). */
  baselineLeadMs?: number;
  /** Rates over a shorter window are reported as null. Default 500 ms. */
  minRateWindowMs?: number;
  /** Overrides collectionInterval (tests). */
  intervalMs?: number;
}

class Sampler implements Actor {
  readonly name = 'sampler' as const;
  private readonly intervalMs: number;
  private readonly diskPath: string;
  private reader: HostReader | null = null;
  private ticker: Ticker | null = null;
  private baselineTimer: NodeJS.Timeout | null = null;
  private prev: ProcReading | null = null;
  /** The app's own processes (null without /proc). */
  private app: { reader: AppReader; prev: AppReading | null; main: MainProcess | null; pageSize: number } | null = null;
  private inFlight: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private stopped = false;

  private readonly config: CollectorsStart['config'];

  constructor(start: CollectorsStart, private readonly ctx: ActorContext, private readonly tuning: SamplerTuning) {
    this.config = start.config;
    this.intervalMs = tuning.intervalMs ?? start.config.collectionInterval * 1000;
    this.diskPath = start.config.diskPath;
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    if (this.ctx.signal.aborted) {
      await this.stop();
      return;
    }
    this.reader = new HostReader({ ...this.tuning, log: (level, message, context) => this.log(level, message, context) });
    if (this.reader.mode === 'os') {
      this.log('info', 'no /proc on this platform: CPU, memory, load and uptime come from the os module; I/O rates, mounts and the app\'s processes are not reported');
    } else {
      const { app, service, releaseDir } = this.config;
      const procRoot = this.tuning.procRoot ?? '/proc';
      let pageSize = 4096;
      try { pageSize = pageSizeFrom(process.memoryUsage.rss(), readFileSync(`${procRoot}/self/statm`, 'latin1')); } catch { /* 4 KiB */ }
      const reader = new AppReader({ app, service, releaseDir, procRoot,
        log: (level, message, context) => this.log(level, message, context) });
      this.app = { reader, prev: null, main: null, pageSize };
      const { source } = reader.resolve();
      this.log('info', source.kind === 'unit' ? `app processes: systemd unit ${source.unit} (${source.via})`
        : `app processes: no unit ${reader.unit}; the processes whose working directory is under ${source.dir}`);
    }
    this.ctx.signal.addEventListener('abort', () => void this.stop(), { once: true });
    this.ticker = startTicker({
      intervalMs: this.intervalMs,
      onTick: (tickMs) => this.onTick(tickMs),
      onSkipped: (skipped, tickMs) => this.log('warn', `${skipped} sample tick(s) missed (event loop blocked or machine suspended)`,
        { resumedAt: new Date(tickMs).toISOString() }),
    });
    // The first sample's rates come from this baseline, taken shortly before the first tick, so
    // they cover a real window instead of "since boot" or "since zero".
    const first = this.ticker.nextTickMs!;
    const lead = this.tuning.baselineLeadMs ?? Math.min(5000, this.intervalMs / 2);
    const wait = first - lead - Date.now();
    if (wait <= 0) this.takeBaseline();
    else {
      this.baselineTimer = setTimeout(() => this.takeBaseline(), wait);
    }
  }

  handle(message: ControlMessage): void {
    // The sampler has no use for COMMITTED or tailing flow control; STOP arrives as stop().
    void message;
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopped = true;
    this.ticker?.stop();
    if (this.baselineTimer) clearTimeout(this.baselineTimer);
    this.baselineTimer = null;
    // A sample already being read is bounded by the statfs deadline; it is handed over.
    this.stopping = (this.inFlight ?? Promise.resolve()).then(() => {});
    return this.stopping;
  }

  private takeBaseline(): void {
    this.baselineTimer = null;
    if (this.stopped || this.prev) return;
    this.prev = this.reader!.read();
    if (this.app) this.app.prev = this.app.reader.read();
  }

  private onTick(tickMs: number): void {
    if (this.stopped) return;
    if (this.inFlight) {
      this.log('warn', 'previous sample still running at the next tick; this tick is skipped', { tick: new Date(tickMs).toISOString() });
      return;
    }
    this.inFlight = this.sampleAt(tickMs)
      .catch((err: unknown) => this.log('error', `sample failed: ${(err as Error)?.message ?? err}`, { stack: (err as Error)?.stack }))
      .finally(() => {
        this.inFlight = null;
      });
  }

  private async sampleAt(tickMs: number): Promise<void> {
    const reader = this.reader!;
    const cur = reader.read();
    const { disk, mounts } = await reader.usage(this.diskPath);
    const sample = buildSample({ timestampMs: tickMs, prev: this.prev, cur, disk, mounts, minRateWindowMs: this.tuning.minRateWindowMs });
    if (this.app) sample.app = this.sampleApp(this.prev, cur);
    this.prev = cur;
    this.send({ type: 'METRIC', sample });
  }

  private sampleApp(hostPrev: ProcReading | null, hostCur: ProcReading) {
    const app = this.app!;
    const cur = app.reader.read();
    const { restarts, last } = countRestart(app.main, cur);
    app.main = last;
    // The same minimum window as the host's rates: a CPU share over a few milliseconds is noise.
    const windowOk = app.prev !== null && cur.atMs - app.prev.atMs >= (this.tuning.minRateWindowMs ?? 500);
    const sample = buildAppSample({ prev: windowOk ? app.prev : null, cur, hostPrev: hostPrev?.cpu ?? null, hostCur: hostCur.cpu, pageSize: app.pageSize, restarts });
    app.prev = cur;
    return sample;
  }

  private send(message: CollectorMessage): void {
    this.ctx.send(message);
  }

  private log(level: LogLevel, message: string, context?: Record<string, unknown>): void {
    this.send({ type: 'LOG', level, actor: 'sampler', message, ...(context ? { context } : {}) });
  }
}

/** The sampler actor. `tuning` is for tests and benchmarks; the agent passes none. */
export function createSamplerWith(tuning: SamplerTuning): ActorFactory {
  return (start, ctx) => new Sampler(start, ctx, tuning);
}

export const createSampler: ActorFactory = createSamplerWith({});
