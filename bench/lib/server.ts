// The PostgreSQL a bench runs against: OBSERV_BENCH_PG_URL (an admin URL) when set, else a private
// embedded server in a temporary directory, removed by stop().
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedPostgres } from '../../src/db/embedded.js';

export interface BenchServer {
  admin: string;
  external: boolean;
  /** The postmaster's pid (embedded only). */
  pid?: number;
  stop(): Promise<void>;
}

export async function benchServer(settings?: Record<string, string>): Promise<BenchServer> {
  const external = process.env.OBSERV_BENCH_PG_URL;
  if (external) return { admin: external, external: true, stop: async () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'observ-bench-pg-'));
  const pg = new EmbeddedPostgres({ dir, ...(settings ? { settings } : {}) });
  try {
    await pg.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    admin: pg.urlFor('postgres'),
    external: false,
    ...(pg.pid ? { pid: pg.pid } : {}),
    stop: async () => { await pg.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}
