/**
 * What the scale scripts share: the database they run on (PostgreSQL only, through the
 * server's own config loader and openDb), a pinned session for settings that must hold
 * across statements, and formatting.
 */
import { statfsSync } from 'node:fs';
import type { Knex } from 'knex';
import type { Db } from '../../core/db.js';
import { loadConfig } from '../../server/config.js';
import { openDb } from '../../server/db.js';

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  schema: string;
  /** Connections in the pool: the fill uses one per parallel loader, plus one. */
  poolMax: number;
}

const IDENT = /^[a-z_][a-z0-9_]*$/;

/** Refuses a schema name that is not a plain identifier, or `public`, which the scripts would fill or drop. */
/** The PostgreSQL connection options of the scale scripts, for node:util parseArgs (defaults from DPC_TEST_PG_*). */
export const PG_OPTIONS = {
  host: { type: 'string', default: process.env.DPC_TEST_PG_HOST ?? '127.0.0.1' },
  port: { type: 'string', default: process.env.DPC_TEST_PG_PORT ?? '5432' },
  user: { type: 'string', default: process.env.DPC_TEST_PG_USER ?? 'postgres' },
  database: { type: 'string', default: process.env.DPC_TEST_PG_DATABASE ?? 'test' },
} as const;

/** A positive whole number from an option, or an error naming it. */
export function positive(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer (got ${raw})`);
  return n;
}

export function checkSchema(schema: string): string {
  if (!IDENT.test(schema)) throw new Error(`--schema must be a lower-case SQL identifier (got ${JSON.stringify(schema)})`);
  if (schema === 'public') throw new Error('--schema public is refused: the scale data goes into a schema of its own, which is dropped afterwards');
  return schema;
}

/** The database of the scale run, opened the way the server opens it. */
export async function openScaleDb(target: PgTarget): Promise<Db> {
  const config = loadConfig({
    env: {
      DPC_DB__CLIENT: 'postgresql',
      DPC_DB__POOLMAX: String(target.poolMax),
      DPC_DB__CONNECTTIMEOUTMS: '30000',
      DPC_DB__POSTGRESQL__HOST: target.host,
      DPC_DB__POSTGRESQL__PORT: String(target.port),
      DPC_DB__POSTGRESQL__USER: target.user,
      DPC_DB__POSTGRESQL__DATABASE: target.database,
      DPC_DB__POSTGRESQL__SCHEMA: target.schema,
      DPC_LOG__CONSOLE: 'false',
    },
  });
  return openDb(config);
}

/**
 * One connection held for a sequence of statements, so that `SET` (synchronous_commit,
 * work_mem, session_replication_role) holds for all of them. Statements are trusted text
 * built by these scripts from validated integers: no bindings.
 */
export class Session {
  private constructor(
    private readonly knex: Knex,
    private readonly conn: unknown,
  ) {}

  static async open(knex: Knex, settings: string[] = []): Promise<Session> {
    const conn: unknown = await knex.client.acquireConnection();
    const session = new Session(knex, conn);
    for (const s of settings) await session.exec(s);
    return session;
  }

  /** Runs a statement; returns its rows (and the row count of a DML statement). */
  async exec<R = Record<string, unknown>>(sql: string): Promise<{ rows: R[]; rowCount: number }> {
    const result = (await this.knex.raw(sql).connection(this.conn)) as { rows: R[]; rowCount: number | null };
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  async release(): Promise<void> {
    await this.knex.client.releaseConnection(this.conn);
  }
}

/** An integer that is safe to write into SQL text. */
export function int(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`not a safe integer: ${n}`);
  return String(n);
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function grouped(n: number): string {
  return Math.round(n).toLocaleString('en-US').replace(/,/g, ' ');
}

export function log(line: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Runs one phase of a fill and logs how long it took. */
export async function timed<T>(name: string, f: () => Promise<T>): Promise<T> {
  const t = Date.now();
  const value = await f();
  log(`${name}: ${seconds(Date.now() - t)}`);
  return value;
}

/** Size of the schema's tables and indexes (those over 64 KiB), for the report. */
export async function schemaSize(knex: Knex, schema: string): Promise<{ table: string; rows: number; heap: string; indexes: string; total: string }[]> {
  const result = (await knex.raw(
    `select c.relname as table, c.reltuples::bigint as rows,
            pg_size_pretty(pg_table_size(c.oid)) as heap,
            pg_size_pretty(pg_indexes_size(c.oid)) as indexes,
            pg_size_pretty(pg_total_relation_size(c.oid)) as total
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ? and c.relkind = 'r' and pg_total_relation_size(c.oid) > 65536
      order by pg_total_relation_size(c.oid) desc`,
    [schema],
  )) as { rows: { table: string; rows: number; heap: string; indexes: string; total: string }[] };
  return result.rows;
}

/** Bytes a job takes in PostgreSQL with its indexes and its share of workflows, steps and counts (18.2 GB for 40 M jobs). */
export const BYTES_PER_JOB = 460;
/** What the console fill adds per job: its log-file rows with their indexes (the rest of that fill is a few GB at most). */
export const CONSOLE_BYTES_PER_JOB = 300;

/** Refuses a fill the database's disk cannot hold (unless `force`), when that disk is this machine's and readable. */
export async function checkDisk(db: Db, jobs: number, bytesPerJob: number, force: boolean): Promise<void> {
  let dir: string;
  try {
    dir = ((await db.knex.raw('show data_directory')) as { rows: { data_directory: string }[] }).rows[0].data_directory;
  } catch {
    log('disk: cannot read data_directory (not a superuser): not checked');
    return;
  }
  let free: number;
  try {
    const s = statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch {
    log(`disk: ${dir} is not on this machine: not checked`);
    return;
  }
  // The heap, its indexes, and the WAL written meanwhile (max_wal_size, recycled).
  const need = jobs * bytesPerJob * 1.3 + 2 * 2 ** 30;
  log(`disk: ${(free / 2 ** 30).toFixed(1)} GiB free under ${dir}, the fill needs about ${(need / 2 ** 30).toFixed(1)} GiB`);
  if (free < need && !force) throw new Error(`not enough free disk for ${grouped(jobs)} jobs: run a smaller scale (--jobs, --workflows) or pass --force`);
}
