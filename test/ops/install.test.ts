import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planInstall, executeInstall, describeStep, UNIT_TEMPLATE, DROP_IN_NAME, type InstallStep } from '../../src/ops/install.js';
import { runCli } from './run-cli.js';

interface Root {
  root: string;
  configFile: string;
}

/** A machine image in a temporary directory: /etc/group, the app's config and .env.production. */
function fakeRoot(t: TestContext, options: { groups?: string[]; binary?: boolean; enabled?: boolean } = {}): Root {
  const root = mkdtempSync(join(tmpdir(), 'observ-install-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'group'), (options.groups ?? ['www-data:x:33:', 'adm:x:4:']).join('\n') + '\n');
  if (options.binary) {
    mkdirSync(join(root, 'usr', 'local', 'bin'), { recursive: true });
    writeFileSync(join(root, 'usr', 'local', 'bin', 'obs-agent'), '#!/bin/sh\n', { mode: 0o755 });
  }
  const appDir = join(root, 'opt', 'deployments', 'shop');
  mkdirSync(appDir, { recursive: true });
  const configFile = join(appDir, 'config.yml');
  writeFileSync(configFile, `monitoring:\n  enabled: ${options.enabled ?? true}\n  postgres_url: \${OBSERV_DB_URL}\n  log_files:\n    - /opt/deployments/{app}/current/logs/app.log\n`);
  writeFileSync(join(appDir, '.env.production'), 'OBSERV_DB_URL=postgresql://agent:pw@db.example:5432/observ_metrics\n', { mode: 0o600 });
  return { root, configFile };
}

function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const n of names) delete env[n];
  return env;
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(p.slice(dir.length));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

const haveSystemctl = spawnSync('systemctl', ['--version']).status === 0;

test('install --dry-run prints every action and changes nothing', async (t) => {
  const r = fakeRoot(t, { binary: true });
  const before = listTree(r.root);
  const out = await runCli(['install', 'shop', '--dry-run', '--root', r.root], envWithout('OBSERV_DB_URL', 'OBSERV_SYSTEMD_UNIT_DIR'));
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /config .*config\.yml is valid/);
  assert.match(out.stdout, new RegExp(`would write ${r.root}/etc/systemd/system/obs-agent@\\.service \\(unit template, mode 644\\)`));
  assert.match(out.stdout, new RegExp(`would create ${r.root}/var/lib/observ/shop \\(mode 700\\)`));
  assert.match(out.stdout, /enable obs-agent@shop\.service/);
  assert.match(out.stdout, /dry run: nothing was changed/);
  assert.deepEqual(listTree(r.root), before);
});

test('install into a root writes the unit, the state directory and the enable link, and a second run changes nothing', async (t) => {
  const r = fakeRoot(t, { binary: true });
  const print: string[] = [];
  const plan = planInstall({ app: 'shop', root: r.root, env: envWithout('OBSERV_SYSTEMD_UNIT_DIR') });
  executeInstall(plan.steps, { dryRun: false, print: (l) => print.push(l) });

  const unit = join(r.root, 'etc/systemd/system/obs-agent@.service');
  assert.equal(readFileSync(unit, 'utf8'), readFileSync(UNIT_TEMPLATE, 'utf8'));
  assert.equal(statSync(unit).mode & 0o777, 0o644);
  const state = join(r.root, 'var/lib/observ/shop');
  assert.ok(statSync(state).isDirectory());
  assert.equal(statSync(state).mode & 0o777, 0o700);
  assert.equal(existsSync(join(r.root, 'etc/systemd/system/obs-agent@.service.d')), false, 'no drop-in: the machine matches the template');
  if (haveSystemctl) {
    const link = join(r.root, 'etc/systemd/system/multi-user.target.wants/obs-agent@shop.service');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), '/etc/systemd/system/obs-agent@.service');
  }

  const again = planInstall({ app: 'shop', root: r.root, env: envWithout('OBSERV_SYSTEMD_UNIT_DIR') });
  assert.deepEqual(again.steps.filter((s) => s.kind === 'write' || s.kind === 'mkdir' || s.kind === 'remove'), []);
  assert.deepEqual(again.steps.filter((s) => s.kind === 'keep').map((s) => (s as { what: string }).what), ['unit template', 'state directory']);
});

test('a drop-in covers a missing group and a missing binary, and goes away when no longer needed', (t) => {
  const r = fakeRoot(t, { groups: ['www-data:x:33:'], binary: false });
  const env = envWithout('OBSERV_SYSTEMD_UNIT_DIR');
  const plan = planInstall({ app: 'shop', root: r.root, env, systemctl: null });
  executeInstall(plan.steps, { dryRun: false, print: () => {} });
  const dropIn = join(r.root, 'etc/systemd/system/obs-agent@.service.d', DROP_IN_NAME);
  const text = readFileSync(dropIn, 'utf8');
  assert.match(text, /^\[Service\]$/m);
  assert.match(text, /^SupplementaryGroups=$\n^SupplementaryGroups=www-data$/m);
  assert.ok(plan.steps.some((s) => s.kind === 'note' && /usr\/local\/bin\/obs-agent does not exist/.test(s.text)));
  assert.ok(plan.steps.some((s) => s.kind === 'manual' && s.argv.includes('enable')), 'without systemctl, the enable command is printed');

  // The machine gets the adm group: the drop-in is removed.
  writeFileSync(join(r.root, 'etc', 'group'), 'www-data:x:33:\nadm:x:4:\n');
  const again = planInstall({ app: 'shop', root: r.root, env, systemctl: null });
  assert.ok(again.steps.some((s) => s.kind === 'remove' && s.path === dropIn));
  executeInstall(again.steps, { dryRun: false, print: () => {} });
  assert.equal(existsSync(dropIn), false);
});

test('on a machine run by systemd, install reloads, enables and starts the instance', (t) => {
  const r = fakeRoot(t, { binary: true });
  // Planning only: nothing is executed against this machine.
  const fresh = planInstall({ app: 'shop', configFile: r.configFile, env: envWithout('OBSERV_SYSTEMD_UNIT_DIR'), systemdRunning: true });
  const runs = fresh.steps.filter((s): s is Extract<InstallStep, { kind: 'run' }> => s.kind === 'run').map((s) => s.argv.join(' '));
  // A unit file changed by this install is reloaded and the instance restarted; an unchanged one is only started.
  assert.equal(runs.at(-2), 'systemctl enable obs-agent@shop.service');
  assert.match(runs.at(-1)!, /^systemctl (re)?start obs-agent@shop\.service$/);
  assert.equal(runs.includes('systemctl daemon-reload'), runs.at(-1)!.includes('restart'));
  const notRunning = planInstall({ app: 'shop', configFile: r.configFile, env: envWithout('OBSERV_SYSTEMD_UNIT_DIR'), systemdRunning: false });
  assert.deepEqual(notRunning.steps.filter((s) => s.kind === 'run'), []);
  assert.deepEqual(notRunning.steps.filter((s) => s.kind === 'manual').map((s) => describeStep(s, false).trim()),
    ['sudo systemctl daemon-reload', 'sudo systemctl enable --now obs-agent@shop.service']);
});

test('OBSERV_SYSTEMD_UNIT_DIR sends the unit elsewhere and prints the systemctl commands', async (t) => {
  const r = fakeRoot(t, { binary: true });
  const unitDir = join(r.root, 'units');
  const out = await runCli(['install', 'shop', '--root', r.root], { ...envWithout('OBSERV_DB_URL'), OBSERV_SYSTEMD_UNIT_DIR: unitDir });
  assert.equal(out.status, 0, out.stderr);
  assert.ok(existsSync(join(unitDir, 'obs-agent@.service')));
  assert.equal(existsSync(join(r.root, 'etc/systemd')), false);
  assert.match(out.stdout, /sudo systemctl enable --now obs-agent@shop\.service/);
});

test('install refuses an invalid config and names the field', async (t) => {
  const r = fakeRoot(t);
  writeFileSync(r.configFile, 'monitoring:\n  enabled: true\n  postgres_url: ${OBSERV_DB_URL}\n  collection_interval: 1\n');
  const out = await runCli(['install', 'shop', '--root', r.root, '--dry-run'], envWithout('OBSERV_DB_URL'));
  assert.equal(out.status, 2);
  assert.match(out.stderr, /config\.yml:4 monitoring\.collection_interval must be ≥ 10/);
});

test('install does nothing for an app whose monitoring is disabled', async (t) => {
  const r = fakeRoot(t, { enabled: false });
  const out = await runCli(['install', 'shop', '--root', r.root], envWithout('OBSERV_DB_URL', 'OBSERV_SYSTEMD_UNIT_DIR'));
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /monitoring is disabled for shop/);
  assert.equal(existsSync(join(r.root, 'etc/systemd')), false);
});
