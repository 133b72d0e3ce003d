// `npm run bench -- NAME [args]`: runs bench/NAME.ts (compiled), or lists the benchmarks. Each prints
// one JSON object of figures with its baseline beside it.
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const dir = fileURLToPath(new URL('.', import.meta.url));
const names = readdirSync(dir).filter((f) => f.endsWith('.js') && f !== 'run.js').map((f) => f.slice(0, -3)).sort();
const [name, ...args] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  process.stdout.write(`usage: npm run bench -- NAME [args]\nbenchmarks: ${names.join(', ')}\n`);
  process.exit(name ? 2 : 0);
}
const child = spawn(process.execPath, [join(dir, `${name}.js`), ...args], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 1));
