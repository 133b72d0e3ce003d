// The README's copy-paste examples must keep working: each is loaded by the real loader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAlertConfig } from '../../src/hub/alerting/index.js';
import { loadAgentConfig } from '../../src/supervisor/config.js';

const README = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

function yamlBlockStartingWith(prefix: string): string {
  const start = README.indexOf('```yaml\n' + prefix);
  assert.ok(start >= 0, `README has a yaml block starting with ${prefix}`);
  const body = start + '```yaml\n'.length;
  return README.slice(body, README.indexOf('```', body));
}

test('the README alerting example is a valid alerts file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'observ-readme-'));
  const file = join(dir, 'alerts.yml');
  writeFileSync(file, yamlBlockStartingWith('channels:'));
  const warnings: string[] = [];
  const config = loadAlertConfig(file, {
    env: { SLACK_WEBHOOK_URL: 'https://hooks.slack.test/x', OBSERV_WEBHOOK_SECRET: 'secret', SMTP_PASSWORD: 'pw' },
    warn: (m) => warnings.push(m),
  });
  assert.deepEqual(warnings, []);
  assert.equal(config.channels.length, 3);
  assert.ok(config.rules.some((r) => r.name === 'shop-errors'));
});

test('the README agent config example (the spec\'s) loads for an app', () => {
  const root = mkdtempSync(join(tmpdir(), 'observ-readme-'));
  mkdirSync(join(root, 'my-app'));
  writeFileSync(join(root, 'my-app', 'config.yml'), yamlBlockStartingWith('monitoring:'));
  writeFileSync(join(root, 'my-app', '.env.production'), 'OBSERV_DB_URL=postgresql://user:pass@db.host:5432/observ_metrics\n');
  const warnings: string[] = [];
  const c = loadAgentConfig({ app: 'my-app', env: { OBSERV_DEPLOYMENTS_DIR: root }, warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, []);
  assert.equal(c.enabled, true);
  assert.deepEqual(c.logFiles, ['/opt/deployments/my-app/current/logs/app.log']);
});
