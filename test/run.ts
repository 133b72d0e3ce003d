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
// The same output on every Node line: TAP into a pipe or file (what CI reads; Node 23+ would default
// to spec there), spec on a terminal.
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, `--test-reporter=${reporter}`, ...files], { stdio: 'inherit', env });
const stop = async () => {
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { child.kill(sig); });
child.on('exit', (code, signal) => {
  void stop().then(() => process.exit(code ?? (signal ? 1 : 0)));
});
