// A memory cgroup of the bench's own, for figures as the kernel accounts them (what `systemctl status`
// shows as Memory:). Shared by bench/agent-footprint.ts and bench/journal-source.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const round = (x: number, digits = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : null);

/**
 * A memory cgroup of our own, below the one this process is in (cgroup v1 `memory` controller, or v2),
 * so the agent's figure is the kernel's own accounting — what `systemctl status` shows as Memory:
 * anonymous memory plus the page cache the group's processes brought in (a page is charged to the
 * group that first touched it). Null when cgroups are not writable here (no root, or a read-only mount).
 */
export class MemoryCgroup {
  private constructor(readonly dir: string, readonly v2: boolean) {}

  static create(name: string): MemoryCgroup | null {
    try {
      const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
      const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
      const base = v1 ? join('/sys/fs/cgroup/memory', v1.slice(v1.lastIndexOf(':') + 1))
        : join('/sys/fs/cgroup', (lines.find((l) => l.startsWith('0::')) ?? '0::/').slice(3));
      const dir = join(base, name);
      mkdirSync(dir);
      return new MemoryCgroup(dir, !v1);
    } catch {
      return null;
    }
  }
  usageKb(): number {
    try { return Number(readFileSync(join(this.dir, this.v2 ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8')) / 1024; } catch { return NaN; }
  }
  /** Anonymous memory, page cache and mapped files charged to the group (memory.stat). */
  statMb(): { anonMb: number | null; pageCacheMb: number | null; mappedFileMb: number | null } {
    try {
      const text = readFileSync(join(this.dir, 'memory.stat'), 'utf8');
      const v = (k: string) => Number(new RegExp(`^${k} (\\d+)`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
      return this.v2 ? { anonMb: round(v('anon')), pageCacheMb: round(v('file')), mappedFileMb: round(v('file_mapped')) }
        : { anonMb: round(v('total_rss')), pageCacheMb: round(v('total_cache')), mappedFileMb: round(v('total_mapped_file')) };
    } catch {
      return { anonMb: null, pageCacheMb: null, mappedFileMb: null };
    }
  }
  /** Runs `command` inside the group from its first instruction (a shell joins, then execs it). */
  spawn(command: string, args: string[], options: Parameters<typeof spawn>[2]): ChildProcess {
    return spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.dir, command, ...args], options);
  }
  remove(): void {
    for (let i = 0; i < 50; i++) {
      try { rmdirSync(this.dir); return; } catch { spawnSync('sleep', ['0.1']); }
    }
  }
}
