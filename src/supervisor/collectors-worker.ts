// Worker-thread entry for placement `isolated`: hosts the collectors and speaks to the supervisor
// over the worker's parent port. An uncaught error ends the worker; the supervisor sees it through the
// Worker's 'error' and 'exit' events and restarts it with backoff.

import { parentPort, workerData } from 'node:worker_threads';
import { CollectorHost } from './host.js';
import type { CollectorsStart } from './actor.js';
import type { CollectorMessage, ControlMessage } from './messages.js';

if (!parentPort) throw new Error('collectors-worker must run in a worker thread');
const port = parentPort;
const send = (m: CollectorMessage) => port.postMessage(m);

const host = new CollectorHost(send);
port.on('message', (m: ControlMessage) => {
  host.handle(m);
  if (m.type === 'STOP') void host.stop().then(() => { port.close(); });
});
await host.start(workerData as CollectorsStart);
