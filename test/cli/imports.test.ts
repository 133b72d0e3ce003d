// The source's import graph has no cycles: a module never reaches itself through static or dynamic
// imports (type-only imports are erased and do not count). In particular src/ops/ never imports the
// CLI; the plumbing both use lives in src/command.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []);
}

/** Relative imports of one file that survive compilation: `import … from`, `export … from`, `import()`. */
export function runtimeImports(file: string, text: string): string[] {
  const out: string[] = [];
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const patterns = [
    /^\s*(?:import|export)\s+(?!type\s)[^'";]*?\sfrom\s+'(\.[^']+)'/gm,
    /^\s*import\s+'(\.[^']+)'/gm,
    /\bimport\(\s*'(\.[^']+)'\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  return out;
}

function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

test('no module of src/ reaches itself through its imports, and src/ops never imports the CLI', () => {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) graph.set(file, runtimeImports(file, readFileSync(file, 'utf8')));
  assert.ok(graph.size > 50, `read ${graph.size} files`);
  const cli = join(SRC, 'cli.ts');
  for (const [file, imports] of graph) {
    if (file.startsWith(join(SRC, 'ops'))) assert.ok(!imports.includes(cli), `${relative(ROOT, file)} imports src/cli.ts`);
  }
  const show = (c: string[]) => c.map((f) => relative(ROOT, f)).join(' → ');
  assert.deepEqual(cycles(graph).map(show), []);
});

test('the import reader sees static, re-exported and dynamic imports, and skips type-only ones', () => {
  const file = join(SRC, 'x', 'a.ts');
  const text = [
    "import { a } from './b.js';",
    "import type { T } from './types.js';",
    "export { c } from '../c.js';",
    "// import { gone } from './commented.js';",
    "const d = await import('./d.js');",
    "import 'node:fs';",
  ].join('\n');
  assert.deepEqual(runtimeImports(file, text).map((f) => relative(SRC, f)).sort(), ['c.ts', 'x/b.ts', 'x/d.ts']);
});
