import type { Knex } from 'knex';
import { isUniqueViolation, offlineKnex, type Dialect, type Db } from '../core/db.js';
import { messageOf } from '../core/errors.js';
import { Ddl } from './ddl.js';
import * as schema0001 from './migrations/0001_schema.js';
import * as runManagement0002 from './migrations/0002_run_management.js';
import * as jobIndexes0003 from './migrations/0003_job_indexes.js';
import * as jobRanges0004 from './migrations/0004_job_ranges.js';
import * as queueIndexes0005 from './migrations/0005_queue_indexes.js';
import * as jobLogStore0007 from './migrations/0007_job_log_store.js';

interface Migration {
  name: string;
  up(ddl: Ddl): void;
}

/** Every migration, in order. A new one is appended here; a landed one is never edited. */
const migrations: Migration[] = [
  schema0001,
  runManagement0002,
  jobIndexes0003,
  jobRanges0004,
  queueIndexes0005,
  // 0006 (rms_job.claim) and 0008 come from parallel branches: the numbering is reconciled when they merge.
  jobLogStore0007,
];

export const MIGRATION_TABLE = 'dpc_migration';

/** The statements of each migration for a dialect, compiled without a connection. */
export function compileMigrations(dialect: Dialect): { name: string; statements: string[] }[] {
  const knex = offlineKnex(dialect);
  return migrations.map((m) => {
    const ddl = new Ddl(knex, dialect);
    m.up(ddl);
    return { name: m.name, statements: ddl.statements };
  });
}

/** The reviewable DDL of the whole schema: what `sql/<dialect>/schema.sql` holds. */
export function schemaSql(dialect: Dialect): string {
  const header =
    `-- DPC schema for ${dialect}: generated from sql/migrations by \`npm run sql:generate\`; do not edit.\n` +
    `-- Times are Unix milliseconds, except mission times (time_from, time_to, start_check, end_check): nanoseconds.\n`;
  return header + compileMigrations(dialect)
    .map((m) => `\n-- migration ${m.name}\n${m.statements.map((s) => `${s};\n`).join('')}`)
    .join('');
}

/** Runs the migrations not yet applied; returns the names it ran. */
export async function migrate(db: Db, options: { schema?: string } = {}): Promise<string[]> {
  const compiled = new Map(compileMigrations(db.dialect).map((m) => [m.name, m.statements]));
  const source: Knex.MigrationSource<string> = {
    getMigrations: async () => [...compiled.keys()],
    getMigrationName: (name) => name,
    getMigration: async (name) => ({
      up: async (knex: Knex) => {
        for (const statement of compiled.get(name) ?? []) await knex.raw(statement);
      },
      down: async () => {
        throw new Error(`migration ${name} cannot be undone: restore the database from its backup`);
      },
    }),
  };
  // Servers started together on a new database all migrate: one creates the schema and the
  // ledger first and takes knex's migration lock, the others wait for it and then find
  // nothing to run.
  const deadline = Date.now() + MIGRATION_WAIT_MS;
  for (;;) {
    try {
      if (db.dialect === 'postgresql' && options.schema && options.schema !== 'public') {
        await db.knex.raw('create schema if not exists ??', [options.schema]);
      }
      const [, ran] = (await db.knex.migrate.latest({ migrationSource: source, tableName: MIGRATION_TABLE })) as [number, string[]];
      return ran;
    } catch (err) {
      if (!isMigrationRace(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 300));
    }
  }
}

/** How long a server waits for another one's migrations before it gives up. */
const MIGRATION_WAIT_MS = 120_000;

/** Another process migrates: it holds knex's lock, or created the ledger tables a moment before us. */
function isMigrationRace(err: unknown): boolean {
  return (err as { name?: string })?.name === 'MigrationLocked' || isUniqueViolation(err) || /already exists|ORA-00955/i.test(messageOf(err));
}

/** True once the migrations have run on this database (its DPC schema exists). */
export async function isMigrated(db: Db): Promise<boolean> {
  return db.knex.schema.hasTable(MIGRATION_TABLE);
}
