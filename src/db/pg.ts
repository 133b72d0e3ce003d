// Loads node-postgres without the memory it would otherwise cost on Node 20.
//
// pg's Cloudflare-Workers check (lib/stream.js) constructs a `Response` when `navigator` is
// undefined, which loads Node's internal fetch (undici) — measured at ~6 MB RSS of the 15 MB that
// `require('pg')` costs. Node ≥ 21 defines `navigator` itself; on Node 20 we define the same shape
// before pg loads. Everything in the project gets pg through here.
//
// In the agent's bundle (scripts/build-agent.ts) this module is CommonJS with esbuild's `require`,
// and esbuild bundles pg and pg-copy-streams/copy-from into it: `require('pg')` below is then the
// bundled copy, still evaluated only when first called. Everywhere else (hub, tests, benches) this
// is an ES module, `require` is undefined, and they load from node_modules.

import { createRequire } from 'node:module';
import type * as PgTypes from 'pg';
import type { from as CopyFrom } from 'pg-copy-streams';

const esmRequire = createRequire(import.meta.url);
let pgModule: typeof PgTypes | undefined;

export function loadPg(): typeof PgTypes {
  if (!pgModule) {
    const g = globalThis as { navigator?: unknown };
    if (typeof g.navigator === 'undefined') {
      g.navigator = { userAgent: `Node.js/${process.versions.node.split('.')[0]}` };
    }
    pgModule = (typeof require === 'function' ? require('pg') : esmRequire('pg')) as typeof PgTypes;
  }
  return pgModule;
}

/**
 * pg-copy-streams' COPY FROM only: the package's index also loads copy-to and copy-both, and with
 * them node:assert.
 */
export function loadCopyFrom(): typeof CopyFrom {
  return (typeof require === 'function' ? require('pg-copy-streams/copy-from') : esmRequire('pg-copy-streams/copy-from')) as typeof CopyFrom;
}

export type PgClient = PgTypes.Client;
export type PgPool = PgTypes.Pool;

export interface ConnectOptions {
  /** Connect timeout (ms). */
  connectTimeoutMs?: number;
  /** Client-side deadline per query (ms): node-postgres waits forever on a frozen server without it. */
  queryTimeoutMs?: number;
  /**
   * Server-side statement_timeout (ms), sent in the startup packet. `null` sends none: PgBouncer
   * refuses a startup packet that carries it ("unsupported startup parameter"), so a client that may
   * go through PgBouncer sets it per transaction with SET LOCAL instead.
   */
  statementTimeoutMs?: number | null;
  applicationName?: string;
}

export function clientConfig(connectionString: string, options: ConnectOptions = {}): PgTypes.ClientConfig {
  return {
    connectionString,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    query_timeout: options.queryTimeoutMs ?? 30_000,
    ...(options.statementTimeoutMs === null ? {} : { statement_timeout: options.statementTimeoutMs ?? 25_000 }),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: options.applicationName ?? 'observ',
  };
}

export async function connect(connectionString: string, options: ConnectOptions = {}): Promise<PgClient> {
  const pg = loadPg();
  const client = new pg.Client(clientConfig(connectionString, options));
  // An idle client whose server goes away emits 'error'; without a listener that crashes the process.
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** A connection string with the password hidden, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:***@');
  }
}

/**
 * A pool whose clients can never crash the process: node-postgres removes the pool's idle 'error'
 * listener from a checked-out client, so a connection that drops between two queries of a
 * transaction would otherwise throw an uncaught 'error'. The query in flight still rejects.
 */
export function createPool(connectionString: string, options: ConnectOptions & { max?: number },
  onError: (err: Error) => void = () => {}): PgPool {
  const pg = loadPg();
  const pool = new pg.Pool({ ...clientConfig(connectionString, options), max: options.max ?? 10 });
  pool.on('error', onError);
  pool.on('connect', (client) => { client.on('error', onError); });
  return pool;
}

/**
 * Runs `work` in one transaction on a pooled connection. A client's 'error' event is already
 * handled by createPool; a connection that died mid-transaction fails its next query, then the
 * ROLLBACK, and is destroyed rather than returned to the pool.
 */
export async function inTransaction<T>(pool: PgPool, work: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => { broken = rollbackErr; });
    throw err;
  } finally {
    client.release(broken);
  }
}
