// `npm pack` (prepack / postpack): plain JavaScript, since it runs before anything is compiled.
//
//   prepack:  builds when dist/ is missing or older than a source, so a tarball never ships stale
//             code; then writes npm-shrinkwrap.json from package-lock.json, so `npm install -g
//             ./observ-<version>.tgz` installs exactly the dependency versions the tests ran with
//             (and can do so from a filled npm cache, offline).
//   postpack: removes npm-shrinkwrap.json again (the repository keeps package-lock.json only).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shrinkwrap = join(root, 'npm-shrinkwrap.json');

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

/** The oldest of the outputs a package needs; 0 when one is missing. */
function oldestOutput() {
  const outputs = ['dist/src/cli.js', 'dist/ui/index.html', 'dist/examples/demo-app.js'].map((p) => join(root, p));
  return outputs.every(existsSync) ? Math.min(...outputs.map((p) => statSync(p).mtimeMs)) : 0;
}

if (process.argv[2] === 'postpack') {
  rmSync(shrinkwrap, { force: true });
} else {
  const sources = ['src', 'scripts', 'examples', 'package.json', 'tsconfig.json'].map((p) => newest(join(root, p)));
  if (oldestOutput() < Math.max(...sources)) {
    process.stderr.write('prepack: dist/ is missing or older than the sources: building\n');
    const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
  copyFileSync(join(root, 'package-lock.json'), shrinkwrap);
}
