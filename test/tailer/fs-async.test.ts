// The agent's promise wrappers over node:fs callbacks (src/workers/fs-async.ts): the results and
// errors node:fs/promises would give, on real files.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, fstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lstat, open, readdir, readlink, stat, statfs } from '../../src/workers/fs-async.js';

function dir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'observ-fs-async-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('open, read at a position, fstat and close a real file; close twice is harmless', async (t) => {
  const d = dir(t);
  const file = join(d, 'app.log');
  writeFileSync(file, 'first line\nsecond line\n');
  const h = await open(file, 'r');
  const buf = Buffer.alloc(6);
  const { bytesRead } = await h.read(buf, 0, 6, 11);
  assert.equal(bytesRead, 6);
  assert.equal(buf.toString(), 'second');
  assert.equal((await h.read(Buffer.alloc(4), 0, 4, 100)).bytesRead, 0, 'past the end reads nothing');
  assert.equal((await h.stat()).size, 23);
  await h.close();
  await h.close();
  assert.throws(() => fstatSync(h.fd), { code: 'EBADF' }, 'the descriptor is closed');
});

test('errors are the node:fs errors, with their codes', async (t) => {
  const d = dir(t);
  await assert.rejects(open(join(d, 'missing.log'), 'r'), { code: 'ENOENT' });
  await assert.rejects(stat(join(d, 'missing.log')), { code: 'ENOENT' });
  await assert.rejects(readlink(join(d)), { code: 'EINVAL' });
});

test('stat, lstat, readdir, readlink and statfs answer as node:fs does', async (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'a.log'), 'x');
  symlinkSync('a.log', join(d, 'current'));
  assert.deepEqual((await readdir(d)).sort(), ['a.log', 'current']);
  assert.equal(await readlink(join(d, 'current')), 'a.log');
  assert.equal((await lstat(join(d, 'current'))).isSymbolicLink(), true);
  assert.equal((await stat(join(d, 'current'))).isFile(), true);
  const fsStats = await statfs(d);
  assert.ok(fsStats.blocks > 0 && fsStats.bsize > 0);
});
