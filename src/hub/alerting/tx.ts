// One transaction on a pooled connection. While a client is checked out, node-postgres's pool no
// longer listens for its 'error' event, so a connection that dies between queries (a database
// restart while a webhook is being sent) would crash the process; here it is recorded instead, and
// a broken connection is destroyed rather than returned to the pool.
import type { PgClient, PgPool } from '../../db/pg.js';

export async function inTransaction<T>(pool: PgPool, work: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | null = null;
  const onError = (err: Error) => { broken = err; };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => { broken ??= rollbackErr; });
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(broken ?? undefined);
  }
}
