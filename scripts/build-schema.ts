// Writes sql/schema.sql from sql/migrations (test/db/schema.test.ts fails when it is stale).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderSchema } from '../src/db/migrate.js';

const target = fileURLToPath(new URL('../../sql/schema.sql', import.meta.url));
writeFileSync(target, renderSchema());
process.stdout.write(`wrote ${target}\n`);
