// First version of the tailer (polling, from the committed offset); the collectors issue replaces it
// with the rotation-proof follower.
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import type { ActorFactory } from '../../supervisor/actor.js';
import type { LogRecord } from '../../supervisor/messages.js';
import { parseLogLine } from './parse.js';

export const createTailer: ActorFactory = (start, ctx) => {
  const offsets = new Map<string, number>();
  for (const p of start.config.logFiles) offsets.set(p, start.checkpoints.find((c) => c.path === p)?.offset ?? 0);
  let timer: NodeJS.Timeout | null = null;
  const poll = () => {
    for (const [path, offset] of offsets) {
      let size: number;
      try { size = statSync(path).size; } catch { continue; }
      let pos = size < offset ? 0 : offset;
      if (size <= pos) continue;
      const fd = openSync(path, 'r');
      try {
        const buf = Buffer.alloc(Math.min(size - pos, 1 << 20));
        const n = readSync(fd, buf, 0, buf.length, pos);
        const end = buf.lastIndexOf(10, n - 1);
        if (end < 0) continue;
        const records: LogRecord[] = [];
        let s = 0;
        for (let i = buf.indexOf(10, 0); i !== -1 && i <= end; i = buf.indexOf(10, s)) {
          records.push(parseLogLine(buf.subarray(s, i), { readAt: new Date(), sourceFile: path, maxLineBytes: start.config.maxLineBytes }));
          s = i + 1;
        }
        pos += end + 1;
        offsets.set(path, pos);
        ctx.send({ type: 'LOGS', batch: { records, checkpoint: { path, identity: null, offset: pos }, bytes: end + 1 } });
      } finally { closeSync(fd); }
    }
  };
  return {
    name: 'tailer',
    async start() { timer = setInterval(poll, 250); },
    handle() {},
    async stop() { if (timer) clearInterval(timer); poll(); },
  };
};
