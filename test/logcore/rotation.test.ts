import { fork } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { getLogger } from '../../src/logcore/index.js';

const hangupChild = fileURLToPath(new URL('../fixtures/logcore/hangup-child.js', import.meta.url));

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logcore-rotation-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function messages(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { message: string }).message);
}

test('after logrotate renames the file, reopen() writes new lines to a fresh file at the path', async (t) => {
  const dir = tempDir(t);
  const logFile = path.join(dir, 'app.log');
  const logger = getLogger('rotating', { logFile });
  t.after(() => logger.close());
  logger.info('before rotation');
  await logger.flush();
  fs.renameSync(logFile, `${logFile}.1`);
  logger.info('buffered while the file was being renamed');
  logger.reopen();
  logger.info('after rotation');
  await logger.flush();
  assert.deepEqual(messages(`${logFile}.1`), ['before rotation', 'buffered while the file was being renamed']);
  assert.deepEqual(messages(logFile), ['after rotation']);
});

test('copytruncate rotation needs nothing: appends land at the start of the truncated file', async (t) => {
  const dir = tempDir(t);
  const logFile = path.join(dir, 'app.log');
  const logger = getLogger('truncated', { logFile });
  t.after(() => logger.close());
  logger.info('x'.repeat(1000));
  await logger.flush();
  fs.truncateSync(logFile, 0);
  logger.info('after truncation');
  await logger.flush();
  const text = fs.readFileSync(logFile, 'utf8');
  assert.ok(text.startsWith('{"timestamp"'), 'no hole of NUL bytes before the new line');
  assert.deepEqual(messages(logFile), ['after truncation']);
});

test('SIGHUP makes a running process reopen its log file', async (t) => {
  const dir = tempDir(t);
  const logFile = path.join(dir, 'app.log');
  const child = fork(hangupChild, [logFile], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit');
  const [ready] = (await once(child, 'message')) as [string];
  assert.equal(ready, 'ready');
  fs.renameSync(logFile, `${logFile}.1`);
  child.kill('SIGHUP');
  const [acknowledged] = (await once(child, 'message')) as [string];
  assert.equal(acknowledged, 'hup');
  child.send('write');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
  assert.deepEqual(messages(`${logFile}.1`), ['before']);
  assert.deepEqual(messages(logFile), ['after']);
});
