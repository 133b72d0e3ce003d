// `observ doctor APP` says whether deploys will be noticed: the release symlink and the version it names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDoctor } from '../../src/ops/doctor.js';
import { tempDir } from '../faults/helpers.js';

test('doctor names the release the symlink points to and its version, or says deploys are not noticed', async (t) => {
  const root = tempDir(t, 'observ-doctor-deploys-');
  const appDir = join(root, 'shop');
  mkdirSync(join(appDir, 'releases', 'r7'), { recursive: true });
  writeFileSync(join(appDir, 'config.yml'), 'monitoring:\n  enabled: true\n  postgres_url: postgresql://unset.invalid/x\n');
  const env = { ...process.env, OBSERV_DEPLOYMENTS_DIR: root };
  const run = async () => (await runDoctor({ app: 'shop', stateDir: join(root, 'state'), env, connectTimeoutMs: 500 })).filter((c) => c.name === 'deploys');

  assert.match((await run())[0]!.detail, /shop\/current does not exist: deploys are not noticed by the agent; record them with `observ deploy shop --version V`/);
  mkdirSync(join(appDir, 'current'));
  assert.match((await run())[0]!.detail, /is a folder, not a symlink/);
  rmSync(join(appDir, 'current'), { recursive: true });
  symlinkSync('releases/r7', join(appDir, 'current'));
  assert.match((await run())[0]!.detail, /→ .*releases\/r7 \(version r7, the folder name\)/);
  writeFileSync(join(appDir, 'releases', 'r7', 'VERSION'), '7.1.0\n');
  const [check] = await run();
  assert.equal(check!.status, 'ok');
  assert.match(check!.detail, /\(version 7\.1\.0, from its VERSION file\): the agent records a deploy when it points elsewhere/);
});
