// Pure parsers and arithmetic for the app's own processes (the host is procfs.ts). No I/O here:
// app-reader.ts reads /proc/PID/*, cgroupfs and /proc/mounts and calls these; tests feed fixtures.
//
// CPU is reported on the host's scale (share of the whole machine, like cpu_percent), so app and
// host CPU can be compared side by side: app CPU seconds over the host's CPU seconds in the same
// window (the /proc/stat `cpu` line summed over all CPUs). /proc/PID/stat and /proc/stat are both
// in USER_HZ ticks, which Linux fixes at 100 for userspace on every architecture Node runs on.

import type { AppSample } from '../../supervisor/messages.js';
import type { CpuTimes, MountEntry } from './procfs.js';
import { round } from './procfs.js';

export const USER_HZ = 100;

// ───────────────────────── /proc/PID/stat ─────────────────────────

export interface PidStat {
  pid: number;
  /** utime + stime, clock ticks (children that were reaped are not included: cutime/cstime are). */
  cpuTicks: number;
  threads: number;
  /** Clock ticks after boot: with the pid, the identity of a process across pid reuse. */
  startTime: number;
  rssPages: number;
}

/**
 * One /proc/PID/stat line. The command name (field 2) may hold spaces and parentheses, so the
 * fields are counted from the last ')'.
 */
export function parsePidStat(text: string): PidStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const pid = Number(text.slice(0, text.indexOf(' ')));
  // After ") ": state(3) ppid(4) … utime(14) stime(15) … num_threads(20) itrealvalue(21) starttime(22) vsize(23) rss(24)
  const f = text.slice(close + 2).split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  const threads = Number(f[17]);
  const startTime = Number(f[19]);
  const rssPages = Number(f[21]);
  if (![pid, utime, stime, threads, startTime, rssPages].every((n) => Number.isFinite(n) && n >= 0)) return null;
  return { pid, cpuTicks: utime + stime, threads, startTime, rssPages };
}

/** cgroup.procs (or tasks): one decimal id a line. */
export function parseIdList(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const n = Number(line);
    if (Number.isInteger(n) && n > 0) out.push(n);
  }
  return out;
}

// ───────────────────────────── cgroups ─────────────────────────────

/** Where the cgroup hierarchies are mounted (from /proc/mounts). */
export interface CgroupMounts {
  /** The cgroup2 mount: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones. */
  unified: string | null;
  /** v1 hierarchies by what they hold (cpuacct is often co-mounted with cpu as cpu,cpuacct). */
  cpuacct: string | null;
  memory: string | null;
  /** The name=systemd hierarchy, where systemd keeps units on v1 hosts. */
  systemd: string | null;
}

export function cgroupMounts(entries: MountEntry[]): CgroupMounts {
  const out: CgroupMounts = { unified: null, cpuacct: null, memory: null, systemd: null };
  for (const e of entries) {
    if (e.fsType === 'cgroup2') out.unified ??= e.mount;
    if (e.fsType !== 'cgroup') continue;
    if (e.options.includes('cpuacct')) out.cpuacct ??= e.mount;
    if (e.options.includes('memory')) out.memory ??= e.mount;
    if (e.options.includes('name=systemd')) out.systemd ??= e.mount;
  }
  return out;
}

/** systemd's unit-name escaping of a slice component: '-' separates slice levels, so it becomes \x2d. */
function escapeSliceComponent(s: string): string {
  return s.replace(/-/g, '\\x2d');
}

/**
 * Cgroup paths (relative to a hierarchy's root) where systemd puts a system unit: system.slice for
 * plain units, system-PREFIX.slice inside it for template instances (shop@1.service).
 */
export function unitCgroupCandidates(unit: string): string[] {
  const out = [`system.slice/${unit}`];
  const at = unit.indexOf('@');
  if (at > 0) out.push(`system.slice/system-${escapeSliceComponent(unit.slice(0, at))}.slice/${unit}`);
  return out;
}

/** cgroup v2 cpu.stat `usage_usec`, in microseconds. */
export function parseCpuStatUsage(text: string): number | null {
  const m = /^usage_usec (\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** cgroup v1 cpuacct.usage (nanoseconds), converted to microseconds. */
export function parseCpuacctUsage(text: string): number | null {
  const n = Number(text.trim());
  return text.trim() && Number.isFinite(n) && n >= 0 ? n / 1000 : null;
}

/**
 * Resident memory of a cgroup from memory.stat: anonymous plus mapped file pages — what the sum of
 * the processes' RSS would be, with shared pages counted once. (memory.current / usage_in_bytes
 * also holds the page cache of files the app wrote, which is not what "RSS" means.)
 */
export function parseMemoryStatRss(text: string, version: 'v1' | 'v2'): number | null {
  const kv = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) kv.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  const pick = (...keys: string[]) => keys.map((k) => kv.get(k)).find((v) => v !== undefined && Number.isFinite(v));
  const anon = version === 'v2' ? pick('anon') : pick('total_rss', 'rss');
  const mapped = version === 'v2' ? pick('file_mapped') : pick('total_mapped_file', 'mapped_file');
  if (anon === undefined) return null;
  return anon + (mapped ?? 0);
}

// ───────────────────────────── samples ─────────────────────────────

/** Where the app's processes were found. */
export type AppSource =
  | { kind: 'unit'; unit: string; /** e.g. "cgroup v1 (cpuacct, memory)" */ via: string }
  | { kind: 'cwd'; dir: string };

export function sourceLabel(s: AppSource): string {
  return s.kind === 'unit' ? `unit:${s.unit}` : `cwd:${s.dir}`;
}

/** Everything read about the app at one instant. */
export interface AppReading {
  atMs: number;
  source: AppSource;
  pids: number[];
  /** Per-process stats, or null when /proc/PID is not readable (hidden by ProtectProc/hidepid). */
  procs: PidStat[] | null;
  /** The cgroup's own CPU counter (µs, includes exited children), when there is one. */
  cgroupCpuUsec: number | null;
  /** The cgroup's resident memory (bytes), used when per-process figures are not readable. */
  cgroupRssBytes: number | null;
  /** Open file descriptors over all processes, or null when /proc/PID/fd is not readable. */
  openFiles: number | null;
}

/** The process that identifies the app's current run: the oldest one (the unit's main process). */
export interface MainProcess {
  pid: number;
  startTime: number | null;
}

export function mainProcess(r: AppReading): MainProcess | null {
  if (r.procs && r.procs.length) {
    let best = r.procs[0]!;
    for (const p of r.procs) if (p.startTime < best.startTime || (p.startTime === best.startTime && p.pid < best.pid)) best = p;
    return { pid: best.pid, startTime: best.startTime };
  }
  if (!r.pids.length) return null;
  return { pid: Math.min(...r.pids), startTime: null };
}

/**
 * A restart: the process that was the app's main one is gone and another one is there now. The
 * last main process is remembered across samples with no process at all (stopped, then started:
 * one restart when it is back). Two restarts within one interval count as one.
 */
export function countRestart(last: MainProcess | null, cur: AppReading): { restarts: number; last: MainProcess | null } {
  const main = mainProcess(cur);
  if (!main) return { restarts: 0, last };
  if (!last) return { restarts: 0, last: main };
  const stillThere = cur.procs && last.startTime !== null
    ? cur.procs.some((p) => p.pid === last.pid && p.startTime === last.startTime)
    : cur.pids.includes(last.pid);
  if (stillThere) return { restarts: 0, last };
  return { restarts: 1, last: main };
}

function hostTicks(t: CpuTimes): number {
  return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
}

/**
 * App CPU over the window between two readings, as a share of the machine. From the cgroup counter
 * when there is one (exact: exited children included); else from the processes present in both
 * readings plus those started since (a process that exited inside the window loses its last slice).
 * Null without a usable window or when the cgroup counter went back (the unit's cgroup recreated).
 */
export function appCpuPercent(prev: AppReading, cur: AppReading, hostPrev: CpuTimes | null, hostCur: CpuTimes | null): number | null {
  if (!hostPrev || !hostCur) return null;
  const hostSeconds = (hostTicks(hostCur) - hostTicks(hostPrev)) / USER_HZ;
  if (!(hostSeconds > 0)) return null;
  let appSeconds: number;
  if (cur.cgroupCpuUsec !== null && prev.cgroupCpuUsec !== null && sameSource(prev.source, cur.source)) {
    const d = cur.cgroupCpuUsec - prev.cgroupCpuUsec;
    if (d < 0) return null;
    appSeconds = d / 1e6;
  } else if (cur.procs && prev.procs) {
    const before = new Map(prev.procs.map((p) => [`${p.pid}:${p.startTime}`, p.cpuTicks]));
    const newest = Math.max(0, ...prev.procs.map((p) => p.startTime));
    let ticks = 0;
    for (const p of cur.procs) {
      const b = before.get(`${p.pid}:${p.startTime}`);
      if (b !== undefined) ticks += Math.max(0, p.cpuTicks - b);
      else if (p.startTime >= newest) ticks += p.cpuTicks; // started in the window: all its time is in it
    }
    appSeconds = ticks / USER_HZ;
  } else return null;
  return round(Math.min(100, (appSeconds / hostSeconds) * 100), 2);
}

function sameSource(a: AppSource, b: AppSource): boolean {
  return sourceLabel(a) === sourceLabel(b);
}

const MiB = 1024 * 1024;

/** The AppSample of a reading (CPU and restarts need the previous one). */
export function buildAppSample(input: {
  prev: AppReading | null;
  cur: AppReading;
  hostPrev: CpuTimes | null;
  hostCur: CpuTimes | null;
  pageSize: number;
  restarts: number;
}): AppSample {
  const { prev, cur } = input;
  const rssBytes = cur.procs ? cur.procs.reduce((n, p) => n + p.rssPages * input.pageSize, 0) : cur.cgroupRssBytes;
  return {
    source: sourceLabel(cur.source),
    processes: cur.pids.length,
    cpuPercent: prev && cur.pids.length ? appCpuPercent(prev, cur, input.hostPrev, input.hostCur) : cur.pids.length ? null : 0,
    rssMb: rssBytes === null ? null : round(rssBytes / MiB, 1),
    threads: cur.procs ? cur.procs.reduce((n, p) => n + p.threads, 0) : null,
    openFiles: cur.openFiles,
    restarts: input.restarts,
  };
}

/**
 * The system's page size, from two views of this process's own resident memory taken together:
 * bytes (process.memoryUsage.rss) and pages (/proc/self/statm). Rounded to the nearest power of
 * two of 4 KiB and up (4 KiB on x86-64, 4/16/64 KiB on arm64 kernels).
 */
export function pageSizeFrom(rssBytes: number, statmText: string): number {
  const pages = Number(statmText.trim().split(/\s+/)[1]);
  if (!(pages > 0) || !(rssBytes > 0)) return 4096;
  const exp = Math.round(Math.log2(rssBytes / pages));
  return 2 ** Math.max(12, Math.min(16, exp));
}
