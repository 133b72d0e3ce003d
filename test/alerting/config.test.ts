import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.js';
import { defaultAlertConfig, DEFAULT_RULES, loadAlertConfig, parseAlertConfig, parseCondition, parseDuration, formatDuration } from '../../src/hub/alerting/config.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/alerts.yml', import.meta.url));

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseAlertConfig(text, '/etc/observ/alerts.yml', { env, warn: () => {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'OBS_ERR_CONFIG');
    return err.message.split('\n');
  }
  return [];
}

test('the shipped example loads, with its overrides applied to the default rules', () => {
  const cfg = loadAlertConfig(EXAMPLE, { env: { SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/x', OBSERV_WEBHOOK_SECRET: 's', SMTP_PASSWORD: 'p' }, warn: (m) => assert.fail(m) });
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.rules[0]));
  assert.deepEqual(cfg.channels.map((c) => `${c.name}:${c.type}`), ['ops-slack:slack', 'pager:webhook', 'oncall-email:email']);
  const names = cfg.rules.map((r) => r.name);
  assert.ok(!names.includes('memory-high'), 'a default rule can be switched off');
  const disk = cfg.rules.find((r) => r.name === 'disk-full');
  assert.equal(disk?.type, 'metric');
  assert.deepEqual(disk?.type === 'metric' && [disk.metric, disk.op, disk.threshold, disk.forMs], ['disk_percent', '>', 85, 600_000]);
  const email = cfg.channels.find((c) => c.type === 'email');
  assert.deepEqual(email?.type === 'email' && [email.port, email.secure, email.requireTls, email.password], [587, false, true, 'p']);
  const sunday = cfg.maintenance[1]!;
  assert.deepEqual(sunday.kind === 'recurring' && [sunday.days, sunday.startMinute, sunday.durationMs, sunday.timezone], [[0], 180, 7_200_000, 'Europe/Berlin']);
  assert.ok(cfg.rules.every((r) => r.reminderIntervalMs === 4 * 3_600_000));
});

test('with no configuration the default rules run, with no channels', () => {
  const cfg = defaultAlertConfig();
  assert.deepEqual(cfg.rules.map((r) => r.name), DEFAULT_RULES.map((r) => r.name));
  assert.equal(cfg.channels.length, 0);
  assert.equal(cfg.evaluationIntervalMs, 30_000);
  const health = cfg.rules.find((r) => r.type === 'health_check');
  assert.deepEqual(health?.type === 'health_check' && [health.failures, health.successes], [3, 2]);
  assert.deepEqual(parseAlertConfig('', 'empty.yml').rules.map((r) => r.name), DEFAULT_RULES.map((r) => r.name));
});

test('errors name the file, the line and the field', () => {
  const lines = issuesOf(`channels:
  - name: ops
    type: slack
    webhook_url: \${SLACK_URL}
  - name: mail
    type: email
    host: smtp.example.com
    from: a@example.com
rules:
  - name: cpu
    type: metric
    condition: cpu_percentt > 90 for 5m
  - name: h
    type: health_check
    failures: 0
    channels: [nope]
  - name: x
    type: latency
maintenance:
  - name: bad
    at: "25:00"
    duration: 2h
    timezone: Mars/Base
`);
  assert.deepEqual(lines, [
    '/etc/observ/alerts.yml:4 channels[0].webhook_url refers to ${SLACK_URL}, which is not set in the environment',
    '/etc/observ/alerts.yml:4 channels[0].webhook_url is not a valid URL',
    '/etc/observ/alerts.yml:5 channels[1].to is required (one address or a list)',
    '/etc/observ/alerts.yml:12 rules[0].condition names an unknown metric "cpu_percentt" (one of cpu_percent, memory_percent, memory_mb, disk_percent, disk_gb, load_avg_1m, load_avg_5m, load_avg_15m, cpu_user, cpu_system, cpu_iowait, cpu_steal, memory_available_mb, swap_percent, swap_used_mb, disk_free_gb, disk_read_bps, disk_write_bps, net_rx_bps, net_tx_bps, app_cpu_percent, app_rss_mb, app_threads, app_open_files, app_processes)',
    '/etc/observ/alerts.yml:16 rules[1].channels[0] names no configured channel ("nope")',
    '/etc/observ/alerts.yml:15 rules[1].failures must be ≥ 1 (got 0)',
    '/etc/observ/alerts.yml:18 rules[2].type must be one of health_check, metric, agent_silent, log_error_rate, cert_expiry, anomaly (got "latency")',
    '/etc/observ/alerts.yml:21 maintenance[0].at must be a local time HH:MM (e.g. "03:00")',
    '/etc/observ/alerts.yml:23 maintenance[0].timezone is not a known time zone ("Mars/Base")',
  ]);
});

test('YAML syntax errors and unknown keys are reported with their line', () => {
  assert.deepEqual(issuesOf('rules:\n  - name: a\n    name: b\n').map((l) => l.replace(/ \(yaml\).*/, '')), ['/etc/observ/alerts.yml:3']);
  const warnings: string[] = [];
  parseAlertConfig('evaluation_interval: 10s\nrulez: []\n', 'a.yml', { warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, ['a.yml:2 rulez is not a known setting and is ignored']);
});

test('conditions and durations parse, and bad ones say why', () => {
  assert.deepEqual(parseCondition('disk_percent > 90 for 5m'), { metric: 'disk_percent', op: '>', threshold: 90, forMs: 300_000 });
  assert.deepEqual(parseCondition('load_avg_5m >= 4.5'), { metric: 'load_avg_5m', op: '>=', threshold: 4.5, forMs: 0 });
  assert.match(String(parseCondition('disk_percent > 90 for ever')), /invalid duration "ever"/);
  assert.match(String(parseCondition('disk_percent = 90')), /must look like/);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration(45), 45_000);
  assert.equal(parseDuration('soon'), null);
  assert.equal(formatDuration(5_400_000), '1h30m');
  const lines = issuesOf('evaluation_interval: fast\ndelivery: { initial_backoff: 1m, max_backoff: 10s }\n');
  assert.deepEqual(lines, [
    '/etc/observ/alerts.yml:1 evaluation_interval must be a duration like 30s, 5m, 1h (got "fast")',
    '/etc/observ/alerts.yml:2 delivery.max_backoff must be ≥ initial_backoff',
  ]);
});
