import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const childScript = fileURLToPath(new URL('../fixtures/logcore/exit-child.js', import.meta.url));
const COUNT = 5000;

interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runChild(args: string[]): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function tempFile(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logcore-exit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'logs', 'app.log');
}

function assertAllLines(text: string): void {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the output ends with a newline');
  assert.equal(lines.length, COUNT);
  lines.forEach((line, index) => {
    const parsed = JSON.parse(line) as { message: string; context: { index: number } };
    assert.equal(parsed.message, `line ${index}`);
    assert.equal(parsed.context.index, index);
  });
}

test('no line is lost when the process calls process.exit()', async (t) => {
  const file = tempFile(t);
  const outcome = await runChild(['exit', String(COUNT), file]);
  assert.equal(outcome.code, 3);
  assertAllLines(fs.readFileSync(file, 'utf8'));
});

test('no line is lost when the process dies of an uncaught exception', async (t) => {
  const file = tempFile(t);
  const outcome = await runChild(['uncaught', String(COUNT), file]);
  assert.equal(outcome.code, 1);
  assert.match(outcome.stderr, /Error: boom/);
  assertAllLines(fs.readFileSync(file, 'utf8'));
});

test('no line is lost when the process dies of an unhandled rejection', async (t) => {
  const file = tempFile(t);
  const outcome = await runChild(['rejection', String(COUNT), file]);
  assert.equal(outcome.code, 1);
  assertAllLines(fs.readFileSync(file, 'utf8'));
});

test('no line is lost on SIGTERM, and the process still dies of the signal', async (t) => {
  const file = tempFile(t);
  const outcome = await runChild(['sigterm', String(COUNT), file]);
  assert.equal(outcome.signal, 'SIGTERM');
  assertAllLines(fs.readFileSync(file, 'utf8'));
});

test('no line is lost when the event loop runs dry', async (t) => {
  const file = tempFile(t);
  const outcome = await runChild(['natural', String(COUNT), file]);
  assert.equal(outcome.code, 0);
  assertAllLines(fs.readFileSync(file, 'utf8'));
});

test('lines go to stdout without a log file, none lost on process.exit()', async () => {
  const outcome = await runChild(['exit', String(COUNT)]);
  assert.equal(outcome.code, 3);
  assertAllLines(outcome.stdout);
});
