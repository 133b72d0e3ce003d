import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_GROUPS } from '../../src/ops/access.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../src/supervisor/launch-flags.js';

const OPS = fileURLToPath(new URL('../../../ops/', import.meta.url));
const UNITS = ['obs-agent@.service', 'fleet-hub.service'];

function haveSystemdAnalyze(): boolean {
  return spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;
}

function directives(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of readFileSync(join(OPS, unit), 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

/** A copy of the unit whose ExecStart points at a binary that exists here (verify checks it). */
function runnableCopy(t: TestContext, unit: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'observ-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const text = readFileSync(join(OPS, unit), 'utf8').replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`);
  writeFileSync(join(dir, unit), text);
  return dir;
}

for (const unit of UNITS) {
  test(`${unit} scores at most 2.0 in systemd-analyze security`, (t) => {
    if (!haveSystemdAnalyze()) { t.skip('systemd-analyze is not installed (Debian: apt-get install systemd)'); return; }
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', join(OPS, unit)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const m = /Overall exposure level for .*: (\d+\.\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout.slice(-500));
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} > 2.0`);
  });

  test(`${unit} passes systemd-analyze verify without a warning`, (t) => {
    if (!haveSystemdAnalyze()) { t.skip('systemd-analyze is not installed (Debian: apt-get install systemd)'); return; }
    const dir = runnableCopy(t, unit);
    // A template is verified through an instance of it.
    const name = unit.replace('@.service', '@demo.service');
    const r = spawnSync('systemd-analyze', ['verify', join(dir, name)], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', `verify printed warnings:\n${r.stderr}`);
  });

  test(`${unit} keeps the spec's hardening and leaves out what breaks Node`, () => {
    const d = directives(unit);
    for (const [key, value] of [['PrivateTmp', 'yes'], ['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['Restart', 'on-failure']]) {
      assert.deepEqual(d.get(key!), [value], `${key}=${value}`);
    }
    assert.ok(d.has('MemoryMax') && d.has('CPUQuota'));
    assert.ok(d.has('StartLimitBurst') && d.has('StartLimitIntervalSec'));
    for (const banned of ['MemoryDenyWriteExecute', 'ProcSubset', 'MemoryLimit']) assert.ok(!d.has(banned), `${banned} must not be set`);
  });
}

test('the agent unit runs obs-agent with its state directory, the measured limits and the launcher\'s runtime flags', () => {
  const d = directives('obs-agent@.service');
  assert.deepEqual(d.get('ExecStart'), ['/usr/local/bin/obs-agent %i --state-dir /var/lib/observ/%i']);
  assert.deepEqual(d.get('StateDirectory'), ['observ/%i']);
  assert.deepEqual(d.get('MemoryMax'), ['128M']);
  assert.deepEqual(d.get('MemoryHigh'), ['100M']);
  assert.deepEqual(d.get('CPUQuota'), ['20%']);
  const env = (d.get('Environment') ?? []).join(' ');
  assert.ok(env.includes(`"NODE_OPTIONS=${AGENT_NODE_FLAGS.join(' ')}"`), `NODE_OPTIONS carries ${AGENT_NODE_FLAGS.join(' ')}: ${env}`);
  for (const [k, v] of Object.entries(AGENT_ENV)) assert.match(env, new RegExp(`\\b${k}=${v}\\b`));
  // observ doctor checks log files for exactly these groups.
  assert.deepEqual(d.get('SupplementaryGroups'), [SERVICE_GROUPS.join(' ')]);
});

test('the logrotate example parses, and recommends create over copytruncate', (t) => {
  const file = join(OPS, 'logrotate.example');
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^\s+create 0640 www-data www-data$/m);
  assert.doesNotMatch(text, /^\s+copytruncate/m);
  if (spawnSync('logrotate', ['--version']).error) { t.skip('logrotate is not installed'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'observ-logrotate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync('logrotate', ['--debug', '--state', join(dir, 'state'), file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr + r.stdout, /error/i);
});
