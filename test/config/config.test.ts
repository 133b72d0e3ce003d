import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig, parseDotenv, defaultConfigPath } from '../../src/supervisor/config.js';
import { ConfigError, ObservError } from '../../src/errors.js';

function deployment(yaml: string, dotenv?: string): { root: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), 'observ-config-'));
  mkdirSync(join(root, 'my-app'));
  const file = join(root, 'my-app', 'config.yml');
  writeFileSync(file, yaml);
  if (dotenv !== undefined) writeFileSync(join(root, 'my-app', '.env.production'), dotenv);
  return { root, file };
}

const SPEC_EXAMPLE = `monitoring:
  enabled: true
  postgres_url: \${OBSERV_DB_URL}
  collection_interval: 60
  health_checks:
    - url: http://localhost:8000/health
      interval: 30
      timeout: 5
  log_files:
    - /opt/deployments/{app}/current/logs/app.log
`;

test('the spec example loads from $OBSERV_DEPLOYMENTS_DIR/APP/config.yml with .env.production beside it', () => {
  const { root } = deployment(SPEC_EXAMPLE, 'OBSERV_DB_URL=postgresql://user:pass@db.host:5432/observ_metrics\n');
  const c = loadAgentConfig({ app: 'my-app', env: { OBSERV_DEPLOYMENTS_DIR: root }, vpsName: 'vps-1', warn: () => {} });
  assert.equal(c.enabled, true);
  assert.equal(c.postgresUrl, 'postgresql://user:pass@db.host:5432/observ_metrics');
  assert.equal(c.collectionInterval, 60);
  assert.deepEqual(c.healthChecks.map((h) => [h.url, h.interval, h.timeout]), [['http://localhost:8000/health', 30, 5]]);
  assert.deepEqual(c.logFiles, ['/opt/deployments/my-app/current/logs/app.log']);
  assert.equal(c.stateDir, '/var/lib/observ/my-app');
  assert.equal(c.vpsName, 'vps-1');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.healthChecks[0]), 'config is deep-frozen');
});

test('defaults follow the spec: disabled, 60 s interval, check interval = collection_interval, timeout 5, no log files', () => {
  const { file } = deployment('monitoring:\n  postgres_url: postgresql://u:p@h/db\n  health_checks:\n    - url: http://x/health\n');
  const c = loadAgentConfig({ app: 'my-app', configFile: file, env: {}, warn: () => {} });
  assert.equal(c.enabled, false);
  assert.equal(c.collectionInterval, 60);
  assert.equal(c.healthChecks[0]!.interval, 60);
  assert.equal(c.healthChecks[0]!.timeout, 5);
  assert.deepEqual(c.healthChecks[0]!.expectStatus, [{ min: 200, max: 399 }]);
  assert.deepEqual(c.logFiles, []);
  assert.equal(c.placement, 'compact');
});

test('the process environment wins over .env.production', () => {
  const { file } = deployment(SPEC_EXAMPLE, 'OBSERV_DB_URL=postgresql://from:file@h/db\n');
  const c = loadAgentConfig({ app: 'my-app', configFile: file, env: { OBSERV_DB_URL: 'postgresql://from:env@h/db' }, warn: () => {} });
  assert.equal(c.postgresUrl, 'postgresql://from:env@h/db');
});

test('default config path is /opt/deployments/APP/config.yml', () => {
  assert.equal(defaultConfigPath('shop', {}), '/opt/deployments/shop/config.yml');
  assert.equal(defaultConfigPath('shop', { OBSERV_DEPLOYMENTS_DIR: '/srv/apps' }), '/srv/apps/shop/config.yml');
});

function issuesOf(yaml: string, env: Record<string, string> = {}): string {
  const { file } = deployment(yaml);
  try {
    loadAgentConfig({ app: 'my-app', configFile: file, env, warn: () => {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assert.equal(err.code, 'OBS_ERR_CONFIG');
    return err.message;
  }
  assert.fail('config was accepted');
}

test('collection_interval below the minimum names file, line and field', () => {
  const msg = issuesOf('monitoring:\n  enabled: true\n  postgres_url: postgresql://u:p@h/db\n  collection_interval: 5\n');
  assert.match(msg, /config\.yml:4 monitoring\.collection_interval must be ≥ 10 \(got 5\)/);
});

test('a check timeout longer than its interval is refused with the check index', () => {
  const msg = issuesOf(`monitoring:
  postgres_url: postgresql://u:p@h/db
  health_checks:
    - url: http://a/health
    - url: http://b/health
      interval: 10
      timeout: 30
`);
  assert.match(msg, /config\.yml:7 monitoring\.health_checks\[1\]\.timeout must be ≤ interval \(30 > 10\)/);
});

test('an unset ${VAR} is an error naming the variable', () => {
  const msg = issuesOf('monitoring:\n  postgres_url: ${OBSERV_DB_URL}\n');
  assert.match(msg, /config\.yml:2 monitoring\.postgres_url refers to \$\{OBSERV_DB_URL\}, which is not set/);
});

test('several problems are reported together, each with its line', () => {
  const msg = issuesOf(`monitoring:
  enabled: "yes"
  postgres_url: mysql://x
  health_checks:
    - url: ftp://files/health
      expect_status: [200, "abc"]
  log_files:
    - relative/path.log
`);
  assert.match(msg, /:2 monitoring\.enabled must be true or false/);
  assert.match(msg, /:3 monitoring\.postgres_url must be a postgresql:\/\/ connection string/);
  assert.match(msg, /:5 monitoring\.health_checks\[0\]\.url must be http:\/\/ or https:\/\//);
  assert.match(msg, /:6 monitoring\.health_checks\[0\]\.expect_status\[1\] must be a status code/);
  assert.match(msg, /:8 monitoring\.log_files\[0\] must be an absolute path/);
});

test('YAML syntax errors carry the line', () => {
  const msg = issuesOf('monitoring:\n  enabled: true\n  health_checks: [\n');
  assert.match(msg, /config\.yml:\d+ \(yaml\)/);
});

test('a missing monitoring section is refused', () => {
  assert.match(issuesOf('other: 1\n'), /monitoring is required/);
});

test('unknown keys are warned about with their line, not fatal', () => {
  const { file } = deployment('monitoring:\n  postgres_url: postgresql://u:p@h/db\n  colection_interval: 30\n');
  const warnings: string[] = [];
  loadAgentConfig({ app: 'my-app', configFile: file, env: {}, warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /config\.yml:3 monitoring\.colection_interval is not a known setting/);
});

test('a flush_interval longer than collection_interval is warned about with its line and brought down to it', () => {
  const { file } = deployment('monitoring:\n  postgres_url: postgresql://u:p@h/db\n  collection_interval: 10\n  flush_interval: 60\n');
  const warnings: string[] = [];
  const config = loadAgentConfig({ app: 'my-app', configFile: file, env: {}, warn: (m) => warnings.push(m) });
  assert.equal(config.flushInterval, 10);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /config\.yml:4 monitoring\.flush_interval \(60 s\) is longer than collection_interval \(10 s\): the hub would see this agent as silent between batches/);

  const { file: fine } = deployment('monitoring:\n  postgres_url: postgresql://u:p@h/db\n  collection_interval: 30\n  flush_interval: 30\n');
  const none: string[] = [];
  assert.equal(loadAgentConfig({ app: 'my-app', configFile: fine, env: {}, warn: (m) => none.push(m) }).flushInterval, 30);
  assert.deepEqual(none, []);
});

test('probe options are validated: status ranges and classes, /regex/ bodies, methods', () => {
  const { file } = deployment(`monitoring:
  postgres_url: postgresql://u:p@h/db
  health_checks:
    - url: https://example.test/status
      method: head
      expect_status: ["2xx", "301-302", 418]
      expect_body: /ok|healthy/i
      follow_redirects: true
      headers:
        Authorization: Bearer x
`);
  const c = loadAgentConfig({ app: 'my-app', configFile: file, env: {}, warn: () => {} });
  const h = c.healthChecks[0]!;
  assert.equal(h.method, 'HEAD');
  assert.deepEqual(h.expectStatus, [{ min: 200, max: 299 }, { min: 301, max: 302 }, { min: 418, max: 418 }]);
  assert.deepEqual(h.expectBody, { kind: 'regex', value: 'ok|healthy', flags: 'i' });
  assert.equal(h.followRedirects, true);
  assert.deepEqual(h.headers, { Authorization: 'Bearer x' });
  assert.match(issuesOf('monitoring:\n  postgres_url: postgresql://u:p@h/db\n  health_checks:\n    - url: http://a/\n      expect_body: /[/\n'),
    /:5 monitoring\.health_checks\[0\]\.expect_body is not a valid regular expression/);
});

test('a missing config file is a clear error with the path and the fix', () => {
  assert.throws(() => loadAgentConfig({ app: 'nope', env: { OBSERV_DEPLOYMENTS_DIR: '/nonexistent' } }),
    (err: unknown) => err instanceof ObservError && err.code === 'OBS_ERR_CONFIG_NOT_FOUND' && /\/nonexistent\/nope\/config\.yml/.test(err.message));
});

test('app names that could escape the deployments directory are refused', () => {
  assert.throws(() => loadAgentConfig({ app: '../etc', env: {} }), (err: unknown) => err instanceof ObservError && err.code === 'OBS_ERR_USAGE');
});

test('dotenv parsing handles export, quotes and comments', () => {
  assert.deepEqual(parseDotenv('# c\nexport A=1\nB="two words"\nC=\'x#y\'\nD=plain # trailing\n\nbad line\n'),
    { A: '1', B: 'two words', C: 'x#y', D: 'plain' });
});

test('monitoring.service names the app\'s systemd unit: .service added, {app} expanded; the release dir follows the deployments dir', () => {
  const base = 'monitoring:\n  postgres_url: postgresql://u:p@h/db\n';
  const load = (extra: string) => {
    const { root } = deployment(base + extra);
    return { root, c: loadAgentConfig({ app: 'my-app', env: { OBSERV_DEPLOYMENTS_DIR: root }, warn: () => {} }) };
  };
  const plain = load('');
  assert.equal(plain.c.service, null, 'unset: {app}.service when such a unit exists, else the release dir');
  assert.equal(plain.c.releaseDir, join(plain.root, 'my-app', 'current'));
  assert.equal(load('  service: shop-web\n').c.service, 'shop-web.service');
  assert.equal(load('  service: "{app}@1.service"\n').c.service, 'my-app@1.service');
  assert.equal(load('  service: gunicorn.shop\n').c.service, 'gunicorn.shop.service', 'a dot in the name is not a unit type');
});

test('a monitoring.service that is not a service unit name names file, line and field', () => {
  const base = 'monitoring:\n  postgres_url: postgresql://u:p@h/db\n';
  assert.match(issuesOf(base + '  service: shop.socket\n'), /config\.yml:3 monitoring\.service must be a \.service unit \(got "shop\.socket"\)/);
  assert.match(issuesOf(base + '  service: ../../etc/x\n'), /config\.yml:3 monitoring\.service is not a valid systemd unit name/);
  assert.match(issuesOf(base + '  service: 42\n'), /config\.yml:3 monitoring\.service must be a systemd unit name such as my-app\.service \(got 42\)/);
  assert.match(issuesOf(base + '  service: ""\n'), /config\.yml:3 monitoring\.service must be a systemd unit name/);
});

test('monitoring.db_idle_close: 20 s by default, 0 keeps the connection open, bad values name file, line and field', () => {
  const base = 'monitoring:\n  postgres_url: postgresql://u:p@h/db\n';
  const load = (extra: string) => loadAgentConfig({ app: 'my-app', configFile: deployment(base + extra).file, env: {}, warn: () => {} });
  assert.equal(load('').dbIdleClose, 20);
  assert.equal(load('  db_idle_close: 0\n').dbIdleClose, 0);
  assert.equal(load('  db_idle_close: 300\n').dbIdleClose, 300);
  assert.match(issuesOf(base + '  db_idle_close: -1\n'), /config\.yml:3 monitoring\.db_idle_close must be ≥ 0 \(got -1\)/);
  assert.match(issuesOf(base + '  db_idle_close: 2.5\n'), /config\.yml:3 monitoring\.db_idle_close must be an integer \(got 2\.5\)/);
  assert.match(issuesOf(base + '  db_idle_close: 100000\n'), /config\.yml:3 monitoring\.db_idle_close must be ≤ 86400 \(got 100000\)/);
});

test('monitoring.multiline: on by default with generic limits, `false` or a mapping to change it, bad values name file, line and field', () => {
  const base = 'monitoring:\n  postgres_url: postgresql://u:p@h/db\n';
  const load = (extra: string, warn: (m: string) => void = () => {}) =>
    loadAgentConfig({ app: 'my-app', configFile: deployment(base + extra).file, env: {}, warn });
  assert.deepEqual(load('').multiline, { enabled: true, maxLines: 500, maxBytes: 131072, timeoutMs: 1000 });
  assert.equal(load('  multiline: false\n').multiline.enabled, false);
  assert.deepEqual(load('  multiline:\n    max_lines: 50\n    max_bytes: 8192\n    timeout_ms: 250\n').multiline,
    { enabled: true, maxLines: 50, maxBytes: 8192, timeoutMs: 250 });
  assert.equal(load('  multiline:\n    enabled: false\n').multiline.enabled, false);
  assert.ok(Object.isFrozen(load('').multiline));
  assert.match(issuesOf(base + '  multiline: 3\n'), /config\.yml:3 monitoring\.multiline must be true, false or a mapping/);
  assert.match(issuesOf(base + '  multiline:\n    enabled: "yes"\n'), /config\.yml:4 monitoring\.multiline\.enabled must be true or false/);
  assert.match(issuesOf(base + '  multiline:\n    max_lines: 1\n'), /config\.yml:4 monitoring\.multiline\.max_lines must be ≥ 2 \(got 1\)/);
  assert.match(issuesOf(base + '  multiline:\n    max_bytes: 100\n'), /config\.yml:4 monitoring\.multiline\.max_bytes must be ≥ 1024 \(got 100\)/);
  assert.match(issuesOf(base + '  multiline:\n    timeout_ms: 1.5\n'), /config\.yml:4 monitoring\.multiline\.timeout_ms must be an integer \(got 1\.5\)/);
  assert.match(issuesOf(base + '  multiline:\n    timeout_ms: 700000\n'), /config\.yml:4 monitoring\.multiline\.timeout_ms must be ≤ 600000 \(got 700000\)/);
  const warnings: string[] = [];
  load('  multiline:\n    max_line: 10\n', (m) => warnings.push(m));
  assert.match(warnings.join('\n'), /config\.yml:4 monitoring\.multiline\.max_line is not a known setting/);
});

test('monitoring.journal_units lists systemd units (.service added, {app} expanded); journal_directory is an absolute path', () => {
  const base = 'monitoring:\n  postgres_url: postgresql://u:p@h/db\n';
  const load = (extra: string) => loadAgentConfig({ app: 'my-app', configFile: deployment(base + extra).file, env: {}, warn: () => {} });
  const plain = load('');
  assert.deepEqual(plain.journalUnits, []);
  assert.equal(plain.journalDirectory, null);
  const c = load('  journal_units: [my-app.service, "{app}-worker", cron.timer]\n  journal_directory: /var/log/journal/remote\n');
  assert.deepEqual(c.journalUnits, ['my-app.service', 'my-app-worker.service', 'cron.timer']);
  assert.equal(c.journalDirectory, '/var/log/journal/remote');
  assert.ok(Object.isFrozen(c.journalUnits));
});

test('bad monitoring.journal_units and journal_directory values name file, line and field', () => {
  const base = 'monitoring:\n  postgres_url: postgresql://u:p@h/db\n';
  assert.match(issuesOf(base + '  journal_units: my-app.service\n'), /config\.yml:3 monitoring\.journal_units must be a list of systemd unit names such as \[my-app\.service\]/);
  assert.match(issuesOf(base + '  journal_units:\n    - ok.service\n    - 42\n'), /config\.yml:5 monitoring\.journal_units\[1\] must be a systemd unit name such as my-app\.service \(got 42\)/);
  assert.match(issuesOf(base + '  journal_units:\n    - "a b.service"\n'), /config\.yml:4 monitoring\.journal_units\[0\] is not a valid systemd unit name \(got "a b\.service"\)/);
  assert.match(issuesOf(base + '  journal_units:\n    - "--all"\n'), /config\.yml:4 monitoring\.journal_units\[0\] is not a valid systemd unit name/);
  assert.match(issuesOf(base + '  journal_units: [shop, shop.service]\n'), /config\.yml:3 monitoring\.journal_units\[1\] is listed twice \(shop\.service\)/);
  assert.match(issuesOf(base + '  journal_units: [shop]\n  journal_directory: relative/dir\n'), /config\.yml:4 monitoring\.journal_directory must be an absolute directory path \(got "relative\/dir"\)/);
  assert.match(issuesOf(base + '  journal_directory: /var/log/journal\n'), /config\.yml:3 monitoring\.journal_directory is set but monitoring\.journal_units is empty/);
});
