// The journald source's two possible shapes, measured against the same journal, one JSON object on stdout:
//   follow — one resident `journalctl --follow -o json` child (what the agent runs): its resident memory
//            (anonymous vs file-backed pages) and its CPU while idle and while the unit writes;
//   poll   — `journalctl --after-cursor C -n 500 -o json` run every second instead: CPU per run, at the
//            tail (nothing new), which is what it costs each second on an idle unit;
//   baseline — `journalctl --version`: what any spawn of journalctl costs before it opens a journal file;
//   parse  — parseJournalEntry alone (entries/s), the agent's own share of the work;
//   agent  — the built agent (bin/obs-agent.cjs, the agent's flags) against an embedded PostgreSQL, each in
//            a memory cgroup of its own, for `--agent-seconds`: following the unit's journal while it writes
//            100 entries/s, beside the same agent tailing a file written at the same rate (the baseline).
//            Median RSS of the agent process, and the cgroup's figure (agent + journalctl). --no-agent skips it.
//
// The journal is real: `--entries` entries (one in three of the followed unit) written by
// systemd-journal-remote into a temporary directory, read with --directory.
//
// Usage: node dist/bench/journal-source.js [--entries 100000] [--seconds 10] [--polls 50] [--agent-seconds 40 | --no-agent]

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EmbeddedPostgres } from '../src/db/embedded.js';
import { connect } from '../src/db/pg.js';
import { migrate } from '../src/db/migrate.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../src/supervisor/launch-flags.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { journalctlArgs, parseJournalEntry } from '../src/workers/tailer/journal-entry.js';
import { writeJournal, type JournalFields } from '../test/helpers/journal.js';
import { MemoryCgroup } from './lib/memory-cgroup.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ENTRIES = arg('entries', 100_000);
const SECONDS = arg('seconds', 10);
const POLLS = arg('polls', 50);
const AGENT_SECONDS = arg('agent-seconds', 40);
const AGENT = !args.includes('--no-agent');
const AGENT_BIN = fileURLToPath(new URL('../../bin/obs-agent.cjs', import.meta.url));
const UNIT = 'bench-app.service';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

function entries(from: number, count: number): JournalFields[] {
  const out: JournalFields[] = [];
  const start = Date.now() * 1000;
  for (let n = from; n < from + count; n++) {
    out.push({ __REALTIME_TIMESTAMP: start + n, _SYSTEMD_UNIT: n % 3 === 0 ? UNIT : 'noise.service', PRIORITY: 6, _PID: 4242,
      SYSLOG_IDENTIFIER: 'bench', MESSAGE: JSON.stringify({ level: 'info', time: new Date().toISOString(), msg: `request ${n}`, path: '/api/items', ms: n % 97 }) });
  }
  return out;
}

function statusKb(pid: number): Record<string, number> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), rssAnonKb: kb('RssAnon'), rssFileKb: kb('RssFile') };
}

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime + stime
}

/** CPU (user + system) of `times` runs of a command, from bash's `times` (children's totals). */
function childrenCpuMs(command: string[], times: number): number {
  const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const out = spawnSync('bash', ['-c', `for i in $(seq ${times}); do ${quoted} >/dev/null 2>&1; done; times`], { encoding: 'utf8' }).stdout;
  const lines = out.trim().split('\n');
  const children = lines[lines.length - 1]!.split(/\s+/);
  const ms = (v: string) => { const m = /(\d+)m([\d.]+)s/.exec(v)!; return (Number(m[1]) * 60 + Number(m[2])) * 1000; };
  return ms(children[0]!) + ms(children[1]!);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'observ-bench-journal-'));
  try {
    for (let n = 0; n < ENTRIES; n += 20_000) await writeJournal(dir, entries(n, Math.min(20_000, ENTRIES - n)));
    const journalBytes = statSync(join(dir, 'remote.journal')).size;
    const lastLine = execFileSync('journalctl', [...journalctlArgs({ units: [UNIT], directory: dir, cursor: null, follow: false }), '--lines=1'],
      { encoding: 'utf8' }).trim();
    const parsedLast = parseJournalEntry(lastLine, { maxLineBytes: 65536, now: Date.now, units: [UNIT] });
    if (!parsedLast.ok) throw new Error(`cannot read the last entry: ${parsedLast.reason}`);
    const cursor = parsedLast.cursor;

    // Follow: the agent's shape, in a memory cgroup of its own when one can be made (what it adds to the agent's).
    const cgroup = MemoryCgroup.create(`observ-bench-journal-${process.pid}`);
    const followArgs = journalctlArgs({ units: [UNIT], directory: dir, cursor, follow: true });
    const options = { stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'] };
    const child = cgroup ? cgroup.spawn('journalctl', followArgs, options) : spawn('journalctl', followArgs, options);
    let received = 0;
    child.stdout!.on('data', (chunk: Buffer) => { for (const b of chunk) if (b === 0x0a) received++; });
    await sleep(1500);
    const memory = statusKb(child.pid!);
    const cgroupIdle = cgroup ? { usageKb: Math.round(cgroup.usageKb()), ...cgroup.statMb() } : null;
    const idle0 = cpuMs(child.pid!);
    await sleep(SECONDS * 1000);
    const idleCpuMs = cpuMs(child.pid!) - idle0;
    // The unit writes: 3,000 entries a second (1,000 of them the followed unit's), in one-second batches.
    const busy0 = cpuMs(child.pid!);
    const busyStart = Date.now();
    for (let s = 0; s < SECONDS; s++) {
      const tick = Date.now();
      await writeJournal(dir, entries(ENTRIES + s * 3000, 3000));
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
    await sleep(500);
    const busyCpuMs = cpuMs(child.pid!) - busy0;
    const busySeconds = (Date.now() - busyStart) / 1000;
    const busyMemory = statusKb(child.pid!);
    const cgroupBusy = cgroup ? { usageKb: Math.round(cgroup.usageKb()), ...cgroup.statMb() } : null;
    child.kill();
    await new Promise((r) => child.once('exit', r));
    cgroup?.remove();

    // Poll: one run per second at the tail, each a fresh process opening the journal.
    const pollCpuMs = childrenCpuMs(['journalctl', ...journalctlArgs({ units: [UNIT], directory: dir, cursor, follow: false }), '--lines=500'], POLLS) / POLLS;
    const spawnCpuMs = childrenCpuMs(['journalctl', '--version'], POLLS) / POLLS;

    // The agent's share: parsing the followed unit's entries.
    const all = execFileSync('journalctl', journalctlArgs({ units: [UNIT], directory: dir, cursor: null, follow: false }),
      { encoding: 'utf8', maxBuffer: 1 << 30 }).split('\n').filter(Boolean);
    const t0 = process.hrtime.bigint();
    for (const line of all) parseJournalEntry(line, { maxLineBytes: 65536, now: Date.now, units: [UNIT] });
    const parseSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

    console.log(JSON.stringify({
      node: process.version,
      journal: { entries: ENTRIES, followedUnitShare: 1 / 3, bytes: journalBytes },
      follow: {
        ...memory,
        idleCpuPercent: round(idleCpuMs / (SECONDS * 10)),
        busyCpuPercent: round(busyCpuMs / (busySeconds * 10)),
        busyEntriesPerSecond: Math.round(received / busySeconds),
        busyMemory,
        // The kernel's accounting of the child's own cgroup (null where cgroups are not writable): anonymous
        // memory plus page cache first touched by it; journal pages journald already touched are not in it.
        cgroupIdle,
        cgroupBusy,
      },
      poll: { cpuMsPerRun: round(pollCpuMs), cpuPercentAtOnePerSecond: round(pollCpuMs / 10), extraResidentKbBetweenRuns: 0 },
      baseline: { journalctlVersionCpuMs: round(spawnCpuMs) },
      parse: { entriesPerSecond: Math.round(all.length / parseSeconds), entries: all.length },
      agent: AGENT ? await agentScenario(dir) : null,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One agent with journal_units beside one with a log file, both fed 100 records/s, for AGENT_SECONDS. */
async function agentScenario(dir: string): Promise<Record<string, unknown>> {
  const pgDir = mkdtempSync(join(tmpdir(), 'observ-bench-journal-pg-'));
  const pg = new EmbeddedPostgres({ dir: pgDir });
  const children: ChildProcess[] = [];
  const cgroups: MemoryCgroup[] = [];
  try {
    await pg.start();
    const c = await connect(pg.url);
    try { await migrate(c); } finally { await c.end(); }
    const journalDir = join(dir, 'agent-journal');
    mkdirSync(journalDir);
    const logFile = join(dir, 'app.log');
    writeFileSync(logFile, '');
    const run = (name: string, monitoring: string) => {
      const appDir = join(dir, name);
      mkdirSync(appDir);
      const config = join(appDir, 'config.yml');
      writeFileSync(config, `monitoring:\n  enabled: true\n  postgres_url: "${pg.url}"\n  collection_interval: 10\n  flush_interval: 5\n${monitoring}`);
      const cg = MemoryCgroup.create(`observ-bench-journal-${process.pid}-${name}`);
      if (cg) cgroups.push(cg);
      const argv = [...AGENT_NODE_FLAGS, AGENT_BIN, name, '--config', config, '--state-dir', join(appDir, 'state'), '--vps-name', 'bench'];
      const options = { env: { ...process.env, ...AGENT_ENV }, stdio: ['ignore', 'ignore', 'ignore'] as ['ignore', 'ignore', 'ignore'] };
      const child = cg ? cg.spawn(process.execPath, argv, options) : spawn(process.execPath, argv, options);
      children.push(child);
      return { child, cg };
    };
    const journal = run('journal', `  journal_units: [${UNIT}]\n  journal_directory: ${journalDir}\n`);
    const file = run('file', `  log_files: [${logFile}]\n`);
    const samples = { journal: [] as number[], file: [] as number[], journalCgroup: [] as number[], fileCgroup: [] as number[] };
    let n = 0;
    const until = Date.now() + AGENT_SECONDS * 1000;
    while (Date.now() < until) {
      const tick = Date.now();
      const batch = entries(n, 300).filter((e) => e._SYSTEMD_UNIT === UNIT);
      await writeJournal(journalDir, batch);
      appendFileSync(logFile, batch.map((e) => `${String(e.MESSAGE)}\n`).join(''));
      n += 300;
      if (Date.now() - (until - AGENT_SECONDS * 1000) > 10_000) { // after a 10 s warm-up
        samples.journal.push(statusKb(journal.child.pid!).rssKb);
        samples.file.push(statusKb(file.child.pid!).rssKb);
        if (journal.cg) samples.journalCgroup.push(journal.cg.usageKb());
        if (file.cg) samples.fileCgroup.push(file.cg.usageKb());
      }
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
    const stored = await connect(pg.url);
    let rows: Record<string, number> = {};
    try {
      const r = await stored.query<{ app_name: string; n: string }>('SELECT app_name, count(*) AS n FROM log_entries GROUP BY app_name');
      rows = Object.fromEntries(r.rows.map((x) => [x.app_name, Number(x.n)]));
    } finally { await stored.end(); }
    const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : null);
    return {
      seconds: AGENT_SECONDS, recordsPerSecond: 100, rowsStored: rows,
      journalAgent: { rssKbMedian: median(samples.journal), cgroupKbMedian: median(samples.journalCgroup) },
      baselineFileAgent: { rssKbMedian: median(samples.file), cgroupKbMedian: median(samples.fileCgroup) },
    };
  } finally {
    for (const child of children) {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    }
    for (const cg of cgroups) cg.remove();
    await pg.stop().catch(() => {});
    rmSync(pgDir, { recursive: true, force: true });
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

await main();
