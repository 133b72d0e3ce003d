// Pure parsers of Linux procfs text and the arithmetic that turns two readings into a sample.
// No I/O here: sampler.ts reads the files and calls these, tests feed them fixture texts.
//
// Units: procfs CPU counters are in clock ticks (only ratios are used, so USER_HZ does not
// matter); /proc/diskstats sectors are always 512 bytes, whatever the device's sector size;
// /proc/meminfo is in KiB. "MB" and "GB" in samples are MiB and GiB, as `free -m` and `df -h` show.

import type { MetricSample, MountUsage } from '../../supervisor/messages.js';

// ───────────────────────────── CPU ─────────────────────────────

/** The aggregate `cpu` line of /proc/stat, in clock ticks. Missing trailing fields (old kernels) are 0. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

export interface CpuPercents {
  /** Busy time: everything except idle and iowait (the usual "CPU %", as top and psutil count it). */
  total: number;
  /** user + nice (guest time is already inside user/nice, so it is not added again). */
  user: number;
  /** system + irq + softirq. */
  system: number;
  iowait: number;
  steal: number;
}

export function parseProcStat(text: string): CpuTimes | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu ')) continue;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    if (f.length < 4 || f.some((n) => !Number.isFinite(n) || n < 0)) return null;
    const at = (i: number) => f[i] ?? 0;
    return { user: at(0), nice: at(1), system: at(2), idle: at(3), iowait: at(4), irq: at(5), softirq: at(6), steal: at(7) };
  }
  return null;
}

function cpuTotal(t: CpuTimes): number {
  return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
}

/**
 * Percentages of CPU time between two readings. Null when no time passed or the counters went
 * backwards as a whole (a reset). A single field going backwards counts as 0 for that field:
 * iowait is documented to decrease occasionally on some kernels, and that is not a reset.
 */
export function cpuPercents(prev: CpuTimes, cur: CpuTimes): CpuPercents | null {
  const d = (k: keyof CpuTimes) => Math.max(0, cur[k] - prev[k]);
  const total = d('user') + d('nice') + d('system') + d('idle') + d('iowait') + d('irq') + d('softirq') + d('steal');
  // A counter reset shows in the other fields; iowait alone may step back (kernel quirk), even by
  // more than a short window's ticks, so it is left out of the reset test.
  if (!(total > 0) || cpuTotal(cur) - cur.iowait < cpuTotal(prev) - prev.iowait) return null;
  const pct = (n: number) => round((n / total) * 100, 2);
  return {
    total: pct(total - d('idle') - d('iowait')),
    user: pct(d('user') + d('nice')),
    system: pct(d('system') + d('irq') + d('softirq')),
    iowait: pct(d('iowait')),
    steal: pct(d('steal')),
  };
}

// ─────────────────────────── memory ────────────────────────────

export interface MemInfo {
  totalKb: number;
  availableKb: number;
  /** True when MemAvailable was missing (kernels before 3.14) and was estimated. */
  availableEstimated: boolean;
  swapTotalKb: number;
  swapFreeKb: number;
}

export function parseMeminfo(text: string): MemInfo | null {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]));
  }
  const total = kb.get('MemTotal');
  if (total === undefined || total <= 0) return null;
  let available = kb.get('MemAvailable');
  let availableEstimated = false;
  if (available === undefined) {
    // Older kernels: free + page cache + reclaimable slab is what `free` used to call available.
    available = (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0) + (kb.get('SReclaimable') ?? 0);
    availableEstimated = true;
  }
  return {
    totalKb: total,
    availableKb: Math.min(available, total),
    availableEstimated,
    swapTotalKb: kb.get('SwapTotal') ?? 0,
    swapFreeKb: kb.get('SwapFree') ?? 0,
  };
}

// ──────────────────────────── disks ────────────────────────────

export interface DiskCounters {
  name: string;
  readBytes: number;
  writtenBytes: number;
}

const SECTOR_BYTES = 512;

/** Every device line of /proc/diskstats (whole disks and partitions alike; see selectWholeDisks). */
export function parseDiskstats(text: string): DiskCounters[] {
  const out: DiskCounters[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const sectorsRead = Number(f[5]);
    const sectorsWritten = Number(f[9]);
    if (!Number.isFinite(sectorsRead) || !Number.isFinite(sectorsWritten)) continue;
    out.push({ name: f[2]!, readBytes: sectorsRead * SECTOR_BYTES, writtenBytes: sectorsWritten * SECTOR_BYTES });
  }
  return out;
}

/**
 * Fallback when /sys is not readable: recognise partitions and virtual block devices by name
 * (sda1, vdb2, xvda1, nvme0n1p1, mmcblk0p1; loop, ram, zram, dm-, md, sr, fd).
 */
export function isPartitionOrVirtualDiskName(name: string): boolean {
  return /^(?:[shv]d[a-z]+|xvd[a-z]+)\d+$/.test(name) ||
    /^(?:nvme\d+n\d+|mmcblk\d+)p\d+$/.test(name) ||
    /^(?:loop|ram|zram|dm-|md|sr|fd|nbd)\d*/.test(name);
}

/**
 * Counting only whole physical disks avoids double counting: a write to a partition on LVM shows
 * up on dm-N, on sdaN and on sda. `isVirtual(name)` answers from /sys (devices under
 * /sys/devices/virtual: loop, dm, md, zram) or null when /sys cannot tell; partitions are not
 * listed in /sys/block at all, so `wholeDiskNames` (the /sys/block listing) excludes them.
 */
export function selectWholeDisks(
  disks: DiskCounters[],
  sys: { wholeDiskNames: ReadonlySet<string>; virtualNames: ReadonlySet<string> } | null,
): DiskCounters[] {
  if (!sys) return disks.filter((d) => !isPartitionOrVirtualDiskName(d.name));
  return disks.filter((d) => sys.wholeDiskNames.has(d.name) && !sys.virtualNames.has(d.name));
}

// ─────────────────────────── network ───────────────────────────

export interface NetCounters {
  name: string;
  rxBytes: number;
  txBytes: number;
}

export function parseNetDev(text: string): NetCounters[] {
  const out: NetCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (!name || f.length < 9 || !Number.isFinite(f[0]) || !Number.isFinite(f[8])) continue;
    out.push({ name, rxBytes: f[0]!, txBytes: f[8]! });
  }
  return out;
}

/**
 * Interfaces whose traffic is counted: never `lo`; physical ones (with a device behind them)
 * when there are any, because bridges, veths and tunnels carry traffic that also crosses the
 * physical NIC. Inside a network namespace (a container) every interface is virtual, so then all
 * but `lo` count. `virtualNames` null = /sys unreadable: all but `lo`.
 */
export function selectInterfaces(ifaces: NetCounters[], virtualNames: ReadonlySet<string> | null): NetCounters[] {
  const candidates = ifaces.filter((i) => i.name !== 'lo');
  if (!virtualNames) return candidates;
  const physical = candidates.filter((i) => !virtualNames.has(i.name));
  return physical.length ? physical : candidates;
}

// ─────────────────────────── mounts ────────────────────────────

export interface MountEntry {
  source: string;
  mount: string;
  fsType: string;
  options: string[];
}

/** /proc/mounts escapes space, tab, newline and backslash as octal (\040 …). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_all, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    out.push({ source: unescapeMountField(f[0]!), mount: unescapeMountField(f[1]!), fsType: f[2]!, options: f[3]!.split(',') });
  }
  return out;
}

/**
 * Filesystems that hold no user data (kernel interfaces, memory-backed, cgroups) or are read-only
 * images (squashfs snaps, ISO). tmpfs is left out too: it is RAM, already in memory figures.
 */
const PSEUDO_FS = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs', 'ramfs', 'securityfs', 'debugfs', 'tracefs', 'pstore',
  'bpf', 'cgroup', 'cgroup2', 'configfs', 'fusectl', 'mqueue', 'hugetlbfs', 'autofs', 'binfmt_misc',
  'efivarfs', 'rpc_pipefs', 'nsfs', 'selinuxfs', 'nfsd', 'squashfs', 'iso9660', 'fuse.lxcfs',
  'fuse.gvfsd-fuse', 'fuse.portal', 'fuse.snapfuse', 'overlay', 'aufs', 'devfs',
]);

export function isPseudoFs(fsType: string): boolean {
  return PSEUDO_FS.has(fsType);
}

/**
 * The mounts worth reporting. Overlay is left out except when it is the root filesystem: on a
 * Docker host the many /var/lib/docker/overlay2/<id>/merged mounts all repeat the usage of the
 * filesystem holding /var/lib/docker, but inside a container the overlay root is the only view of
 * the disk there is. The same device mounted more than once (bind mounts, btrfs subvolumes) is
 * reported once, at its shortest mount path.
 */
export function selectMounts(entries: MountEntry[]): MountEntry[] {
  const bySource = new Map<string, MountEntry>();
  const out: MountEntry[] = [];
  const seenMount = new Set<string>();
  for (const e of entries) {
    const keep = e.fsType === 'overlay' ? e.mount === '/' : !isPseudoFs(e.fsType);
    if (!keep || seenMount.has(e.mount)) continue;
    seenMount.add(e.mount);
    if (e.source.startsWith('/dev/')) {
      const prior = bySource.get(e.source);
      if (prior) {
        if (e.mount.length < prior.mount.length) {
          out[out.indexOf(prior)] = e;
          bySource.set(e.source, e);
        }
        continue;
      }
      bySource.set(e.source, e);
    }
    out.push(e);
  }
  return out;
}

// ─────────────────────── load and uptime ───────────────────────

export function parseLoadavg(text: string): [number, number, number] | null {
  const f = text.trim().split(/\s+/).slice(0, 3).map(Number);
  if (f.length < 3 || f.some((n) => !Number.isFinite(n) || n < 0)) return null;
  return [f[0]!, f[1]!, f[2]!];
}

export function parseUptime(text: string): number | null {
  const n = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

// ──────────────────────────── rates ────────────────────────────

/**
 * Bytes per second summed over the devices present in both readings. A device that appeared
 * meanwhile is skipped (it has no baseline). Any counter that went backwards (interface re-created,
 * 32-bit wrap, driver reset) makes the whole rate null: the traffic of that interval is unknown,
 * and guessing would produce exactly the spike we must not report.
 */
export function sumRate<T extends { name: string }>(prev: T[], cur: T[], pick: (c: T) => number, elapsedMs: number): number | null {
  if (!(elapsedMs > 0)) return null;
  const before = new Map(prev.map((c) => [c.name, pick(c)]));
  let delta = 0;
  let common = 0;
  for (const c of cur) {
    const b = before.get(c.name);
    if (b === undefined) continue;
    const d = pick(c) - b;
    if (d < 0) return null;
    delta += d;
    common++;
  }
  if (common === 0) return null;
  return Math.round((delta * 1000) / elapsedMs);
}

// ─────────────────────── building a sample ─────────────────────

/** Everything read from procfs at one instant (`atMs` is monotonic, for rates). */
export interface ProcReading {
  atMs: number;
  cpu: CpuTimes | null;
  mem: MemInfo | null;
  disks: DiskCounters[] | null;
  net: NetCounters[] | null;
  load: [number, number, number] | null;
  uptimeSeconds: number | null;
}

/** statfs of one filesystem, reduced to what the sample needs. */
export interface FsUsage {
  usedBytes: number;
  /** Available to unprivileged users (statfs bavail), as `df` reports it. */
  freeBytes: number;
}

export function fsUsageFromStatfs(s: { bsize: number; blocks: number; bfree: number; bavail: number }): FsUsage | null {
  if (!(s.blocks > 0) || !(s.bsize > 0)) return null;
  return { usedBytes: (s.blocks - s.bfree) * s.bsize, freeBytes: s.bavail * s.bsize };
}

/** `df`'s Use%: used / (used + available to users), rounded up in df; here to 2 decimals. */
export function usagePercent(u: FsUsage): number {
  const denom = u.usedBytes + u.freeBytes;
  return denom > 0 ? round((u.usedBytes / denom) * 100, 2) : 0;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export function mountUsage(entry: { mount: string; fsType: string }, u: FsUsage): MountUsage {
  return {
    mount: entry.mount,
    fsType: entry.fsType,
    usedGb: round(u.usedBytes / GiB, 3),
    freeGb: round(u.freeBytes / GiB, 3),
    percent: usagePercent(u),
  };
}

/**
 * Turns a reading (and the one before it, for rates) into a MetricSample. `prev` null, or a rate
 * window shorter than `minRateWindowMs`, gives null rates: never a rate against zero.
 */
export function buildSample(input: {
  timestampMs: number;
  prev: ProcReading | null;
  cur: ProcReading;
  disk: FsUsage | null;
  mounts: MountUsage[];
  minRateWindowMs?: number;
}): MetricSample {
  const { prev, cur, disk } = input;
  const elapsed = prev ? cur.atMs - prev.atMs : 0;
  const ratesOk = prev !== null && elapsed >= (input.minRateWindowMs ?? 500);
  const cpu = ratesOk && prev!.cpu && cur.cpu ? cpuPercents(prev!.cpu, cur.cpu) : null;
  const mem = cur.mem;
  const usedKb = mem ? mem.totalKb - mem.availableKb : null;
  const swapUsedKb = mem ? Math.max(0, mem.swapTotalKb - mem.swapFreeKb) : null;
  const rate = <T extends { name: string }>(a: T[] | null | undefined, b: T[] | null, pick: (c: T) => number) =>
    ratesOk && a && b ? sumRate(a, b, pick, elapsed) : null;
  return {
    timestamp: new Date(input.timestampMs).toISOString(),
    cpuPercent: cpu?.total ?? null,
    cpuUser: cpu?.user ?? null,
    cpuSystem: cpu?.system ?? null,
    cpuIowait: cpu?.iowait ?? null,
    cpuSteal: cpu?.steal ?? null,
    memoryPercent: mem && usedKb !== null ? round((usedKb / mem.totalKb) * 100, 2) : null,
    memoryMb: usedKb !== null ? round(usedKb / 1024, 1) : null,
    memoryAvailableMb: mem ? round(mem.availableKb / 1024, 1) : null,
    // No swap configured: percent is null (there is nothing to be a percentage of), used is 0.
    swapPercent: mem && mem.swapTotalKb > 0 ? round((swapUsedKb! / mem.swapTotalKb) * 100, 2) : null,
    swapUsedMb: swapUsedKb !== null ? round(swapUsedKb / 1024, 1) : null,
    diskPercent: disk ? usagePercent(disk) : null,
    diskGb: disk ? round(disk.usedBytes / GiB, 3) : null,
    diskFreeGb: disk ? round(disk.freeBytes / GiB, 3) : null,
    diskReadBps: rate(prev?.disks, cur.disks, (c) => c.readBytes),
    diskWriteBps: rate(prev?.disks, cur.disks, (c) => c.writtenBytes),
    netRxBps: rate(prev?.net, cur.net, (c) => c.rxBytes),
    netTxBps: rate(prev?.net, cur.net, (c) => c.txBytes),
    loadAvg1m: cur.load?.[0] ?? null,
    loadAvg5m: cur.load?.[1] ?? null,
    loadAvg15m: cur.load?.[2] ?? null,
    uptimeSeconds: cur.uptimeSeconds !== null ? Math.floor(cur.uptimeSeconds) : null,
    mounts: input.mounts,
  };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
