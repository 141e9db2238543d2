// Writes sql/<dialect>/schema.sql from the migrations, for a DBA to review and for CI to compare.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dialect } from '../core/db.js';
import { schemaSql } from '../sql/migrate.js';
import { projectRoot } from '../server/paths.js';

for (const dialect of ['sqlite', 'postgresql', 'oracle'] as Dialect[]) {
  const file = join(projectRoot, 'sql', dialect, 'schema.sql');
  writeFileSync(file, schemaSql(dialect));
  process.stdout.write(`wrote ${file}\n`);
}
