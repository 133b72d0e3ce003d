import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  appCpuPercent, buildAppSample, cgroupMounts, countRestart, pageSizeFrom, parseCpuacctUsage, parseCpuStatUsage, parseIdList,
  parseMemoryStatRss, parsePidStat, unitCgroupCandidates, type AppReading, type PidStat,
} from '../../src/workers/sampler/app-procfs.js';
import { parseMounts, type CpuTimes } from '../../src/workers/sampler/procfs.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/proc/app/', import.meta.url));
const fixture = (name: string) => readFileSync(fixtures + name, 'latin1');

test('a /proc/PID/stat line is read from the last parenthesis, whatever the command name holds', () => {
  assert.deepEqual(parsePidStat(fixture('pid-stat.txt')), { pid: 4242, cpuTicks: 1234 + 567, threads: 11, startTime: 987654, rssPages: 30000 });
  assert.equal(parsePidStat('garbage'), null);
  assert.equal(parsePidStat('12 (x) S 1 2'), null, 'too few fields');
});

test('this process\'s own stat parses to its pid and at least one thread', () => {
  const s = parsePidStat(readFileSync('/proc/self/stat', 'latin1'));
  assert.ok(s && s.pid > 0 && s.threads >= 1 && s.rssPages > 0 && s.startTime > 0);
});

test('cgroup.procs lists are numbers a line, blank lines ignored', () => {
  assert.deepEqual(parseIdList('12\n345\n\n7\n'), [12, 345, 7]);
  assert.deepEqual(parseIdList(''), []);
});

test('cgroup mounts are found on hybrid (v1 + unified) and on pure v2 hosts', () => {
  assert.deepEqual(cgroupMounts(parseMounts(fixture('mounts.hybrid'))), {
    unified: '/sys/fs/cgroup/unified', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory', systemd: '/sys/fs/cgroup/systemd',
  });
  assert.deepEqual(cgroupMounts(parseMounts(fixture('mounts.unified'))), { unified: '/sys/fs/cgroup', cpuacct: null, memory: null, systemd: null });
});

test('a unit\'s cgroup is under system.slice; a template instance also under its escaped system-PREFIX.slice', () => {
  assert.deepEqual(unitCgroupCandidates('shop.service'), ['system.slice/shop.service']);
  assert.deepEqual(unitCgroupCandidates('my-api@2.service'), ['system.slice/my-api@2.service', 'system.slice/system-my\\x2dapi.slice/my-api@2.service']);
});

test('CPU counters: v2 usage_usec in µs, v1 cpuacct.usage from ns to µs', () => {
  assert.equal(parseCpuStatUsage(fixture('cpu.stat.v2')), 8123456);
  assert.equal(parseCpuacctUsage(fixture('cpuacct.usage.v1')), 1234567890123 / 1000);
  assert.equal(parseCpuStatUsage('user_usec 5\n'), null);
  assert.equal(parseCpuacctUsage(''), null);
});

test('cgroup resident memory is anonymous plus mapped file pages, v1 from the hierarchical totals', () => {
  assert.equal(parseMemoryStatRss(fixture('memory.stat.v2'), 'v2'), 104857600 + 20971520);
  const v1 = fixture('memory.stat.v1');
  const total = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(v1)![1]);
  assert.equal(parseMemoryStatRss(v1, 'v1'), total('total_rss') + total('total_mapped_file'));
  assert.equal(parseMemoryStatRss('rss 10\nmapped_file 5\n', 'v1'), 15, 'flat keys when there are no totals');
  assert.equal(parseMemoryStatRss('file 10\n', 'v2'), null);
});

const host = (busy: number, idle: number): CpuTimes => ({ user: busy, nice: 0, system: 0, idle, iowait: 0, irq: 0, softirq: 0, steal: 0 });
const proc = (pid: number, cpuTicks: number, startTime = pid, threads = 2, rssPages = 256): PidStat => ({ pid, cpuTicks, threads, startTime, rssPages });
function reading(procs: PidStat[] | null, extra: Partial<AppReading> = {}): AppReading {
  return { atMs: 0, source: { kind: 'cwd', dir: '/opt/deployments/shop/current' }, pids: (procs ?? []).map((p) => p.pid), procs,
    cgroupCpuUsec: null, cgroupRssBytes: null, openFiles: 7, ...extra };
}

test('app CPU is its share of the machine: process ticks over host ticks in the same window', () => {
  // Host: 400 ticks passed (e.g. 4 CPUs × 1 s); the app used 100 of them = 25 % of the machine.
  const prev = reading([proc(10, 1000), proc(11, 50)]);
  const cur = reading([proc(10, 1080), proc(11, 70)]);
  assert.equal(appCpuPercent(prev, cur, host(0, 0), host(200, 200)), 25);
  // A process started in the window counts with all its time; one that was there before but unseen does not.
  const withNew = reading([proc(10, 1080), proc(11, 70), proc(12, 40, 100)]);
  assert.equal(appCpuPercent(prev, withNew, host(0, 0), host(200, 200)), 35);
  const olderUnseen = reading([proc(10, 1080), proc(11, 70), proc(5, 40, 1)]);
  assert.equal(appCpuPercent(prev, olderUnseen, host(0, 0), host(200, 200)), 25);
});

test('app CPU from the cgroup counter when there is one; a counter that went back (cgroup recreated) gives null', () => {
  const unit = { kind: 'unit' as const, unit: 'shop.service', via: 'cgroup v2' };
  const prev = reading([proc(10, 1)], { source: unit, cgroupCpuUsec: 1_000_000 });
  const cur = reading([proc(10, 1)], { source: unit, cgroupCpuUsec: 1_500_000 });
  // 0.5 CPU-seconds of 2 host CPU-seconds (200 ticks at USER_HZ 100).
  assert.equal(appCpuPercent(prev, cur, host(0, 0), host(100, 100)), 25);
  assert.equal(appCpuPercent(cur, prev, host(0, 0), host(100, 100)), null);
  assert.equal(appCpuPercent(prev, cur, host(0, 0), host(0, 0)), null, 'no host time passed');
  assert.equal(appCpuPercent(prev, cur, null, host(100, 100)), null);
});

test('a restart is the main (oldest) process replaced; a stop and start counts once, pid reuse is not mistaken', () => {
  let r = countRestart(null, reading([proc(10, 0, 100), proc(11, 0, 200)]));
  assert.deepEqual([r.restarts, r.last], [0, { pid: 10, startTime: 100 }]);
  r = countRestart(r.last, reading([proc(10, 0, 100), proc(12, 0, 300)]));
  assert.equal(r.restarts, 0, 'a worker replaced is not a restart');
  r = countRestart(r.last, reading([]));
  assert.equal(r.restarts, 0, 'stopped: nothing to count yet');
  assert.deepEqual(r.last, { pid: 10, startTime: 100 }, 'the last main process is remembered while stopped');
  r = countRestart(r.last, reading([proc(20, 0, 400)]));
  assert.equal(r.restarts, 1);
  r = countRestart(r.last, reading([proc(20, 0, 500)]));
  assert.equal(r.restarts, 1, 'same pid, another start time: a new process');
  // /proc hidden: only pids from cgroup.procs.
  const hidden = (pids: number[]) => reading(null, { pids });
  r = countRestart(null, hidden([30, 31]));
  assert.equal(countRestart(r.last, hidden([31, 30])).restarts, 0);
  assert.equal(countRestart(r.last, hidden([31, 40])).restarts, 1);
});

test('an app sample sums RSS and threads, reports 0 % CPU when nothing runs and null without a window', () => {
  const cur = reading([proc(10, 5, 10, 3, 256), proc(11, 5, 11, 4, 512)]);
  assert.deepEqual(buildAppSample({ prev: null, cur, hostPrev: null, hostCur: null, pageSize: 4096, restarts: 0 }), {
    source: 'cwd:/opt/deployments/shop/current', processes: 2, cpuPercent: null, rssMb: 3, threads: 7, openFiles: 7, restarts: 0,
  });
  const stopped = buildAppSample({ prev: cur, cur: reading([], { openFiles: 0 }), hostPrev: host(0, 0), hostCur: host(1, 1), pageSize: 4096, restarts: 0 });
  assert.deepEqual([stopped.processes, stopped.cpuPercent, stopped.rssMb, stopped.threads], [0, 0, 0, 0]);
  // /proc hidden: memory from the cgroup, threads unknown.
  const hidden = buildAppSample({ prev: null, cur: reading(null, { pids: [1, 2], cgroupRssBytes: 10 * 1024 * 1024, openFiles: null }),
    hostPrev: null, hostCur: null, pageSize: 4096, restarts: 0 });
  assert.deepEqual([hidden.processes, hidden.rssMb, hidden.threads, hidden.openFiles], [2, 10, null, null]);
});

test('the page size is told from this process\'s RSS in bytes and in pages', () => {
  assert.equal(pageSizeFrom(4096 * 1000 + 3000, '5000 1000 300 1 0 900 0'), 4096);
  assert.equal(pageSizeFrom(65536 * 1000, '5000 1000 300 1 0 900 0'), 65536);
  assert.equal(pageSizeFrom(0, ''), 4096);
  assert.ok([4096, 16384, 65536].includes(pageSizeFrom(process.memoryUsage.rss(), readFileSync('/proc/self/statm', 'latin1'))));
});
