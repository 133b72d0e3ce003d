// Builds the dashboard: bundles src/hub/ui/app.ts with esbuild into dist/ui/assets/app-<hash>.js,
// copies the stylesheet the same way, and writes dist/ui/index.html pointing at both. The public
// status page (status.ts, without uPlot) becomes assets/status-<hash>.js and status.html.
import { mkdirSync, readFileSync, writeFileSync, rmSync, copyFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export async function buildDashboard(outDir = join(root, 'dist', 'ui')): Promise<void> {
  const { build } = await import('esbuild');
  const src = join(root, 'src', 'hub', 'ui');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'assets'), { recursive: true });
  const bundle = (entry: string) => build({
    entryPoints: [join(src, entry)],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    write: false,
    sourcemap: false,
    legalComments: 'none',
  }).then((r) => r.outputFiles[0]!.contents);
  const [js, statusJs] = await Promise.all([bundle('app.ts'), bundle('status.ts')]);
  const hash = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex').slice(0, 10);
  const jsName = `assets/app-${hash(js)}.js`;
  writeFileSync(join(outDir, jsName), js);
  const statusName = `assets/status-${hash(statusJs)}.js`;
  writeFileSync(join(outDir, statusName), statusJs);
  let css = readFileSync(join(src, 'style.css'), 'utf8');
  const uplotCss = join(root, 'node_modules', 'uplot', 'dist', 'uPlot.min.css');
  if (existsSync(uplotCss)) css = readFileSync(uplotCss, 'utf8') + '\n' + css;
  const cssName = `assets/style-${hash(css)}.css`;
  writeFileSync(join(outDir, cssName), css);
  const html = readFileSync(join(src, 'index.html'), 'utf8')
    .replace('%APP_JS%', '/' + jsName)
    .replace('%APP_CSS%', '/' + cssName);
  writeFileSync(join(outDir, 'index.html'), html);
  writeFileSync(join(outDir, 'status.html'), readFileSync(join(src, 'status.html'), 'utf8')
    .replace('%STATUS_JS%', '/' + statusName)
    .replace('%APP_CSS%', '/' + cssName));
  if (existsSync(join(src, 'favicon.svg'))) copyFileSync(join(src, 'favicon.svg'), join(outDir, 'favicon.svg'));
}
