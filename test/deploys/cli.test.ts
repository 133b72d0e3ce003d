// `observ deploy` as a pipeline runs it: a child process against a real PostgreSQL.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { testDatabase, type TestDatabase } from '../helpers/pg.js';
import { runCli } from '../ops/run-cli.js';
import { tempDir } from '../faults/helpers.js';

function env(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = { ...process.env };
  delete base.OBSERV_DB_URL;
  delete base.OBSERV_VPS_NAME;
  return { ...base, ...extra };
}

const stored = async (db: TestDatabase) => (await db.client.query(
  `SELECT vps_name, app_name, version, release, previous_release, source FROM deployments ORDER BY id`)).rows;

test('observ deploy APP --version records one cli deploy and says so', async (t) => {
  const db = await testDatabase(t);
  const root = tempDir(t, 'observ-deploy-cli-');
  const r = await runCli(['deploy', 'shop', '--version', '2.3.4', '--vps', 'web1'], env({ OBSERV_DB_URL: db.url, OBSERV_DEPLOYMENTS_DIR: root }));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^recorded deploy: shop 2\.3\.4 on web1 at 20\d\d-/);
  assert.deepEqual(await stored(db), [{ vps_name: 'web1', app_name: 'shop', version: '2.3.4', release: null, previous_release: null, source: 'cli' }]);
});

test('without --version the release symlink names the release, and its VERSION file or folder name the version', async (t) => {
  const db = await testDatabase(t);
  const root = tempDir(t, 'observ-deploy-cli-');
  const app = join(root, 'shop');
  mkdirSync(join(app, 'releases', '2026-12-06_a1b2'), { recursive: true });
  mkdirSync(join(app, 'releases', 'r5'), { recursive: true });
  writeFileSync(join(app, 'releases', 'r5', 'VERSION'), '5.0.1\n');
  symlinkSync('releases/r5', join(app, 'current'));
  const e = env({ OBSERV_DB_URL: db.url, OBSERV_DEPLOYMENTS_DIR: root, OBSERV_VPS_NAME: 'web2' });
  assert.equal((await runCli(['deploy', 'shop'], e)).status, 0);
  assert.equal((await runCli(['deploy', 'shop', '--release', join(app, 'releases', '2026-12-06_a1b2')], e)).status, 0);
  assert.deepEqual((await stored(db)).map((r) => [r.vps_name, r.version, r.release]), [
    ['web2', '5.0.1', join(app, 'releases', 'r5')],
    ['web2', '2026-12-06_a1b2', join(app, 'releases', '2026-12-06_a1b2')],
  ]);
});

test("without OBSERV_DB_URL the app's config (and its .env.production) names the database", async (t) => {
  const db = await testDatabase(t);
  const root = tempDir(t, 'observ-deploy-cli-');
  mkdirSync(join(root, 'shop'));
  writeFileSync(join(root, 'shop', 'config.yml'), 'monitoring:\n  enabled: true\n  postgres_url: ${OBSERV_DB_URL}\n');
  writeFileSync(join(root, 'shop', '.env.production'), `OBSERV_DB_URL=${db.url}\n`);
  const r = await runCli(['deploy', 'shop', '--version', 'v9', '--vps', 'web3'], env({ OBSERV_DEPLOYMENTS_DIR: root }));
  assert.equal(r.status, 0, r.stderr);
  assert.equal((await stored(db))[0]?.version, 'v9');
});

test('bad input is a usage error naming what is wrong, and nothing is stored', async (t) => {
  const db = await testDatabase(t);
  const root = tempDir(t, 'observ-deploy-cli-');
  const e = env({ OBSERV_DB_URL: db.url, OBSERV_DEPLOYMENTS_DIR: root });
  const cases: [string[], RegExp][] = [
    [['deploy'], /give exactly one APP/],
    [['deploy', 'shop'], /no version to record: give --version V or --release PATH .*shop\/current is not a release symlink/],
    [['deploy', 'shop', '--version', ' \t'], /--version must be 1–128 printable characters/],
    [['deploy', 'shop', '--version', 'x'.repeat(200)], /--version must be 1–128/],
    [['deploy', 'shop', '--version', '1', '--vps', 'a\u0001b'], /--vps must be 1–256 printable characters/],
    [['deploy', 'shop', '--verison', '1'], /--verison/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args, e);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.match(r.stderr, /OBS_ERR_USAGE/);
  }
  const noDb = await runCli(['deploy', 'shop', '--version', '1'], env({ OBSERV_DEPLOYMENTS_DIR: root }));
  assert.equal(noDb.status, 2);
  assert.match(noDb.stderr, /OBSERV_DB_URL is not set and shop's config was not found/);
  assert.deepEqual(await stored(db), []);
});

test('an unreachable database and a login that holds another agent are clear errors', async (t: TestContext) => {
  const db = await testDatabase(t);
  const down = await runCli(['deploy', 'shop', '--version', '1'], env({ OBSERV_DB_URL: 'postgresql://nobody@127.0.0.1:1/none' }));
  assert.equal(down.status, 1);
  assert.match(down.stderr, /cannot connect to the database.*OBS_ERR_DB_UNREACHABLE/s);
  // An agent's login (sql/roles.sql) may record deploys of its own vps/app only.
  await db.client.query(readFileSync(fileURLToPath(new URL('../../../sql/roles.sql', import.meta.url)), 'utf8'));
  const login = `agent_${randomBytes(4).toString('hex')}`;
  await db.client.query(`CREATE ROLE ${login} LOGIN PASSWORD 'pw-${login}' IN ROLE observ_agent`);
  t.after(async () => { await db.client.query(`DROP OWNED BY ${login}`).catch(() => {}); await db.client.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {}); });
  await db.client.query(`SELECT observ_register_agent('web1', 'shop', $1)`, [login]);
  const u = new URL(db.url);
  u.username = login;
  u.password = `pw-${login}`;
  const own = await runCli(['deploy', 'shop', '--version', '1', '--vps', 'web1'], env({ OBSERV_DB_URL: u.toString() }));
  assert.equal(own.status, 0, own.stderr);
  const other = await runCli(['deploy', 'blog', '--version', '1', '--vps', 'web1'], env({ OBSERV_DB_URL: u.toString() }));
  assert.equal(other.status, 1);
  assert.match(other.stderr, /may not write rows of agent web1\/blog into deployments.*OBS_ERR_AGENT_LOGIN/s);
  assert.deepEqual((await stored(db)).map((r) => r.app_name), ['shop']);
});
