// Real processes in real places for the app-metrics tests: node children in a chosen working
// directory, and cgroups created under the machine's hierarchies (root only), removed afterwards.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node child running `code` in `cwd`, returned once it runs (Node's threads started, its files open). */
export async function nodeChild(t: TestContext, code: string, cwd: string): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['-e', `setTimeout(() => process.stdout.write('ready\\n'), 50); ${code}`], { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => { c.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => { c.stdout!.once('data', () => resolve()); c.once('error', reject); c.once('exit', () => reject(new Error('child exited'))); });
  return c;
}

/** Creates `rel` under each hierarchy root, moves `pid` into it, and removes it all afterwards. */
export function cgroupFor(t: TestContext, roots: string[], rel: string, pid: number): void {
  const made: string[] = [];
  for (const r of roots) {
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = join(r, ...parts.slice(0, i));
      if (!existsSync(dir)) { mkdirSync(dir); made.push(dir); }
    }
    writeFileSync(join(r, rel, 'cgroup.procs'), String(pid));
  }
  t.after(async () => {
    // A cgroup is removable once empty: the child is killed (t.after runs in reverse order, so kill here first).
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await sleep(20);
    for (const dir of made.reverse()) { try { rmdirSync(dir); } catch { /* still busy: left for the next run */ } }
  });
}

