import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabase } from '../helpers/pg.js';
import { runDoctor, formatChecks, type DoctorCheck } from '../../src/ops/doctor.js';
import { freePort } from '../../src/db/embedded.js';
import { runCli } from './run-cli.js';
import { cgroupFor, nodeChild } from '../helpers/cgroup.js';
import { cgroupMounts } from '../../src/workers/sampler/app-procfs.js';
import { parseMounts } from '../../src/workers/sampler/procfs.js';
import { numberedEntries, writeJournal } from '../helpers/journal.js';

interface Setup {
  root: string;
  appDir: string;
  configFile: string;
  logFile: string;
  stateDir: string;
  healthUrl: string;
}

async function healthServer(t: TestContext): Promise<string> {
  const server: Server = createServer((req, res) => { res.writeHead(req.url === '/health' ? 200 : 404); res.end('ok'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const addr = server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/health`;
}

/** A deployment as the spec lays it out, in a temporary root that the service user may traverse. */
async function goodSetup(t: TestContext, dbUrl: string | null): Promise<Setup> {
  const root = mkdtempSync(join(tmpdir(), 'observ-doctor-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const appDir = join(root, 'shop');
  const logDir = join(appDir, 'current', 'logs');
  mkdirSync(logDir, { recursive: true, mode: 0o755 });
  const logFile = join(logDir, 'app.log');
  writeFileSync(logFile, '{"level":"INFO","message":"hi"}\n', { mode: 0o644 });
  chmodSync(logFile, 0o644);
  const healthUrl = await healthServer(t);
  const configFile = join(appDir, 'config.yml');
  writeFileSync(configFile, [
    'monitoring:', '  enabled: true', '  postgres_url: ${OBSERV_DB_URL}', '  collection_interval: 60',
    '  health_checks:', `    - url: ${healthUrl}`, '      interval: 30', '      timeout: 5',
    '  log_files:', `    - ${logFile}`, ''].join('\n'), { mode: 0o644 });
  if (dbUrl) writeFileSync(join(appDir, '.env.production'), `OBSERV_DB_URL=${dbUrl}\n`, { mode: 0o600 });
  const stateDir = join(root, 'state', 'shop');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'spool-000001.seg'), Buffer.alloc(4096));
  return { root, appDir, configFile, logFile, stateDir, healthUrl };
}

/** The environment without OBSERV_DB_URL: the service finds it in .env.production only. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OBSERV_DB_URL;
  return env;
}

function find(checks: DoctorCheck[], name: string): DoctorCheck[] {
  return checks.filter((c) => c.name === name);
}

test('a good setup passes every check', async (t) => {
  const db = await testDatabase(t);
  const s = await goodSetup(t, db.url);
  const checks = await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv() });
  assert.deepEqual(checks.filter((c) => c.status === 'fail'), [], formatChecks(checks));
  assert.equal(find(checks, 'config')[0]?.status, 'ok');
  assert.match(find(checks, 'database URL')[0]!.detail, /OBSERV_DB_URL is set in .*\.env\.production/);
  assert.equal(find(checks, 'database')[0]?.status, 'ok');
  assert.match(find(checks, 'schema')[0]!.detail, /as this agent expects/);
  assert.equal(find(checks, 'privileges')[0]?.status, 'ok');
  assert.match(find(checks, 'health URL')[0]!.detail, /answered 200/);
  // Readable, but in /tmp: under systemd PrivateTmp would hide it, which is worth a warning.
  const log = find(checks, 'log file')[0]!;
  assert.notEqual(log.status, 'fail');
  assert.match(find(checks, 'state directory')[0]!.detail, /1 file, 4\.0 kB .* oldest written \d+ s ago/);
});

test('a missing config is reported with how to create it', async (t) => {
  const s = await goodSetup(t, null);
  const checks = await runDoctor({ app: 'shop', configFile: join(s.appDir, 'nope.yml'), stateDir: s.stateDir, env: cleanEnv() });
  assert.equal(checks.length, 1);
  assert.equal(checks[0]!.status, 'fail');
  assert.match(checks[0]!.detail, /nope\.yml not found/);
  assert.match(checks[0]!.fix!, /monitoring:/);
});

test('an invalid config names the file, line and field', async (t) => {
  const s = await goodSetup(t, null);
  writeFileSync(s.configFile, 'monitoring:\n  enabled: true\n  postgres_url: postgresql://x@y/z\n  collection_interval: 5\n');
  const checks = await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv() });
  assert.equal(checks[0]!.status, 'fail');
  assert.match(checks[0]!.detail, /config\.yml:4 monitoring\.collection_interval must be ≥ 10/);
});

test('an unset OBSERV_DB_URL fails, and the file checks still run', async (t) => {
  const s = await goodSetup(t, null);
  const checks = await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv() });
  const url = find(checks, 'database URL')[0]!;
  assert.equal(url.status, 'fail');
  assert.match(url.detail, /OBSERV_DB_URL is not set/);
  assert.match(url.fix!, /\.env\.production/);
  assert.equal(find(checks, 'database').length, 0, 'no connection attempt without a URL');
  assert.equal(find(checks, 'health URL')[0]?.status, 'ok');
});

test('a wrong password fails the database check with the fix', async (t) => {
  const db = await testDatabase(t);
  const u = new URL(db.url);
  u.password = 'wrong-password';
  const s = await goodSetup(t, u.toString());
  const checks = await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv() });
  const c = find(checks, 'database')[0]!;
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /password authentication failed/);
  assert.doesNotMatch(c.detail, /wrong-password/, 'the password is never printed');
  assert.match(c.fix!, /password in OBSERV_DB_URL/);
});

test('an unreachable database and a dead health URL are failures', async (t) => {
  const port = await freePort();
  const s = await goodSetup(t, `postgresql://observ:pw@127.0.0.1:${port}/observ_metrics`);
  writeFileSync(s.configFile, [
    'monitoring:', '  enabled: true', '  postgres_url: ${OBSERV_DB_URL}',
    '  health_checks:', `    - url: http://127.0.0.1:${port}/health`, '      timeout: 2', ''].join('\n'));
  const checks = await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv() });
  assert.match(find(checks, 'database')[0]!.fix!, /PostgreSQL running/);
  const h = find(checks, 'health URL')[0]!;
  assert.equal(h.status, 'fail');
  assert.match(h.detail, /ECONNREFUSED/);
});

test('a missing log file fails', async (t) => {
  const db = await testDatabase(t);
  const s = await goodSetup(t, db.url);
  rmSync(s.logFile);
  const checks = await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv() });
  const c = find(checks, 'log file')[0]!;
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /does not exist/);
});

test('a log file unreadable by the service user fails even though root can read it', async (t) => {
  const db = await testDatabase(t);
  const s = await goodSetup(t, db.url);
  chmodSync(s.logFile, 0o600);
  let checks = await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv() });
  let c = find(checks, 'log file')[0]!;
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /not readable by the service \(mode 0600/);
  assert.match(c.fix!, /chmod g\+r/);

  // A directory on the way that the service cannot enter.
  chmodSync(s.logFile, 0o644);
  chmodSync(join(s.appDir, 'current'), 0o700);
  checks = await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv() });
  c = find(checks, 'log file')[0]!;
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /cannot enter .*current/);
});

test('observ doctor prints each check and exits non-zero when one fails', async (t) => {
  const db = await testDatabase(t);
  const s = await goodSetup(t, db.url);
  const run = () => runCli(['doctor', 'shop', '--config', s.configFile, '--state-dir', s.stateDir], cleanEnv());
  let out = await run();
  assert.equal(out.status, 0, out.stdout + out.stderr);
  assert.match(out.stdout, /✓ database: connected to 127\.0\.0\.1/);
  assert.match(out.stdout, /all checks passed/);
  rmSync(s.logFile);
  out = await run();
  assert.equal(out.status, 1);
  assert.match(out.stdout, /✗ log file: .*does not exist/);
  assert.match(out.stdout, /fix: /);
  assert.match(out.stdout, /1 problem found/);
});

test('the app\'s processes: doctor says which source the agent will measure and whether the service can see it', async (t) => {
  const s = await goodSetup(t, null);
  const env = { ...cleanEnv(), OBSERV_DEPLOYMENTS_DIR: s.root };
  const current = join(s.appDir, 'current');
  const me = { uid: process.getuid!(), gids: [], groups: [], description: 'this user' };
  let c = find(await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env, identity: me }), 'app processes')[0]!;
  assert.equal(c.status, 'warn');
  assert.match(c.detail, new RegExp(`no unit shop\\.service; looked for processes working under ${current}: none found`));
  assert.match(c.fix!, /monitoring\.service/);

  const app = await nodeChild(t, 'setInterval(() => {}, 1000)', current);
  c = find(await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env, identity: me }), 'app processes')[0]!;
  assert.equal(c.status, 'ok', c.detail);
  assert.match(c.detail, new RegExp(`working under ${current}: found 1 process \\(pid ${app.pid}\\)`));
  // As the shipped unit runs it (a dynamic user), another user's working directory is out of sight.
  c = find(await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env }), 'app processes')[0]!;
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /belong to another user than the service/);

  writeFileSync(s.configFile, readFileSync(s.configFile, 'utf8').replace('  enabled: true\n', '  enabled: true\n  service: shop-web\n'));
  c = find(await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env }), 'app processes')[0]!;
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /monitoring\.service is shop-web\.service, but it has no processes/);
  assert.match(c.fix!, /systemctl status shop-web\.service/);
});

const mounts = cgroupMounts(parseMounts(readFileSync('/proc/mounts', 'latin1')));
test('a unit with a cgroup is reported with its processes and the cgroup files read', { skip: (process.getuid?.() !== 0 || !(mounts.unified || mounts.systemd)) && 'needs root and cgroups' }, async (t) => {
  const s = await goodSetup(t, null);
  const unit = `observ-doctor-${process.pid}.service`;
  writeFileSync(s.configFile, readFileSync(s.configFile, 'utf8').replace('  enabled: true\n', `  enabled: true\n  service: ${unit}\n`));
  const app = await nodeChild(t, 'setInterval(() => {}, 1000)', tmpdir());
  cgroupFor(t, [mounts.unified ?? mounts.systemd!], `system.slice/${unit}`, app.pid!);
  const c = find(await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv() }), 'app processes')[0]!;
  assert.equal(c.status, 'ok');
  assert.match(c.detail, new RegExp(`systemd unit ${unit.replace(/\./g, '\\.')}: 1 process \\(cgroup v[12] /sys/fs/cgroup/\\S+/system\\.slice/${unit.replace(/\./g, '\\.')}`));
});

test('journal_units: doctor runs journalctl as the agent would and says whether it reads the units\' entries', async (t) => {
  const s = await goodSetup(t, null);
  const journalDir = join(s.root, 'journal');
  mkdirSync(journalDir);
  const config = readFileSync(s.configFile, 'utf8');
  writeFileSync(s.configFile, `${config}  journal_units: [shop.service]\n  journal_directory: ${journalDir}\n`);
  const journal = async (o: { journalctl?: string } = {}) =>
    find(await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv(), connectTimeoutMs: 500, ...o }), 'journal');

  let c = (await journal())[0]!;
  assert.equal(c.status, 'warn', 'an empty directory: nothing to read yet');
  await writeJournal(journalDir, numberedEntries('other.service', 1, 3));
  c = (await journal())[0]!;
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /no entries of shop\.service in the journal yet/);
  await writeJournal(journalDir, numberedEntries('shop.service', 1, 3));
  c = (await journal())[0]!;
  assert.equal(c.status, 'ok');
  assert.match(c.detail, /journalctl reads entries of shop\.service in .*journal/);
  c = (await journal({ journalctl: join(s.root, 'no-journalctl') }))[0]!;
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /no-journalctl not found/);
  rmSync(journalDir, { recursive: true });
  c = (await journal())[0]!;
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /journalctl cannot read the journal in .*: Failed to open .*: No such file or directory/);
});

test('journal_units on the system journal fail when the service is in neither systemd-journal nor adm', async (t) => {
  const s = await goodSetup(t, null);
  writeFileSync(s.configFile, `${readFileSync(s.configFile, 'utf8')}  journal_units: [shop.service]\n`);
  const identity = { uid: null, gids: [33], groups: ['www-data'], description: 'a dynamic user in group www-data (33)' };
  const c = find(await runDoctor({ app: 'shop', configFile: s.configFile, stateDir: s.stateDir, env: cleanEnv(), connectTimeoutMs: 500, identity }), 'journal')[0]!;
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /neither the systemd-journal nor the adm group/);
  assert.match(c.fix!, /SupplementaryGroups=systemd-journal/);
});
