import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BIN } from '../helpers/agent.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAuth, verifyPassword } from '../../src/hub/auth.js';

function observ(args: string[], input = '', env: NodeJS.ProcessEnv = {}) {
  const base = { ...process.env };
  delete base.OBSERV_DB_URL;
  const r = spawnSync(process.execPath, [BIN, ...args], { input, env: { ...base, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('an unknown command exits 2 with the usage', () => {
  const r = observ(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown command "frobnicate"/);
  assert.match(r.err, /observ agent APP/);
});

test('commands that need the database say how to set OBSERV_DB_URL', () => {
  for (const args of [['hub'], ['db', 'migrate']]) {
    const r = observ(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /OBSERV_DB_URL is not set .*OBS_ERR_USAGE/s);
  }
});

test('a bad flag is a usage error naming it', () => {
  const r = observ(['hub', '--prot', '9000']);
  assert.equal(r.code, 2);
  assert.match(r.err, /--prot/);
});

test('hash-password prints a scrypt hash that verifies, and refuses short passwords', async () => {
  const r = observ(['hash-password'], 'correct horse battery staple\n');
  assert.equal(r.code, 0, r.err);
  const hash = /^OBSERV_HUB_PASSWORD_HASH='(scrypt\$[^']+)'$/m.exec(r.out)?.[1];
  assert.ok(hash, r.out);
  // Sourced by a shell, unquoted `$` would have been expanded away.
  const dir = mkdtempSync(join(tmpdir(), 'observ-env-'));
  try {
    writeFileSync(join(dir, 'hub.env'), r.out);
    const sourced = spawnSync('sh', ['-c', '. ./hub.env && printf %s "$OBSERV_HUB_PASSWORD_HASH"'], { cwd: dir, encoding: 'utf8' });
    assert.equal(sourced.stdout, hash);
  } finally { rmSync(dir, { recursive: true, force: true }); }
  // Read literally (an env file that keeps quotes), the hub still takes it.
  assert.ok(await resolveAuth('0.0.0.0', false, undefined, { OBSERV_HUB_PASSWORD_HASH: `'${hash}'` }));
  assert.equal(await verifyPassword('correct horse battery staple', hash), true);
  assert.equal(await verifyPassword('wrong', hash), false);
  const short = observ(['hash-password'], 'short\n');
  assert.equal(short.code, 2);
  assert.match(short.err, /at least 12 characters/);
});

test('version names the package version and the Node version', () => {
  const r = observ(['version']);
  assert.equal(r.code, 0);
  assert.match(r.out, /^observ \d+\.\d+\.\d+ \(node v\d+/);
});
