import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deploymentRecord, isDeploy, MAX_VERSION_CHARS, parseVersion, releaseEntry, storedTarget } from '../../src/workers/deploys/release.js';
import { readVersionFile, ReleaseWatcher } from '../../src/workers/deploys/watcher.js';
import type { DeploymentRecord } from '../../src/supervisor/messages.js';
import { tempDir } from '../faults/helpers.js';

test('a VERSION file gives the version: its first non-empty line, trimmed, control characters removed, bounded', () => {
  assert.equal(parseVersion('\n  1.4.2  \nbuilt by ci\n'), '1.4.2');
  assert.equal(parseVersion('v2\r\n'), 'v2');
  assert.equal(parseVersion('a\u0000b\u001b[31mc\u202e'), 'ab[31mc');
  assert.equal(parseVersion('x'.repeat(500)), 'x'.repeat(MAX_VERSION_CHARS));
  assert.equal(parseVersion(' \n\t\n'), null);
});

test('without a VERSION file (or an empty one) the release folder name is the version', () => {
  const at = new Date('2026-12-01T10:00:00Z');
  assert.deepEqual(deploymentRecord('/srv/shop/releases/2026-12-01_abc123', '/srv/shop/releases/old', null, at),
    { timestamp: '2026-12-01T10:00:00.000Z', release: '/srv/shop/releases/2026-12-01_abc123', previousRelease: '/srv/shop/releases/old',
      version: '2026-12-01_abc123' });
  assert.equal(deploymentRecord('/srv/shop/releases/r7', null, '\n\n', at).version, 'r7');
  assert.equal(deploymentRecord('/srv/shop/releases/r7', null, '7.0.0\n', at).version, '7.0.0');
});

test('only a new target is a deploy: not the first reading, not a missing symlink, not the same target', () => {
  assert.equal(isDeploy(undefined, '/r/1'), false);
  assert.equal(isDeploy('/r/1', null), false);
  assert.equal(isDeploy('/r/1', '/r/1'), false);
  assert.equal(isDeploy('/r/1', '/r/2'), true);
  assert.equal(isDeploy(null, '/r/1'), true, 'a symlink that appears after the agent saw none is a deploy');
});

test('the last target travels among the file positions and is found again by its key', () => {
  const files = [{ path: '/var/log/app.log', identity: null, offset: 10 }, releaseEntry('/opt/deployments/shop/current', '/r/2')];
  assert.equal(storedTarget(files, '/opt/deployments/shop/current'), '/r/2');
  assert.equal(storedTarget(files, '/opt/deployments/other/current'), undefined);
  assert.equal(storedTarget([releaseEntry('/d/current', null)], '/d/current'), null);
});

test('readVersionFile reads the first bytes of RELEASE/VERSION, and null when there is none', async (t) => {
  const dir = tempDir(t, 'observ-version-');
  writeFileSync(join(dir, 'VERSION'), '3.1.0\n' + 'x'.repeat(10_000));
  assert.equal(parseVersion((await readVersionFile(dir))!), '3.1.0');
  assert.equal(await readVersionFile(join(dir, 'nope')), null);
  mkdirSync(join(dir, 'sub', 'VERSION'), { recursive: true });
  assert.equal(await readVersionFile(join(dir, 'sub')), null, 'a directory named VERSION is not a version');
});

test('the watcher remembers the first target, records a flip once, and offers it again while the writer refuses', async (t) => {
  const root = tempDir(t, 'observ-watch-');
  for (const r of ['r1', 'r2']) mkdirSync(join(root, 'releases', r), { recursive: true });
  writeFileSync(join(root, 'releases', 'r2', 'VERSION'), '2.0.0\n');
  const link = join(root, 'current');
  symlinkSync('releases/r1', link);
  const remembered: Array<string | null> = [];
  const recorded: DeploymentRecord[] = [];
  let accept = false;
  const w = new ReleaseWatcher({ releaseDir: link, stored: undefined, pollMs: 3_600_000,
    record: (d) => { if (accept) recorded.push(d); return accept; }, remember: (target) => { remembered.push(target); } });
  t.after(() => w.close());
  await w.start();
  assert.deepEqual(remembered, [join(root, 'releases', 'r1')]);
  await w.poll();
  assert.equal(recorded.length, 0);
  rmSync(link);
  symlinkSync(join(root, 'releases', 'r2'), link);
  await w.poll(); // refused (spool full): not taken as seen
  assert.equal(recorded.length, 0);
  accept = true;
  await w.poll();
  await w.poll();
  assert.equal(recorded.length, 1);
  assert.equal(recorded[0]!.previousRelease, join(root, 'releases', 'r1'));
  assert.equal(recorded[0]!.release, join(root, 'releases', 'r2'));
  assert.equal(recorded[0]!.version, '2.0.0');
  assert.ok(Date.parse(recorded[0]!.timestamp) <= Date.now());
});

test('a release dir that is not a symlink records nothing and says why once', async (t) => {
  const root = tempDir(t, 'observ-watch-dir-');
  mkdirSync(join(root, 'current'));
  const logs: string[] = [];
  const w = new ReleaseWatcher({ releaseDir: join(root, 'current'), stored: '/somewhere', pollMs: 3_600_000,
    record: () => { throw new Error('not a deploy'); }, remember: () => {}, log: (_l, m) => logs.push(m) });
  t.after(() => w.close());
  await w.start();
  await w.poll();
  assert.equal(logs.filter((m) => /not a symlink/.test(m)).length, 1);
});
