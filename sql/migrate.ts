import type { Knex } from 'knex';
import { offlineKnex, type Dialect, type Db } from '../core/db.js';
import { coreErrors } from '../core/errors.js';
import { Ddl } from './ddl.js';
import { migrationLockName, releaseMigrationLock, tryMigrationLock } from './migrationLock.js';
import * as schema0001 from './migrations/0001_schema.js';
import * as runManagement0002 from './migrations/0002_run_management.js';
import * as jobIndexes0003 from './migrations/0003_job_indexes.js';
import * as jobRanges0004 from './migrations/0004_job_ranges.js';
import * as queueIndexes0005 from './migrations/0005_queue_indexes.js';
import * as jobClaims0006 from './migrations/0006_job_claims.js';
import * as jobLogStore0007 from './migrations/0007_job_log_store.js';
import * as fairShare0008 from './migrations/0008_fair_share.js';
import * as jobCreation0009 from './migrations/0009_job_creation.js';
import * as words0010 from './migrations/0010_words.js';
import * as accounts0011 from './migrations/0011_accounts.js';
import * as monitor0012 from './migrations/0012_monitor.js';
import * as pages0014 from './migrations/0014_pages.js';

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
  jobClaims0006,
  jobLogStore0007,
  fairShare0008,
  jobCreation0009,
  words0010,
  accounts0011,
  monitor0012,
  // 0013 belongs to work on another branch; 0014 follows 0012 until it lands.
  pages0014,
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

/** A migration as it runs: its name in the ledger, and what it does on the migrating connection. */
export interface MigrationStep {
  name: string;
  up(knex: Knex): Promise<void>;
}

/** Every migration of the schema, compiled for a dialect, ready to run. */
export function migrationSteps(dialect: Dialect): MigrationStep[] {
  return compileMigrations(dialect).map(({ name, statements }) => ({
    name,
    up: async (knex: Knex) => {
      for (const statement of statements) await knex.raw(statement);
    },
  }));
}

export interface MigrateOptions {
  /** The PostgreSQL schema to create and migrate (the search path of `db`). */
  schema?: string;
  /** How long to wait for another process's migration before giving up (db.migrationWaitMs). */
  waitMs?: number;
  /** Told when it waits for another process's migration (info), and when it freed a stale Knex lock (warn). */
  log?: { info(message: string): void; warn(message: string): void };
  /** The migrations to run, in order: the schema's unless told (a test's own set). */
  steps?: MigrationStep[];
}

/**
 * Runs the migrations not yet applied; returns the names it ran. Servers started together on
 * a new database all migrate: the first takes the migration lock (sql/migrationLock.ts) and
 * the others wait for it, then find nothing to run. Everything runs in one transaction on
 * the connection that holds the lock, so that a migration killed midway leaves, where DDL is
 * transactional (PostgreSQL, SQLite), nothing applied and nothing locked.
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<string[]> {
  const steps = options.steps ?? migrationSteps(db.dialect);
  const source: Knex.MigrationSource<MigrationStep> = {
    getMigrations: async () => steps,
    getMigrationName: (step) => step.name,
    getMigration: async ({ name, up }) => ({
      up,
      down: async () => {
        throw new Error(`migration ${name} cannot be undone: restore the database from its backup`);
      },
    }),
  };
  return underMigrationLock(db, options, coreErrors.migrating, async (trx) => {
    if (db.dialect === 'postgresql' && options.schema && options.schema !== 'public') {
      await trx.raw('create schema if not exists ??', [options.schema]);
    }
    if ((await freeKnexLock(trx)) > 0) {
      options.log?.warn(
        `the migration lock ${LOCK_TABLE} was set while no process held the ${migrationLockName(db.dialect)}: ` +
          'left by a migration that was killed; freed it',
      );
    }
    const [, ran] = (await trx.migrate.latest({ migrationSource: source, tableName: MIGRATION_TABLE })) as [number, string[]];
    return ran;
  });
}

/** What `dpc migrate --unlock` found. */
export type UnlockOutcome = 'freed' | 'not-set';

/**
 * Frees Knex's lock row by hand, once sure no migration holds the migration lock: a live
 * one is refused (DPC_DB_MIGRATION_RUNNING) rather than broken.
 */
export async function unlockMigrations(db: Db, options: Pick<MigrateOptions, 'schema'> = {}): Promise<UnlockOutcome> {
  return underMigrationLock(db, { ...options, waitMs: 0 }, coreErrors.migrationRunning, async (trx) => ((await freeKnexLock(trx)) > 0 ? 'freed' : 'not-set'));
}

/** Knex's lock row: `is_locked` 1 while a migration runs. */
const LOCK_TABLE = `${MIGRATION_TABLE}_lock`;

/** Sets Knex's lock row free; the number of rows that were set (none before the first migration). */
async function freeKnexLock(trx: Knex.Transaction): Promise<number> {
  if (!(await trx.schema.hasTable(LOCK_TABLE))) return 0;
  return trx(LOCK_TABLE).where('is_locked', 1).update({ is_locked: 0 });
}

/** How often a process waiting for another one's migration tries the lock again. */
const LOCK_POLL_MS = 250;

/**
 * Runs `work` in one transaction that holds the migration lock from its first statement;
 * `busy` is thrown when another process held it for `options.waitMs`.
 */
async function underMigrationLock<T>(
  db: Db,
  options: MigrateOptions,
  busy: (lock: string, waitedMs: number) => Error,
  work: (trx: Knex.Transaction) => Promise<T>,
): Promise<T> {
  const waitMs = options.waitMs ?? MIGRATION_WAIT_MS;
  const schema = options.schema ?? 'public';
  const started = Date.now();
  return db.knex.transaction(async (trx) => {
    for (let tries = 0; !(await tryMigrationLock(trx, db.dialect, schema)); tries++) {
      if (Date.now() - started >= waitMs) throw busy(migrationLockName(db.dialect), Date.now() - started);
      if (tries === 0) options.log?.info(`waiting for another process's migration: it holds the ${migrationLockName(db.dialect)}`);
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
    try {
      return await work(trx);
    } finally {
      await releaseMigrationLock(trx, db.dialect);
    }
  });
}

/** How long a server waits for another one's migrations unless told (db.migrationWaitMs). */
const MIGRATION_WAIT_MS = 120_000;

/** True once the migrations have run on this database (its DPC schema exists). */
export async function isMigrated(db: Db): Promise<boolean> {
  return db.knex.schema.hasTable(MIGRATION_TABLE);
}
