// Bundles the agent into one CommonJS file, dist/agent/obs-agent.cjs (run by bin/obs-agent.cjs and
// `observ agent`), and its collectors thread into dist/agent/collectors-worker.cjs (placement
// `isolated`). esbuild is a dev dependency; a production install ships the built files.
//
// Why: the agent as ~30 ES modules costs the ES-module loader and, on Node 22/24, Node's bundled
// undici (an ES-module `import http from 'node:http'` evaluates its lazy WebSocket exports,
// nodejs/node#59686). Figures in docs/footprint.md.
//
// pg and pg-copy-streams/copy-from are bundled in (src/db/pg.ts: loaded when the writer first
// connects, as before). yaml stays outside, loaded from node_modules for the config parse only and
// dropped after (src/yaml-config.ts). Every path computed from `import.meta.url` stays outside too:
// each module's `import.meta.url` becomes the URL of its compiled twin under dist/src, so
// package.json, sql/migrations and node_modules resolve exactly as in the unbundled build.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';

const root = fileURLToPath(new URL('../../', import.meta.url));
// The banner below finds dist/ as the bundle's parent folder.
const outDir = join(root, 'dist', 'agent');

export async function buildAgent(): Promise<void> {
  const { build } = await import('esbuild');
  const src = join(root, 'src');
  await build({
    entryPoints: { 'obs-agent': join(src, 'supervisor', 'main.ts'), 'collectors-worker': join(src, 'supervisor', 'collectors-worker.ts') },
    outdir: outDir,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: ['node20'],
    // Whitespace and syntax only: names stay, so stack traces and logs read as in the source.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    // pg-native and pg-cloudflare: pg requires them only when asked for the native client or when
    // running on Cloudflare Workers, never here.
    external: ['yaml', 'pg-native', 'pg-cloudflare'],
    // Relative to dist/src/supervisor/agent.js, whose URL agent.ts sees (below).
    define: { OBSERV_COLLECTORS_WORKER: JSON.stringify('../../agent/collectors-worker.cjs') },
    banner: { js: "'use strict';const __observDistUrl=(p)=>require('node:url').pathToFileURL(require('node:path').join(__dirname,'..',p)).href;" },
    plugins: [{
      // pg's SCRAM/MD5 helpers on node:crypto's hashes instead of WebCrypto (src/db/pg-crypto.ts says why).
      name: 'pg-crypto-without-webcrypto',
      setup(b) {
        // pg/lib/crypto/utils.js, required as './crypto/utils' (client.js) and './utils' (crypto/sasl.js);
        // pg/lib/utils.js is another module.
        b.onResolve({ filter: /^\.\/(crypto\/)?utils(\.js)?$/ }, (args) =>
          /[\\/]node_modules[\\/]pg[\\/]lib[\\/]crypto[\\/]utils(\.js)?$/.test(join(dirname(args.importer), args.path))
            ? { path: join(src, 'db', 'pg-crypto.ts') } : undefined);
      },
    }, {
      name: 'import-meta-url-of-dist-twin',
      setup(b) {
        b.onLoad({ filter: /\.ts$/ }, async (args) => {
          const twin = relative(root, args.path).replace(/\.ts$/, '.js');
          const contents = (await readFile(args.path, 'utf8')).replaceAll('import.meta.url', `__observDistUrl(${JSON.stringify(twin)})`);
          return { contents, loader: 'ts' };
        });
      },
    }],
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildAgent();
