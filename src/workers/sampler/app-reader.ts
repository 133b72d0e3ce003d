// Reads the app's own processes: CPU, RSS, threads, open files. Where they are found, in order:
//
//   monitoring.service set ──► that unit's cgroup (0 processes while the unit is stopped)
//   otherwise {app}.service ──► its cgroup, when it exists
//   otherwise               ──► the processes whose working directory is under the release dir
//                                (/opt/deployments/{app}/current, symlink resolved at every sample)
//
// A unit's processes are listed from cgroup.procs in the hierarchy systemd tracks it in (cgroup2, or
// name=systemd on v1); its CPU from the cgroup's counter (v2 cpu.stat, v1 cpuacct.usage); per-process
// figures from /proc/PID/stat and /proc/PID/fd. Everything is a synchronous read of a kernel file
// (microseconds; no child process, no D-Bus). Under the shipped unit (DynamicUser, ProtectProc=
// invisible) the app's /proc entries are hidden from the agent: CPU and RSS then come from the
// cgroup, threads and open files are null. The working-directory fallback needs them visible (the
// agent running as root or as the app's user).

import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  cgroupMounts, parseCpuacctUsage, parseCpuStatUsage, parseIdList, parseMemoryStatRss, parsePidStat, unitCgroupCandidates,
  type AppReading, type AppSource, type CgroupMounts, type PidStat,
} from './app-procfs.js';
import { parseMounts } from './procfs.js';

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface AppReaderOptions {
  app: string;
  /** monitoring.service: the unit to measure; null = `{app}.service` when it exists, else the release dir. */
  service: string | null;
  /** Processes whose working directory is under this directory are the app's (fallback). */
  releaseDir: string;
  procRoot?: string;
  /** Replaces what /proc/mounts says (tests). */
  cgroupMounts?: CgroupMounts;
  log?: (level: LogLevel, message: string, context?: Record<string, unknown>) => void;
}

/** A unit's cgroup files, found once per cgroup directory. */
interface UnitFiles {
  unit: string;
  procs: string;
  cpu: { file: string; version: 'v1' | 'v2' } | null;
  memory: { file: string; version: 'v1' | 'v2' } | null;
  via: string;
}

/** Bounded: a runaway fork bomb under the release dir must not make one sample read 100k fds dirs. */
const MAX_PROCESSES = 4096;

export class AppReader {
  private readonly procRoot: string;
  private readonly mounts: CgroupMounts;
  private readonly log: NonNullable<AppReaderOptions['log']>;
  private readonly warned = new Set<string>();
  private unitFiles: UnitFiles | null = null;
  private readonly selfPid = process.pid;

  constructor(private readonly options: AppReaderOptions) {
    this.procRoot = options.procRoot ?? '/proc';
    this.log = options.log ?? (() => {});
    let mounts = options.cgroupMounts;
    if (!mounts) {
      try {
        mounts = cgroupMounts(parseMounts(readFileSync(`${this.procRoot}/mounts`, 'latin1')));
      } catch {
        mounts = { unified: null, cpuacct: null, memory: null, systemd: null };
      }
    }
    this.mounts = mounts;
  }

  /** The unit whose cgroup is measured when it exists: monitoring.service or `{app}.service`. */
  get unit(): string {
    return this.options.service ?? `${this.options.app}.service`;
  }

  /** Where the processes are found right now. */
  resolve(): { source: AppSource; files: UnitFiles | null } {
    const files = this.findUnit(this.unit);
    if (files) return { source: { kind: 'unit', unit: files.unit, via: files.via }, files };
    // Named explicitly: the unit is the app, stopped or not yet started; never someone else's processes.
    if (this.options.service) return { source: { kind: 'unit', unit: this.unit, via: 'no cgroup: the unit is not running' }, files: null };
    return { source: { kind: 'cwd', dir: this.options.releaseDir }, files: null };
  }

  read(): AppReading {
    const atMs = performance.now();
    const { source, files } = this.resolve();
    const pids = files ? this.unitPids(files) : source.kind === 'cwd' ? this.pidsUnder(source.dir) : [];
    const procs = this.readProcs(pids);
    return {
      atMs,
      source,
      pids,
      procs,
      cgroupCpuUsec: files?.cpu ? this.readNumber(files.cpu.file, files.cpu.version === 'v2' ? parseCpuStatUsage : parseCpuacctUsage) : null,
      cgroupRssBytes: files?.memory && !procs ? this.readNumber(files.memory.file, (t) => parseMemoryStatRss(t, files.memory!.version)) : null,
      openFiles: procs ? this.countOpenFiles(pids) : null,
    };
  }

  private findUnit(unit: string): UnitFiles | null {
    const cached = this.unitFiles;
    if (cached && cached.unit === unit && existsSync(cached.procs)) return cached;
    this.unitFiles = null;
    const { unified, systemd, cpuacct, memory } = this.mounts;
    for (const rel of unitCgroupCandidates(unit)) {
      // The hierarchy systemd tracks units in: cgroup2 (unified and hybrid hosts) or name=systemd (v1).
      for (const [root, version] of [[unified, 'v2'], [systemd, 'v1']] as const) {
        if (!root || !existsSync(`${root}/${rel}/cgroup.procs`)) continue;
        const dir = `${root}/${rel}`;
        const pick = (candidates: Array<[string | null, 'v1' | 'v2']>) => {
          for (const [file, v] of candidates) if (file && existsSync(file)) return { file, version: v };
          return null;
        };
        const cpu = pick([[version === 'v2' ? `${dir}/cpu.stat` : null, 'v2'], [cpuacct && `${cpuacct}/${rel}/cpuacct.usage`, 'v1']]);
        const mem = pick([[version === 'v2' ? `${dir}/memory.stat` : null, 'v2'], [memory && `${memory}/${rel}/memory.stat`, 'v1']]);
        const parts = [cpu && `cpu ${cpu.version}`, mem && `memory ${mem.version}`].filter(Boolean);
        const via = `cgroup ${version === 'v2' ? 'v2' : 'v1'} ${dir}${parts.length ? ` (${parts.join(', ')})` : ''}`;
        this.unitFiles = { unit, procs: `${dir}/cgroup.procs`, cpu, memory: mem, via };
        return this.unitFiles;
      }
    }
    return null;
  }

  private unitPids(files: UnitFiles): number[] {
    try {
      return parseIdList(readFileSync(files.procs, 'latin1')).filter((p) => p !== this.selfPid).slice(0, MAX_PROCESSES);
    } catch {
      return []; // the unit stopped between the check and the read
    }
  }

  /** Processes whose working directory is `dir` or below it (`dir` itself may be a symlink: `current`). */
  private pidsUnder(dir: string): number[] {
    const roots = [dir];
    try {
      const real = realpathSync(dir);
      if (real !== dir) roots.push(real);
    } catch {
      return []; // no release yet
    }
    let names: string[];
    try {
      names = readdirSync(this.procRoot);
    } catch {
      return [];
    }
    const out: number[] = [];
    let denied = 0;
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      if (pid === this.selfPid) continue;
      let cwd: string;
      try {
        cwd = readlinkSync(`${this.procRoot}/${name}/cwd`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EACCES') denied++;
        continue;
      }
      if (roots.some((r) => cwd === r || cwd.startsWith(r + '/'))) {
        out.push(pid);
        if (out.length >= MAX_PROCESSES) break;
      }
    }
    if (denied) this.warnOnce('cwd-denied', `the working directory of ${denied} process(es) is not readable by the agent; ` +
      `processes of other users under ${dir} are not seen (set monitoring.service to measure the app's systemd unit)`);
    return out;
  }

  private readProcs(pids: number[]): PidStat[] | null {
    const out: PidStat[] = [];
    let hidden = 0;
    for (const pid of pids) {
      let text: string;
      try {
        text = readFileSync(`${this.procRoot}/${pid}/stat`, 'latin1');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') hidden++;
        continue; // exited since it was listed
      }
      const s = parsePidStat(text);
      if (s) out.push(s);
    }
    if (hidden && !out.length) {
      this.warnOnce('procs-hidden', `the app's processes are not visible in ${this.procRoot} (ProtectProc=invisible or hidepid): ` +
        'CPU and memory come from its cgroup, threads and open files are not reported');
      return null;
    }
    return out;
  }

  private countOpenFiles(pids: number[]): number | null {
    let n = 0;
    for (const pid of pids) {
      try {
        n += readdirSync(`${this.procRoot}/${pid}/fd`).length;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        this.warnOnce('fd-denied', `open files of the app are not readable (${(err as NodeJS.ErrnoException).code}): ` +
          'they belong to another user and the agent has no CAP_SYS_PTRACE; reported as null');
        return null;
      }
    }
    return n;
  }

  private readNumber(file: string, parse: (text: string) => number | null): number | null {
    try {
      return parse(readFileSync(file, 'latin1'));
    } catch {
      return null;
    }
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log('warn', message);
  }
}
