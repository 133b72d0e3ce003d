// `npm test`: starts one embedded PostgreSQL for the whole run (each test file creates its own
// database on it), runs every compiled test file with node:test, stops PostgreSQL, exits with the
// tests' status. Arguments narrow the run: `npm test -- test/hub` or a single file.
//
// OBSERV_TEST_PG_URL (an admin URL to an existing server) skips the embedded server.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedPostgres } from '../src/db/embedded.js';
import { ObservError } from '../src/errors.js';

const distTest = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(distTest, '../..');

function collect(path: string, out: string[]): void {
  if (!existsSync(path)) return;
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) collect(join(path, entry), out);
  } else if (path.endsWith('.test.js')) out.push(path);
}

const filters = process.argv.slice(2);
const files: string[] = [];
if (filters.length) {
  for (const f of filters) {
    // Accept test/x, test/x.test.ts or dist/test/x paths.
    const rel = relative(repoRoot, resolve(f)).replace(/^dist\//, '').replace(/\.ts$/, '.js');
    collect(join(repoRoot, 'dist', rel), files);
  }
} else collect(distTest, files);

if (!files.length) {
  process.stderr.write(`no test files matched ${filters.join(' ')}\n`);
  process.exit(1);
}

let pg: EmbeddedPostgres | null = null;
let dir: string | null = null;
const env = { ...process.env };
if (!env.OBSERV_TEST_PG_URL) {
  dir = mkdtempSync(join(tmpdir(), 'observ-test-pg-'));
  pg = new EmbeddedPostgres({
    dir, settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
    log: (line) => process.stderr.write(`test runner: ${line}\n`),
  });
  try {
    await pg.start();
  } catch (err) {
    // One clear line, not a stack trace; the folder is kept for the logs the message names.
    const code = err instanceof ObservError ? err.code : 'OBS_ERR_EMBEDDED_PG';
    process.stderr.write(`error: the test PostgreSQL did not start: ${(err as Error).message.replace(/\s*\n\s*/g, ' ')} (${code})\n`);
    process.exit(1);
  }
  env.OBSERV_TEST_PG_URL = pg.urlFor('postgres');
}

const concurrency = process.env.OBSERV_TEST_CONCURRENCY ?? '2';

// The tests of what a transport does (HTTP semantics, headers, auth, the live WebSocket, the API's
// errors, the dashboard's live page and origin checks) run over both transports: the default run takes
// the one the hub picks here (uWebSockets.js where a build loads), a second run forces node:http + ws.
// Feature tests (replicas, deploys, anomalies, screens, search, alerts views) go through the same route
// table whichever transport carries it, and run once: a second pass of them made Node 20's line twice
// as long as 22's and 24's, which run every hub test over node:http + ws anyway (no uWS build loads there).
const TRANSPORT_TESTS = /[\\/]test[\\/](hub[\\/](http|transport|live|live-churn|auth|api|params|dashboard-api)|ui[\\/](cross-origin|dashboard))\.test\.js$/;
const { uwsAvailable } = await import('../src/hub/transport/index.js');
const runs: { label: string; files: string[]; env: NodeJS.ProcessEnv }[] = [{ label: 'default', files, env }];
const hubFiles = files.filter((f) => TRANSPORT_TESTS.test(f));
if (!env.OBSERV_HUB_TRANSPORT && hubFiles.length && uwsAvailable()) {
  runs[0]!.label = 'hub over uWebSockets.js';
  runs.push({ label: 'hub over node:http + ws', files: hubFiles, env: { ...env, OBSERV_HUB_TRANSPORT: 'node' } });
}

const totals = { pass: 0, fail: 0, skipped: 0 };
let current: ReturnType<typeof spawn> | null = null;
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { interrupted = true; current?.kill(sig); });

/** One `node --test` run; its TAP goes through unchanged while the summary counts are added up. */
function runOnce(run: (typeof runs)[number]): Promise<number> {
  return new Promise((resolveRun) => {
    // TAP on every Node line (Node 23+ would default to spec into a pipe): the counts are read from it.
    const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=tap', ...run.files], { stdio: ['ignore', 'pipe', 'inherit'], env: run.env });
    current = child;
    let tail = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      const text = tail + chunk.toString('utf8');
      const lines = text.split('\n');
      tail = lines.pop()!;
      for (const line of lines) {
        // TAP (`# pass 3`, Node 20 when piped) or spec (`ℹ pass 3`, Node 22+).
        const m = /^(?:# |\u2139 )(pass|fail|skipped) (\d+)$/.exec(line);
        if (m) totals[m[1] as keyof typeof totals] += Number(m[2]);
      }
    });
    child.on('exit', (code, signal) => resolveRun(code ?? (signal ? 1 : 0)));
  });
}

let status = 0;
try {
  for (const run of runs) {
    if (interrupted) { status ||= 1; break; } // stopped (Ctrl-C, CI's timeout): no further runs, PostgreSQL stops below
    if (runs.length > 1) process.stdout.write(`# observ: ${run.label} (${run.files.length} files)\n`);
    status = (await runOnce(run)) || status;
  }
} finally {
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`tests: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped\n`);
process.exit(status);
