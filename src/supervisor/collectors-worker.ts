// Worker-thread entry for placement `isolated`: hosts the collectors and speaks to the supervisor
// over the worker's parent port.
//
//   supervisor (main) ──ControlMessage──► this thread: CollectorHost ─► sampler · prober · tailer
//                     ◄─CollectorMessage─  (READY per actor, HEARTBEAT, data, ERROR, STOPPED)
//
// An uncaught error ends the thread with code 1 after an ERROR naming the actor whose code threw
// (thread-stream does the same); the supervisor sees the exit and restarts the thread with backoff.
// After STOP the host hands over what it holds, answers STOPPED per actor and the thread exits 0:
// messages posted before exit are delivered before the 'exit' event.

import { parentPort, workerData } from 'node:worker_threads';
import { CollectorHost, actorInScope } from './host.js';
import { HeapGuard } from './heap-guard.js';
import type { CollectorsStart } from './actor.js';
import type { CollectorMessage, ControlMessage } from './messages.js';

/** What the supervisor hands the collectors worker. */
export interface CollectorsWorkerData {
  start: CollectorsStart;
  heartbeatIntervalMs: number;
}

if (!parentPort) throw new Error('collectors-worker must run in a worker thread');
const port = parentPort;
const { start, heartbeatIntervalMs } = workerData as CollectorsWorkerData;
const send = (m: CollectorMessage) => port.postMessage(m);

const crash = (err: unknown) => {
  const e = err instanceof Error ? err : new Error(String(err));
  // Unattributed errors (the host itself) are reported against the sampler, which always runs.
  send({ type: 'ERROR', actor: actorInScope() ?? 'sampler', message: `crashed: ${e.message}`, stack: e.stack });
  process.exit(1);
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

const host = new CollectorHost(send, { heartbeatIntervalMs });
port.on('message', (m: ControlMessage) => {
  if (m.type === 'STOP') void host.stop().then(() => process.exit(0));
  else host.handle(m);
});
// A start failure was already reported as ERROR by the host; exit so the supervisor restarts us.
host.start(start).catch(() => process.exit(1));
// This thread's own heap (heap-guard.ts); the timer does not keep the thread alive.
new HeapGuard().start();
