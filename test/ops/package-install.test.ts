// The install path the README gives: `npm pack` → `npm install -g ./observ-fleet-<version>.tgz`. The
// tarball is packed from this checkout (already built: the test command builds first), installed into
// a temporary prefix from the npm cache that `npm ci` filled (prefer-offline: only metadata the cache
// lacks is fetched), and every bin is run from the installed copy with this test's Node.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { testDatabase } from '../helpers/pg.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };

let installed: Promise<string> | null = null;

/** Packs and installs once per file; resolves with the prefix. */
function installPackage(t: TestContext): Promise<string> {
  installed ??= (async () => {
    const work = mkdtempSync(join(tmpdir(), 'observ-package-'));
    process.once('exit', () => rmSync(work, { recursive: true, force: true }));
    // --ignore-scripts: prepack would rebuild dist/ if it were stale, under the other tests' feet.
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: REPO, encoding: 'utf8' });
    assert.equal(pack.status, 0, pack.stderr);
    const [{ filename, files }] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
    assert.equal(filename, `${pkg.name}-${pkg.version}.tgz`);
    const paths = files.map((f) => f.path);
    for (const needed of ['bin/observ.js', 'dist/src/cli.js', 'dist/ui/index.html', 'dist/examples/demo-app.js', 'ops/obs-agent@.service', 'sql/schema.sql']) {
      assert.ok(paths.includes(needed), `the tarball ships ${needed}`);
    }
    assert.ok(!paths.some((p) => p.startsWith('dist/test/') || p.startsWith('src/')), 'no tests or TypeScript sources in the tarball');
    const prefix = join(work, 'prefix');
    const install = spawnSync('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', join(work, filename)],
      { cwd: work, encoding: 'utf8', timeout: 240_000 });
    assert.equal(install.status, 0, `npm install -g failed: ${install.stderr}`);
    return prefix;
  })();
  return installed;
}

function runBin(prefix: string, bin: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  // The bins' shebang is `env node`; running them with this test's Node checks this Node line.
  return spawnSync(process.execPath, [join(prefix, 'bin', bin), ...args], { encoding: 'utf8', env, timeout: 30_000 });
}

test('the packed tarball installs globally with the bins observ, obs-agent and fleet-hub, and each runs', async (t) => {
  const prefix = await installPackage(t);
  assert.deepEqual(Object.keys(pkg.bin).sort(), ['fleet-hub', 'obs-agent', 'observ']);
  for (const bin of Object.keys(pkg.bin)) assert.ok(existsSync(join(prefix, 'bin', bin)), `${bin} is on the prefix's PATH`);

  const version = runBin(prefix, 'observ', ['--version']);
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout, `observ ${pkg.version} (node ${process.version})\n`);
  const agent = runBin(prefix, 'obs-agent', ['--help']);
  assert.equal(agent.status, 0, agent.stderr);
  assert.match(agent.stdout, /^ {2}observ agent APP \[--config FILE\]/m);
  const hub = runBin(prefix, 'fleet-hub', ['--help']);
  assert.equal(hub.status, 0, hub.stderr);
  assert.match(hub.stdout, /^ {2}observ hub \[--host 127\.0\.0\.1\]/m);
  const agentVersion = runBin(prefix, 'obs-agent', ['--version']);
  assert.equal(agentVersion.stdout, version.stdout);
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  assert.ok(readme.includes(`sudo npm install -g ./${pkg.name}-${pkg.version}.tgz`), 'the README installs the tarball npm pack writes');
});

test('observ install APP --dry-run works from the installed copy and uses its unit template', async (t) => {
  const prefix = await installPackage(t);
  const root = mkdtempSync(join(tmpdir(), 'observ-install-root-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc', 'group'), 'www-data:x:33:\nadm:x:4:\n');
  mkdirSync(join(root, 'usr', 'local', 'bin'), { recursive: true });
  writeFileSync(join(root, 'usr', 'local', 'bin', 'obs-agent'), '#!/bin/sh\n', { mode: 0o755 });
  mkdirSync(join(root, 'opt', 'deployments', 'shop'), { recursive: true });
  writeFileSync(join(root, 'opt', 'deployments', 'shop', 'config.yml'), 'monitoring:\n  enabled: true\n  postgres_url: postgresql://a:b@db.example/observ_metrics\n');
  const env = { ...process.env };
  delete env.OBSERV_SYSTEMD_UNIT_DIR;
  delete env.OBSERV_DEPLOYMENTS_DIR;
  const r = runBin(prefix, 'observ', ['install', 'shop', '--dry-run', '--root', root], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /config .*config\.yml is valid/);
  assert.match(r.stdout, new RegExp(`would write ${root}/etc/systemd/system/obs-agent@\\.service \\(unit template, mode 644\\)`));
  assert.match(r.stdout, /dry run: nothing was changed/);
  assert.ok(!existsSync(join(root, 'etc', 'systemd')));
});

test('an app imports the logger as observ-fleet/logcore from the installed package', async (t) => {
  const prefix = await installPackage(t);
  const app = mkdtempSync(join(tmpdir(), 'observ-app-'));
  t.after(() => rmSync(app, { recursive: true, force: true }));
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(join(prefix, 'lib', 'node_modules', pkg.name), join(app, 'node_modules', pkg.name));
  const logFile = join(app, 'app.log');
  writeFileSync(join(app, 'main.mjs'), `import { getLogger } from '${pkg.name}/logcore';\n` +
    `getLogger('my_app', { logFile: ${JSON.stringify(logFile)} }).info('User action', { context: { user_id: 123 } });\n`);
  const r = spawnSync(process.execPath, [join(app, 'main.mjs')], { cwd: app, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const line = JSON.parse(readFileSync(logFile, 'utf8').trim()) as Record<string, unknown>;
  assert.deepEqual({ level: line.level, logger: line.logger, message: line.message, context: line.context },
    { level: 'INFO', logger: 'my_app', message: 'User action', context: { user_id: 123 } });
});

test('fleet-hub from the installed package serves the dashboard it ships', async (t) => {
  const prefix = await installPackage(t);
  const db = await testDatabase(t);
  const child = spawn(process.execPath, [join(prefix, 'bin', 'fleet-hub'), '--port', '0'],
    { env: { ...process.env, OBSERV_DB_URL: db.url }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.after(async () => { child.kill('SIGTERM'); await exited; });
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`no Dashboard line within 30 s: ${stderr}`)), 30_000);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`fleet-hub exited with ${code}: ${stderr}`)); });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^Dashboard: (http:\/\/\S+)$/.exec(line);
      if (m) { clearTimeout(timer); resolveUrl(m[1]!); }
    });
  });
  const res = await fetch(url + '/');
  assert.equal(res.status, 200);
  assert.match(await res.text(), /<script[^>]+src="\/assets\/app-[0-9a-f]+\.js"/);
});
