// logcore against its baselines: plain pino (its default synchronous destination, and sonic-boom
// with sync: false) and console.log(JSON.stringify(...)), each writing the same N lines to a file
// and to /dev/null, each in a fresh child process so RSS figures do not mix.
// The Python twin is measured too (when python3 is on PATH) against the standard library's logging
// with a plain text formatter, to a file and to /dev/null.
// Prints one JSON object. Usage: node dist/bench/logcore.js [lines=200000]

import { fork, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { getLogger } from '../src/logcore/index.js';

const COMPETITORS = ['logcore', 'pino_sync', 'pino_async', 'console_log'] as const;
type Competitor = (typeof COMPETITORS)[number];

interface Figures {
  linesPerSecond: number;
  nsPerLine: number;
  rssMb: number;
  maxRssMb: number;
  bytesWritten: number | null;
}

const MESSAGE = 'User action';
const contextFor = (index: number): Record<string, unknown> => ({ user_id: index, path: '/api/orders', ok: true });

type WriteLine = (index: number) => void;

async function prepare(competitor: Competitor, target: string): Promise<{ write: WriteLine; finish: () => Promise<void> }> {
  switch (competitor) {
    case 'logcore': {
      const logger = getLogger('bench', { logFile: target });
      return { write: (index) => logger.info(MESSAGE, { context: contextFor(index) }), finish: () => logger.close() };
    }
    case 'pino_sync':
    case 'pino_async': {
      const destination = pino.destination({ dest: target, sync: competitor === 'pino_sync' });
      await new Promise<void>((resolve) => destination.once('ready', () => resolve()));
      const logger = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'message' }, destination);
      return {
        write: (index) => logger.info({ logger: 'bench', context: contextFor(index) }, MESSAGE),
        finish: () =>
          new Promise<void>((resolve) => {
            destination.once('close', () => resolve());
            destination.end();
          }),
      };
    }
    case 'console_log':
      // The parent points this child's stdout at the target; console.log to a file is synchronous.
      return {
        write: (index) =>
          console.log(
            JSON.stringify({ timestamp: new Date().toISOString(), level: 'INFO', logger: 'bench', message: MESSAGE, context: contextFor(index) }),
          ),
        finish: async () => {},
      };
  }
}

async function runChild(competitor: Competitor, target: string, lines: number): Promise<Figures> {
  const { write, finish } = await prepare(competitor, target);
  const warmup = Math.min(10_000, Math.floor(lines / 10));
  for (let index = 0; index < warmup; index += 1) write(index);
  const started = process.hrtime.bigint();
  for (let index = 0; index < lines; index += 1) write(index);
  await finish();
  const elapsedNs = Number(process.hrtime.bigint() - started);
  return {
    linesPerSecond: Math.round((lines / elapsedNs) * 1e9),
    nsPerLine: Math.round(elapsedNs / lines),
    rssMb: round(process.memoryUsage().rss / 1024 / 1024),
    maxRssMb: round(process.resourceUsage().maxRSS / 1024),
    bytesWritten: target === '/dev/null' ? null : fs.statSync(target).size,
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function measure(competitor: Competitor, target: string, lines: number): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const stdoutFd = competitor === 'console_log' ? fs.openSync(target, 'a') : 'ignore';
    const child = fork(fileURLToPath(import.meta.url), ['--child', competitor, target, String(lines)], {
      stdio: ['ignore', stdoutFd, 'inherit', 'ipc'],
    });
    if (typeof stdoutFd === 'number') fs.closeSync(stdoutFd);
    let figures: Figures | undefined;
    child.on('message', (message) => (figures = message as Figures));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && figures !== undefined) resolve(figures);
      else reject(new Error(`${competitor} → ${target} exited with ${code}`));
    });
  });
}

// Runs inside python3; argv: LINES FILE_DIR. Prints one JSON object.
const PYTHON_BENCH = `
import json, logging, os, resource, sys, time
import logcore
lines, directory = int(sys.argv[1]), sys.argv[2]
def run(logger):
    warmup = min(10000, lines // 10)
    for index in range(warmup):
        logger.info('User action', extra={'context': {'user_id': index, 'path': '/api/orders', 'ok': True}})
    started = time.perf_counter()
    for index in range(lines):
        logger.info('User action', extra={'context': {'user_id': index, 'path': '/api/orders', 'ok': True}})
    for handler in logger.handlers:
        handler.flush()
    elapsed = time.perf_counter() - started
    return {'linesPerSecond': round(lines / elapsed), 'nsPerLine': round(elapsed / lines * 1e9)}
def text_logger(name, target):
    logger = logging.getLogger(name)
    logger.propagate = False
    handler = logging.FileHandler(target)
    handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s %(message)s'))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger
results = {}
for label, target in (('file', os.path.join(directory, 'python.log')), ('devNull', os.devnull)):
    results[label] = {
        'logcore': run(logcore.get_logger('bench_' + label, log_file=target)),
        'logging_text': run(text_logger('text_' + label, target + ('' if target == os.devnull else '.text'))),
    }
print(json.dumps({'python': sys.version.split()[0], 'maxRssMb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), 'results': results}))
`;

function measurePython(lines: number, dir: string): unknown {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const run = spawnSync('python3', ['-B', '-c', PYTHON_BENCH, String(lines), dir], {
    env: { ...process.env, PYTHONPATH: path.join(root, 'clients', 'python') },
    encoding: 'utf8',
  });
  if (run.error !== undefined || run.status !== 0) return { skipped: run.error?.message ?? run.stderr.trim() };
  return JSON.parse(run.stdout) as unknown;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    const figures = await runChild(args[1] as Competitor, args[2]!, Number(args[3]));
    process.send!(figures, () => process.exit(0));
    return;
  }
  const lines = Number(args[0] ?? 200_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logcore-bench-'));
  try {
    const results: Record<string, Record<string, Figures>> = { file: {}, devNull: {} };
    for (const competitor of COMPETITORS) {
      results.file![competitor] = await measure(competitor, path.join(dir, `${competitor}.log`), lines);
      results.devNull![competitor] = await measure(competitor, '/dev/null', lines);
    }
    const sample = fs.readFileSync(path.join(dir, 'logcore.log'), 'utf8').split('\n')[0];
    console.log(
      JSON.stringify({
        scenario: 'logcore',
        lines,
        node: process.version,
        cpu: os.cpus()[0]?.model ?? 'unknown',
        sampleLine: sample,
        results,
        python: measurePython(Math.min(lines, 100_000), dir),
      }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
