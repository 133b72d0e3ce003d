// A runnable demo app: serves /health (and a slow, sometimes failing /api/status) and logs with
// logcore to a file, the way an app on a monitored VPS does. `npm start` runs it under the agent.
//
//   node dist/examples/demo-app.js --port 8000 --log-file /tmp/demo/app.log

import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { getLogger } from '../src/logcore/index.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '8000' }, host: { type: 'string', default: '127.0.0.1' },
  'log-file': { type: 'string' }, 'lines-per-second': { type: 'string', default: '2' }, 'exit-with-parent': { type: 'boolean', default: false } } });
if (values['log-file']) mkdirSync(dirname(values['log-file']), { recursive: true });
const logger = getLogger('demo_app', { logFile: values['log-file'], context: { service: 'demo' } });

const users = ['ada', 'grace', 'linus', 'margaret', 'ken'];
const actions = ['login', 'checkout', 'search', 'upload', 'logout'];
let requests = 0;

const server = createServer((req, res) => {
  requests++;
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', requests }));
    return;
  }
  if (req.url === '/api/status') {
    // Fails about one time in ten, so the dashboard has something to show.
    const ok = Math.random() > 0.1;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok }));
    if (!ok) logger.error('status check failed', { context: { path: req.url }, err: new Error('database pool exhausted', { cause: new Error('timeout acquiring connection') }) });
    return;
  }
  res.writeHead(404).end('not found');
});

server.listen(Number(values.port), values.host, () => {
  logger.info('demo app listening', { context: { port: Number(values.port) } });
});

const perSecond = Math.max(0, Number(values['lines-per-second']));
let seq = 0;
const timer = perSecond > 0 ? setInterval(() => {
  seq++;
  const user = users[seq % users.length]!;
  const action = actions[(seq * 7) % actions.length]!;
  if (seq % 25 === 0) logger.warn('slow request', { context: { user, action, duration_ms: 1200 + (seq % 800) } });
  else logger.info('User action', { context: { user_id: seq % 1000, user, action, seq } });
}, 1000 / perSecond) : null;

const stop = () => {
  if (timer) clearInterval(timer);
  logger.info('demo app stopping');
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (values['exit-with-parent']) {
  // Started by `observ start`: do not outlive it if it is killed.
  const parent = process.ppid;
  setInterval(() => { if (process.ppid !== parent) stop(); }, 1000).unref();
}
