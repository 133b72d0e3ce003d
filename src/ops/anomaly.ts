// `observ anomaly detect FILE|-`: the hub's anomaly detector over a `timestamp,value` CSV, streaming
// (one detector, rows written as they are scored), so what it prints is what the hub would raise.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { commandArgs } from '../command.js';
import { ObservError } from '../errors.js';
import { detectLines, formatScored, OUTPUT_HEADER } from '../hub/anomaly/csv.js';

const USAGE = 'usage: observ anomaly detect FILE|- [--interval SECONDS]';

export async function anomalyCommand(args: string[]): Promise<void> {
  const { values, positionals } = commandArgs(args, { interval: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, USAGE, true);
  if (values.help) { process.stdout.write(USAGE + '\n'); return; }
  const [sub, file, ...extra] = positionals;
  if (sub !== 'detect' || file === undefined || extra.length) throw new ObservError('OBS_ERR_USAGE', USAGE);
  let intervalSec: number | undefined;
  if (values.interval !== undefined) {
    intervalSec = Number(values.interval);
    if (!(intervalSec > 0) || !Number.isFinite(intervalSec)) throw new ObservError('OBS_ERR_USAGE', `--interval must be a positive number of seconds (got ${JSON.stringify(values.interval)})`);
  }
  const input = file === '-' ? process.stdin : createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    if (file === '-') return resolve();
    input.once('open', () => resolve());
    input.once('error', (err: NodeJS.ErrnoException) => reject(new ObservError('OBS_ERR_USAGE', `cannot read ${file}: ${err.code ?? err.message}`)));
  });
  await opened;
  const lines = createInterface({ input, crlfDelay: Infinity });
  const out = process.stdout;
  // Bounded output buffer: write in chunks and wait for drain, so a slow reader never grows memory.
  // Rows scored before a bad row are still written, then the error names the bad one.
  let chunk = OUTPUT_HEADER + '\n';
  try {
    for await (const p of detectLines(lines, { intervalSec })) {
      chunk += formatScored(p) + '\n';
      if (chunk.length >= 65_536) {
        if (!out.write(chunk)) await once(out, 'drain');
        chunk = '';
      }
    }
  } finally {
    out.write(chunk);
  }
}
