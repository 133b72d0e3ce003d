import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../src/errors.js';

const README = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

test('the README lists every error code with the catalogue\'s description, and no other', () => {
  const section = README.slice(README.indexOf('## Error codes'));
  const documented = new Map([...section.matchAll(/^\| `(OBS_ERR_[A-Z_]+)` \| (.+?) \|$/gm)].map((m) => [m[1]!, m[2]!]));
  assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, text] of Object.entries(ERROR_CODES)) assert.equal(documented.get(code), text, code);
});
