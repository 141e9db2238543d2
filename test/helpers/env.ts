import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import knexModule from 'knex';
import type { Config } from '../../config/schema.js';
import type { Db } from '../../core/db.js';
import { loadConfig } from '../../server/config.js';
import { openDb } from '../../server/db.js';
import { migrate } from '../../sql/migrate.js';

/** The database the suite runs on: SQLite by default, PostgreSQL with DPC_TEST_DB=postgresql. */
export const testDialect: 'sqlite' | 'postgresql' = process.env.DPC_TEST_DB === 'postgresql' ? 'postgresql' : 'sqlite';

export const pg = {
  host: process.env.DPC_TEST_PG_HOST ?? '127.0.0.1',
  port: Number(process.env.DPC_TEST_PG_PORT ?? 5432),
  user: process.env.DPC_TEST_PG_USER ?? 'postgres',
  database: process.env.DPC_TEST_PG_DATABASE ?? 'test',
};

/**
 * A real component a test needs (PostgreSQL, sshd, Slurm, Chromium). Missing, the test is
 * skipped on a developer's machine but fails under CI=true: CI never skips.
 */
export function needs(component: string, available: boolean): boolean {
  if (available) return true;
  if (process.env.CI === 'true') throw new Error(`${component} is required under CI=true but is not available`);
  return false;
}

export interface TestEnv {
  /** DPC_* variables that point a server at this test's own database, log and store. */
  env: Record<string, string>;
  config: Config;
  dir: string;
  /** Drops this test's database (the PostgreSQL schema or the SQLite file) and its files. */
  cleanup(): Promise<void>;
}

/**
 * A fresh database for one test file: a new SQLite file, or a new schema in the test
 * PostgreSQL database, so that runs never collide; plus a temporary directory for logs
 * and the file store.
 */
export async function testEnv(extra: Record<string, string> = {}): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'dpc-test-'));
  const schema = `t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    DPC_LOG__DIR: join(dir, 'log'),
    DPC_LOG__CONSOLE: 'false',
    DPC_DSS__ROOT: join(dir, 'dss'),
    DPC_DSS__MINFREEMB: '0',
    // A test machine's disk may be fuller than a server's should be: no disk alert unless a test asks.
    DPC_SMAS__MONITOR__DISKMINFREEMB: '0',
    DPC_SMAS__MONITOR__DISKMINFREEPERCENT: '0',
    DPC_HTTP__PORT: '0',
    DPC_RMS__DEMO: 'false',
    ...(testDialect === 'sqlite'
      ? { DPC_DB__CLIENT: 'sqlite', DPC_DB__SQLITE__PATH: join(dir, 'dpc.sqlite') }
      : {
          DPC_DB__CLIENT: 'postgresql',
          DPC_DB__POSTGRESQL__HOST: pg.host,
          DPC_DB__POSTGRESQL__PORT: String(pg.port),
          DPC_DB__POSTGRESQL__USER: pg.user,
          DPC_DB__POSTGRESQL__DATABASE: pg.database,
          DPC_DB__POSTGRESQL__SCHEMA: schema,
        }),
    ...extra,
  };
  const config = loadConfig({ env });
  return {
    env,
    config,
    dir,
    async cleanup() {
      if (testDialect === 'postgresql') {
        const admin = knexModule({ client: 'pg', connection: { ...pg } });
        await admin.raw('drop schema if exists ?? cascade', [schema]);
        await admin.destroy();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A migrated database of a fresh test environment. */
export async function testDb(extra: Record<string, string> = {}): Promise<TestEnv & { db: Db }> {
  const t = await testEnv(extra);
  const db = await openDb(t.config);
  await migrate(db, { schema: t.config.db.postgresql.schema });
  return {
    ...t,
    db,
    async cleanup() {
      await db.knex.destroy();
      await t.cleanup();
    },
  };
}
