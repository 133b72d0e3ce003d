import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { getLogger, type LevelName } from '../../src/logcore/index.js';
import { TWIN_CASES } from '../fixtures/logcore/cases.js';

// dist/test/logcore → the repository root, where the Python sources live (tsc does not copy them).
const root = fileURLToPath(new URL('../../../', import.meta.url));
const pythonApp = path.join(root, 'test', 'fixtures', 'logcore', 'python_app.py');
const FIXED = '{"timestamp":"2026-02-08T20:30:00.123Z",';

function runPython(mode: string, logFile?: string, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const args = ['-B', pythonApp, mode, ...(logFile === undefined ? [] : [logFile])];
    const child = spawn('python3', args, {
      env: { ...process.env, PYTHONPATH: path.join(root, 'clients', 'python'), PYTHONIOENCODING: 'utf-8' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

async function runPythonOk(mode: string, logFile?: string, stdin?: string): Promise<string> {
  const outcome = await runPython(mode, logFile, stdin);
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stderr, '');
  return outcome.stdout;
}

function tempLog(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logcore-python-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'logs', 'app.log');
}

function lines(file: string): string[] {
  const all = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(all.pop(), '', 'every line ends with a newline');
  return all;
}

function stackOf(line: string, ...keys: string[]): string {
  let node = (JSON.parse(line) as { exception: unknown }).exception as Record<string, unknown>;
  for (const key of keys) node = node[key] as Record<string, unknown>;
  return node.stack as string;
}

test('the spec example writes the spec line, byte for byte', async (t) => {
  const logFile = tempLog(t);
  await runPythonOk('spec', logFile);
  const [action, payment, cleanup] = lines(logFile);
  assert.equal(action, FIXED + '"level":"INFO","logger":"my_app","message":"User action","context":{"user_id":123}}');

  const paymentStack = stackOf(payment!);
  const keyStack = stackOf(payment!, 'cause');
  assert.match(paymentStack, /^Traceback \(most recent call last\):\n {2}File ".*python_app\.py", line \d+, in spec\n[\s\S]*\nValueError: card rejected$/);
  assert.match(keyStack, /^Traceback \(most recent call last\):\n[\s\S]*\nKeyError: 'card'$/);
  assert.equal(
    payment,
    FIXED +
      '"level":"ERROR","logger":"my_app","message":"Payment failed","context":{"order_id":456},' +
      `"exception":{"type":"ValueError","message":"card rejected","stack":${JSON.stringify(paymentStack)},` +
      `"cause":{"type":"KeyError","message":"'card'","stack":${JSON.stringify(keyStack)}}}}`,
  );

  // An exception raised while handling another carries it as __context__, written as cause too.
  const cleanupStack = stackOf(cleanup!);
  const osStack = stackOf(cleanup!, 'cause');
  assert.equal(
    cleanup,
    FIXED +
      '"level":"ERROR","logger":"my_app","message":"Cleanup failed","context":{},' +
      `"exception":{"type":"RuntimeError","message":"while handling","stack":${JSON.stringify(cleanupStack)},` +
      `"cause":{"type":"FileNotFoundError","message":"[Errno 2] No such file or directory","code":"ENOENT","stack":${JSON.stringify(osStack)}}}}`,
  );
});

test('Python levels are written with the Node names: WARNING as WARN, CRITICAL as FATAL', async (t) => {
  const logFile = tempLog(t);
  await runPythonOk('levels', logFile);
  assert.deepEqual(
    lines(logFile).map((line) => line.slice(FIXED.length, line.indexOf(',"context"'))),
    [
      '"level":"TRACE","logger":"levels","message":"t"',
      '"level":"DEBUG","logger":"levels","message":"d"',
      '"level":"INFO","logger":"levels","message":"i"',
      '"level":"WARN","logger":"levels","message":"w"',
      '"level":"ERROR","logger":"levels","message":"e"',
      '"level":"FATAL","logger":"levels","message":"c"',
      '"level":"FATAL","logger":"levels","message":"f"',
      '"level":"INFO","logger":"quiet","message":"shown"',
    ],
  );
});

test('Python handles cycles, big integers, NaN, redaction and child context as Node does', async (t) => {
  const logFile = tempLog(t);
  await runPythonOk('values', logFile);
  assert.deepEqual(lines(logFile), [
    FIXED +
      '"level":"INFO","logger":"values","message":"values","context":{"loop":{"name":"loop","self":"[Circular]"},' +
      '"big":"12345678901234567890","nan":null,"tuple":[1,"a"],"password":"[Redacted]","nested":{"password":"[Redacted]"},' +
      '"card":"[Redacted]","other":{"card":"kept"}}}',
    FIXED + '"level":"INFO","logger":"values","message":"from child","context":{"request_id":"r1","service":"worker"}}',
  ]);
});

test('Node and Python write the same bytes for the same record', async (t) => {
  const pythonFile = tempLog(t);
  await runPythonOk('same', pythonFile, JSON.stringify(TWIN_CASES));
  const nodeFile = tempLog(t);
  const logger = getLogger('twin', { logFile: nodeFile, level: 'trace' });
  for (const [level, message, context] of TWIN_CASES) {
    logger[level.toLowerCase() as LevelName](message, { context });
  }
  await logger.close();
  const fromPython = lines(pythonFile).map((line) => line.slice(FIXED.length));
  const fromNode = lines(nodeFile).map((line) => line.slice(FIXED.length));
  assert.equal(fromPython.length, TWIN_CASES.length);
  assert.deepEqual(fromPython, fromNode);
});

test('the Python logger uses a WatchedFileHandler, so a renamed file is replaced by a new one', async (t) => {
  const logFile = tempLog(t);
  await runPythonOk('rotate', logFile);
  assert.deepEqual(lines(`${logFile}.1`).map((line) => (JSON.parse(line) as { message: string }).message), ['before']);
  assert.deepEqual(lines(logFile).map((line) => (JSON.parse(line) as { message: string }).message), ['after']);
});

test('calling get_logger twice for one name does not write lines twice', async (t) => {
  const logFile = tempLog(t);
  await runPythonOk('twice', logFile);
  assert.equal(lines(logFile).length, 1);
});

test('without log_file the Python logger writes UTF-8 lines to stdout', async () => {
  const stdout = await runPythonOk('stdout');
  assert.equal(stdout, FIXED + '"level":"INFO","logger":"to_stdout","message":"on stdout","context":{"emoji":"😀"}}\n');
});
