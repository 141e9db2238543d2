import { accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import knexModule, { type Knex } from 'knex';
import pg from 'pg';
import type { Config } from '../config/schema.js';
import { knexOptions, pingSql, type Db } from '../core/db.js';
import { coreErrors, messageOf } from '../core/errors.js';
import { makeDir } from '../core/files.js';

// 64-bit integers (ids, Unix-ms times, counts) come back as numbers, as on SQLite and Oracle.
// Mission times in nanoseconds exceed 2^53 and are read as text where they are used.
pg.types.setTypeParser(20, (text) => {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
});

/**
 * Opens the configured database and proves it answers. A database that cannot be opened
 * throws DPC_DB_START with a line naming where and why, never the password.
 */
export async function openDb(config: Config): Promise<Db> {
  const { client } = config.db;
  const knex = knexModule({ ...knexOptions(client), ...(await connectionOptions(config)) });
  try {
    await knex.raw(pingSql(client));
  } catch (err) {
    await knex.destroy().catch(() => undefined);
    // Knex's words for its acquire timeout ("the pool is probably full") would send an
    // operator after the wrong problem: a database that took the connection and never answered.
    const why = err instanceof Error && err.name === 'KnexTimeoutError' ? `no answer within ${config.db.connectTimeoutMs} ms` : messageOf(err);
    throw coreErrors.dbStart(`cannot connect to ${describeTarget(config)}: ${why}`);
  }
  return { knex, dialect: client };
}

/** How this configuration's database is migrated: its schema and how long to wait for another migrating process. */
export function migrationOptions(config: Config): { schema?: string; waitMs: number } {
  return { schema: config.db.client === 'postgresql' ? config.db.postgresql.schema : undefined, waitMs: config.db.migrationWaitMs };
}

/** Where the database is, for messages and the Welcome page: never a secret. */
export function describeTarget(config: Config): string {
  const db = config.db;
  switch (db.client) {
    case 'sqlite':
      return `SQLite ${resolve(db.sqlite.path)}`;
    case 'postgresql':
      return `PostgreSQL ${db.postgresql.user}@${db.postgresql.host}:${db.postgresql.port}/${db.postgresql.database} (schema ${db.postgresql.schema})`;
    case 'oracle':
      return `Oracle ${db.oracle.user}@${db.oracle.connectString}`;
  }
}

async function connectionOptions(config: Config): Promise<Knex.Config> {
  const db = config.db;
  const timeouts = { acquireConnectionTimeout: db.connectTimeoutMs };
  switch (db.client) {
    case 'sqlite': {
      const file = resolve(db.sqlite.path);
      try {
        makeDir(dirname(file));
        accessSync(dirname(file), constants.W_OK);
      } catch (err) {
        throw coreErrors.dbStart(`cannot write the SQLite database at ${file}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
      }
      return {
        ...timeouts,
        connection: { filename: file },
        // One connection: SQLite has one writer, and better-sqlite3 is synchronous anyway.
        pool: {
          min: 1,
          max: 1,
          afterCreate: (conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
            try {
              conn.pragma('journal_mode = WAL');
              conn.pragma('synchronous = NORMAL');
              conn.pragma(`busy_timeout = ${db.sqlite.busyTimeoutMs}`);
              conn.pragma('foreign_keys = ON');
              done(null, conn);
            } catch (err) {
              done(err as Error, conn);
            }
          },
        },
      };
    }
    case 'postgresql': {
      const p = db.postgresql;
      return {
        ...timeouts,
        connection: {
          host: p.host,
          port: p.port,
          database: p.database,
          user: p.user,
          password: p.password || undefined,
          ssl: p.ssl,
          connectionTimeoutMillis: db.connectTimeoutMs,
        },
        searchPath: [p.schema],
        pool: { min: 0, max: db.poolMax },
      };
    }
    case 'oracle': {
      const oracledb = (await import('oracledb')).default;
      // CLOB columns (descriptors, payloads, SQL text) are read as strings, as on the other two.
      oracledb.fetchAsString = [oracledb.CLOB];
      const o = db.oracle;
      return {
        ...timeouts,
        connection: { user: o.user, password: o.password, connectString: o.connectString },
        pool: { min: 0, max: db.poolMax },
      };
    }
  }
}
