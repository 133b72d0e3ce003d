// Real receivers on 127.0.0.1 for alerting tests: an HTTP server standing in for Slack and for a
// webhook consumer, and an SMTP server (smtp-server) with STARTTLS and authentication.
import type { TestContext } from 'node:test';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { createPool, type PgClient, type PgPool } from '../../src/db/pg.js';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

export interface HttpReceiver {
  url: string;
  port: number;
  /** Accepted requests (2xx answers) only. */
  received: Received[];
  /** Every request, including the ones answered with an error. */
  requests: number;
  /** 'up' answers 200; 'fail' answers 503. */
  mode: 'up' | 'fail';
  close(): Promise<void>;
}

export async function httpReceiver(t: TestContext, port = 0): Promise<HttpReceiver> {
  const rec: HttpReceiver = { url: '', port: 0, received: [], requests: 0, mode: 'up', close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      rec.requests++;
      if (rec.mode === 'fail') { res.writeHead(503).end('down for the test'); return; }
      const body = Buffer.concat(chunks).toString('utf8');
      rec.received.push({ path: req.url ?? '', headers: req.headers, body, json: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', () => resolve()); });
  const addr = server.address();
  rec.port = typeof addr === 'object' && addr ? addr.port : 0;
  rec.url = `http://127.0.0.1:${rec.port}`;
  let closed: Promise<void> | null = null;
  rec.close = () => (closed ??= new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  t.after(() => rec.close());
  return rec;
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  user: string | null;
  secure: boolean;
}

export async function smtpReceiver(t: TestContext, credentials: { user: string; pass: string }): Promise<{ port: number; mails: ReceivedMail[] }> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    secure: false, // plain connection, upgraded with STARTTLS (built-in self-signed certificate)
    authOptional: false,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === credentials.user && auth.password === credentials.pass) cb(null, { user: auth.username });
      else cb(new Error('invalid credentials'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          user: (session.user as string | undefined) ?? null,
          secure: session.secure,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', () => resolve()); });
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port, mails };
}

/** Decodes the text/plain part of a simple MIME message (quoted-printable or 7bit). */
export function mailText(raw: string): { headers: string; text: string; html: string } {
  const decodeQp = (s: string) => Buffer.from(s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  const headerEnd = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, headerEnd);
  const part = (type: string): string => {
    const i = raw.indexOf(`Content-Type: ${type}`);
    if (i < 0) return '';
    const start = raw.indexOf('\r\n\r\n', i) + 4;
    const end = raw.indexOf('\r\n--', start);
    const meta = raw.slice(i, start);
    const body = raw.slice(start, end < 0 ? undefined : end);
    return /quoted-printable/i.test(meta) ? decodeQp(body) : /base64/i.test(meta) ? Buffer.from(body, 'base64').toString('utf8') : body;
  };
  return { headers, text: part('text/plain'), html: part('text/html') };
}

export function tempFile(t: TestContext, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'observ-alerting-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

export function testPool(t: TestContext, url: string): PgPool {
  // The hub's own kind of pool: it guards checked-out clients' 'error' events (src/db/pg.ts).
  const pool = createPool(url, { applicationName: 'alerting-test', max: 5 });
  let ended = false;
  t.after(async () => { if (!ended) { ended = true; await pool.end().catch(() => {}); } });
  return pool;
}

/** An agent that reported just now (collection interval 60 s). */
export async function agentSeen(db: PgClient, vps: string, app: string, agoSeconds = 0, interval = 60): Promise<void> {
  await db.query(
    `INSERT INTO agent_checkpoints (vps_name, app_name, collection_interval, updated_at) VALUES ($1, $2, $4, now() - $3 * interval '1 second')
     ON CONFLICT (vps_name, app_name) DO UPDATE SET updated_at = EXCLUDED.updated_at, collection_interval = EXCLUDED.collection_interval`,
    [vps, app, agoSeconds, interval]);
}

let checkClock = 0;
/** Appends health check results (true = success) in order, each a little later than the previous. */
export async function checks(db: PgClient, vps: string, app: string, url: string, results: boolean[]): Promise<void> {
  for (const ok of results) {
    checkClock++;
    await db.query(
      `INSERT INTO health_checks (timestamp, vps_name, app_name, url, status_code, response_time_ms, success, error_message)
       VALUES (now() - interval '10 minutes' + $5 * interval '1 millisecond', $1, $2, $3, $4, 12, $6, $7)`,
      [vps, app, url, ok ? 200 : 503, checkClock, ok, ok ? null : 'expected status 200-399, got 503']);
  }
}

export async function errorLine(db: PgClient, vps: string, app: string, message: string, agoSeconds: number, level = 'ERROR'): Promise<void> {
  await db.query(
    `INSERT INTO log_entries (timestamp, vps_name, app_name, level, message, logger) VALUES (now() - $4 * interval '1 second', $1, $2, $5, $3, 'app.payments')`,
    [vps, app, message, agoSeconds, level]);
}

export async function metricSample(db: PgClient, vps: string, app: string, agoSeconds: number, m: { cpu?: number; memory?: number; disk?: number; load?: number }): Promise<void> {
  await db.query(
    `INSERT INTO vps_metrics (timestamp, vps_name, app_name, cpu_percent, memory_percent, disk_percent, load_avg_1m, memory_mb, disk_gb)
     VALUES (now() - $3 * interval '1 second', $1, $2, $4, $5, $6, $7, 1024, 40)`,
    [vps, app, agoSeconds, m.cpu ?? 10, m.memory ?? 40, m.disk ?? 50, m.load ?? 0.5]);
}

/**
 * Cleanups that must run before the test database is dropped (t.after hooks run first-registered
 * first): call this before testDatabase(t); what is deferred runs last-in first-out.
 */
export function deferred(t: TestContext): (cleanup: () => Promise<unknown> | void) => void {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  t.after(async () => { for (const c of cleanups.reverse()) await c(); });
  return (cleanup) => { cleanups.push(cleanup); };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `count()` has advanced by `rounds` (e.g. evaluation rounds), bounded. */
export async function rounds(count: () => number, n: number, timeoutMs = 10_000): Promise<void> {
  const target = count() + n;
  const until = Date.now() + timeoutMs;
  while (count() < target) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${n} more rounds`);
    await sleep(20);
  }
}
