import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  buildSample, cpuPercents, fsUsageFromStatfs, isPartitionOrVirtualDiskName, parseDiskstats, parseLoadavg, parseMeminfo,
  parseMounts, parseNetDev, parseProcStat, parseUptime, selectInterfaces, selectMounts, selectWholeDisks, sumRate,
  usagePercent, type ProcReading,
} from '../../src/workers/sampler/procfs.js';

// Compiled to dist/test/sampler; fixtures stay in the source tree.
const fixtures = fileURLToPath(new URL('../../../test/fixtures/proc/', import.meta.url));
const fixture = (name: string) => readFileSync(fixtures + name, 'latin1');

test('parses the aggregate cpu line of a captured /proc/stat', () => {
  const cpu = parseProcStat(fixture('captured-vm/stat'));
  assert.ok(cpu);
  assert.equal(cpu.nice, 0);
  assert.ok(cpu.user > 0 && cpu.system > 0 && cpu.idle > 0);
  const first = fixture('captured-vm/stat').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  assert.deepEqual([cpu.user, cpu.nice, cpu.system, cpu.idle, cpu.iowait, cpu.irq, cpu.softirq, cpu.steal], first.slice(0, 8));
});

test('treats cpu fields missing on old kernels as zero', () => {
  assert.deepEqual(parseProcStat(fixture('vps-docker/stat-old-kernel')),
    { user: 1000, nice: 20, system: 300, idle: 8000, iowait: 0, irq: 0, softirq: 0, steal: 0 });
});

test('returns null for a /proc/stat without a cpu line', () => {
  assert.equal(parseProcStat('intr 1 2\nctxt 3\n'), null);
});

const times = (o: Partial<Record<'user' | 'nice' | 'system' | 'idle' | 'iowait' | 'irq' | 'softirq' | 'steal', number>>) =>
  ({ user: 0, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq: 0, steal: 0, ...o });

test('computes busy, user, system, iowait and steal percentages between two readings', () => {
  const prev = times({ user: 100, nice: 0, system: 50, idle: 800, iowait: 10, irq: 5, softirq: 5, steal: 0 });
  const cur = times({ user: 130, nice: 10, system: 60, idle: 840, iowait: 20, irq: 5, softirq: 15, steal: 10 });
  // deltas: user 30, nice 10, system 10, idle 40, iowait 10, softirq 10, steal 10 → total 120
  assert.deepEqual(cpuPercents(prev, cur), {
    total: 58.33, // (120 - 40 - 10) / 120
    user: 33.33, // (30 + 10) / 120
    system: 16.67, // (10 + 0 + 10) / 120
    iowait: 8.33,
    steal: 8.33,
  });
});

test('gives null CPU percentages when no time passed or the counters were reset', () => {
  const a = times({ user: 100, idle: 900 });
  assert.equal(cpuPercents(a, a), null);
  assert.equal(cpuPercents(a, times({ user: 5, idle: 20 })), null);
});

test('counts an iowait counter that went backwards as zero instead of failing the sample', () => {
  const p = cpuPercents(times({ user: 100, idle: 900, iowait: 50 }), times({ user: 150, idle: 950, iowait: 45 }));
  assert.deepEqual(p, { total: 50, user: 50, system: 0, iowait: 0, steal: 0 });
});

test('parses a captured /proc/meminfo', () => {
  const mem = parseMeminfo(fixture('captured-vm/meminfo'));
  assert.ok(mem);
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(fixture('captured-vm/meminfo'))![1]);
  assert.equal(mem.totalKb, kb('MemTotal'));
  assert.equal(mem.availableKb, kb('MemAvailable'));
  assert.equal(mem.availableEstimated, false);
  assert.equal(mem.swapTotalKb, 0);
});

test('estimates available memory on kernels without MemAvailable', () => {
  const mem = parseMeminfo(fixture('vps-docker/meminfo-no-available'));
  assert.deepEqual(mem, {
    totalKb: 2048000, availableKb: 512000 + 64000 + 448000 + 40000, availableEstimated: true, swapTotalKb: 1048572, swapFreeKb: 786429,
  });
});

test('reads sector counters of every /proc/diskstats line as bytes', () => {
  const disks = parseDiskstats(fixture('vps-docker/diskstats'));
  assert.equal(disks.length, 14);
  assert.deepEqual(disks.find((d) => d.name === 'sda'), { name: 'sda', readBytes: 3318052 * 512, writtenBytes: 5003344 * 512 });
  assert.ok(parseDiskstats(fixture('captured-vm/diskstats')).some((d) => d.name === 'vda'));
});

test('keeps whole physical disks only, by name when /sys cannot tell', () => {
  const disks = parseDiskstats(fixture('vps-docker/diskstats'));
  assert.deepEqual(selectWholeDisks(disks, null).map((d) => d.name), ['sda', 'nvme0n1', 'mmcblk0']);
  for (const name of ['sda1', 'vdb2', 'xvda1', 'nvme0n1p1', 'mmcblk0p1', 'loop0', 'dm-0', 'md0', 'zram0', 'sr0']) {
    assert.equal(isPartitionOrVirtualDiskName(name), true, name);
  }
  for (const name of ['sda', 'vda', 'xvdf', 'nvme1n1', 'mmcblk0']) assert.equal(isPartitionOrVirtualDiskName(name), false, name);
});

test('keeps whole physical disks only, from the /sys/block classification', () => {
  const disks = parseDiskstats(fixture('vps-docker/diskstats'));
  const sys = {
    wholeDiskNames: new Set(['loop0', 'loop1', 'sda', 'dm-0', 'nvme0n1', 'sr0', 'zram0', 'md0', 'mmcblk0']),
    virtualNames: new Set(['loop0', 'loop1', 'dm-0', 'zram0', 'md0']),
  };
  assert.deepEqual(selectWholeDisks(disks, sys).map((d) => d.name), ['sda', 'nvme0n1', 'sr0', 'mmcblk0']);
});

test('parses /proc/net/dev and never counts loopback', () => {
  const ifaces = parseNetDev(fixture('vps-docker/net-dev'));
  assert.deepEqual(ifaces.find((i) => i.name === 'ens3'), { name: 'ens3', rxBytes: 8123456789, txBytes: 1234567890 });
  assert.equal(ifaces.length, 5);
  assert.deepEqual(selectInterfaces(ifaces, null).map((i) => i.name), ['ens3', 'docker0', 'veth1a2b3c4', 'wg0']);
  assert.deepEqual(selectInterfaces(ifaces, new Set(['lo', 'docker0', 'veth1a2b3c4', 'wg0'])).map((i) => i.name), ['ens3']);
  assert.deepEqual(parseNetDev(fixture('captured-vm/net-dev')).map((i) => i.name), ['lo', 'ifb0', 'ifb1', 'eth0']);
});

test('counts every interface but loopback inside a container, where all are virtual', () => {
  const ifaces = parseNetDev('Inter-|\n face |\n    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n  eth0: 500 5 0 0 0 0 0 0 700 7 0 0 0 0 0 0\n');
  assert.deepEqual(selectInterfaces(ifaces, new Set(['lo', 'eth0'])).map((i) => i.name), ['eth0']);
});

test('selects real filesystems from /proc/mounts, unescaping paths and reporting each device once', () => {
  const mounts = selectMounts(parseMounts(fixture('vps-docker/mounts')));
  assert.deepEqual(mounts.map((m) => [m.mount, m.fsType]), [
    ['/', 'ext4'],
    ['/boot', 'ext4'],
    ['/boot/efi', 'vfat'],
    ['/srv/data volume', 'xfs'],
    ['/mnt/nfs', 'nfs4'],
  ]);
  assert.deepEqual(selectMounts(parseMounts(fixture('captured-vm/mounts'))).map((m) => m.mount), ['/']);
});

test('keeps an overlay filesystem only when it is the root (inside a container)', () => {
  const text = 'overlay / overlay rw,lowerdir=/a 0 0\noverlay /var/lib/docker/overlay2/x/merged overlay rw 0 0\nproc /proc proc rw 0 0\n';
  assert.deepEqual(selectMounts(parseMounts(text)).map((m) => m.mount), ['/']);
});

test('parses load averages and uptime', () => {
  assert.deepEqual(parseLoadavg('0.95 0.34 0.13 1/85 4412\n'), [0.95, 0.34, 0.13]);
  assert.equal(parseLoadavg('garbage'), null);
  assert.equal(parseUptime('283.02 506.19\n'), 283.02);
  const captured = parseLoadavg(fixture('captured-vm/loadavg'));
  assert.ok(captured && captured.every((n) => n >= 0));
  assert.ok((parseUptime(fixture('captured-vm/uptime')) ?? 0) > 0);
});

test('sums byte rates over devices present in both readings', () => {
  const prev = [{ name: 'a', n: 1000 }, { name: 'b', n: 5000 }];
  const cur = [{ name: 'a', n: 3000 }, { name: 'b', n: 6000 }, { name: 'new', n: 10 ** 12 }];
  assert.equal(sumRate(prev, cur, (c) => c.n, 2000), 1500);
});

test('gives a null rate, not a spike, when a counter went backwards or no time passed', () => {
  assert.equal(sumRate([{ name: 'a', n: 10 ** 9 }], [{ name: 'a', n: 10 }], (c) => c.n, 1000), null);
  assert.equal(sumRate([{ name: 'a', n: 1 }], [{ name: 'a', n: 2 }], (c) => c.n, 0), null);
  assert.equal(sumRate([{ name: 'a', n: 1 }], [{ name: 'b', n: 2 }], (c) => c.n, 1000), null);
});

test('computes disk usage the way df does', () => {
  // Numbers from `df -B1` of an ext4 root: 5 % of blocks reserved for root.
  const u = fsUsageFromStatfs({ bsize: 4096, blocks: 1000, bfree: 300, bavail: 250 });
  assert.deepEqual(u, { usedBytes: 700 * 4096, freeBytes: 250 * 4096 });
  assert.equal(usagePercent(u!), 73.68); // 700 / 950
  assert.equal(fsUsageFromStatfs({ bsize: 4096, blocks: 0, bfree: 0, bavail: 0 }), null);
});

function reading(o: Partial<ProcReading>): ProcReading {
  return { atMs: 0, cpu: null, mem: null, disks: null, net: null, load: null, uptimeSeconds: null, ...o };
}

test('builds a sample with null rates when there is no baseline', () => {
  const cur = reading({
    atMs: 10_000,
    cpu: times({ user: 100, idle: 100 }),
    mem: { totalKb: 4 * 1024 * 1024, availableKb: 3 * 1024 * 1024, availableEstimated: false, swapTotalKb: 0, swapFreeKb: 0 },
    net: [{ name: 'eth0', rxBytes: 10 ** 12, txBytes: 10 ** 12 }],
    load: [1, 2, 3],
    uptimeSeconds: 99.7,
  });
  const s = buildSample({ timestampMs: Date.UTC(2026, 0, 1, 0, 1), prev: null, cur, disk: { usedBytes: 2 * 1024 ** 3, freeBytes: 6 * 1024 ** 3 }, mounts: [] });
  assert.equal(s.timestamp, '2026-01-01T00:01:00.000Z');
  assert.equal(s.cpuPercent, null);
  assert.equal(s.netRxBps, null);
  assert.equal(s.memoryMb, 1024);
  assert.equal(s.memoryPercent, 25);
  assert.equal(s.memoryAvailableMb, 3072);
  assert.equal(s.swapPercent, null);
  assert.equal(s.swapUsedMb, 0);
  assert.equal(s.diskGb, 2);
  assert.equal(s.diskFreeGb, 6);
  assert.equal(s.diskPercent, 25);
  assert.deepEqual([s.loadAvg1m, s.loadAvg5m, s.loadAvg15m, s.uptimeSeconds], [1, 2, 3, 99]);
});

test('builds rates from the baseline, and none from a window that is too short', () => {
  const prev = reading({ atMs: 1000, cpu: times({ user: 100, idle: 100 }), disks: [{ name: 'sda', readBytes: 0, writtenBytes: 4096 }], net: [{ name: 'eth0', rxBytes: 1000, txBytes: 0 }] });
  const cur = reading({ atMs: 3000, cpu: times({ user: 150, idle: 250 }), disks: [{ name: 'sda', readBytes: 8192, writtenBytes: 4096 }], net: [{ name: 'eth0', rxBytes: 5000, txBytes: 200 }] });
  const s = buildSample({ timestampMs: 0, prev, cur, disk: null, mounts: [] });
  assert.deepEqual([s.cpuPercent, s.diskReadBps, s.diskWriteBps, s.netRxBps, s.netTxBps], [25, 4096, 0, 2000, 100]);
  const short = buildSample({ timestampMs: 0, prev: { ...prev, atMs: 2900 }, cur, disk: null, mounts: [] });
  assert.deepEqual([short.cpuPercent, short.diskReadBps, short.netRxBps], [null, null, null]);
});
