import type { Knex } from 'knex';
import knexModule from 'knex';

export type Dialect = 'sqlite' | 'postgresql' | 'oracle';

/** The database handle every subsystem receives: the Knex instance and which dialect it speaks. */
export interface Db {
  readonly knex: Knex;
  readonly dialect: Dialect;
}

const knexClient: Record<Dialect, string> = {
  sqlite: 'better-sqlite3',
  postgresql: 'pg',
  oracle: 'oracledb',
};

/**
 * Knex options shared by the live connection and by the offline compiler that writes the
 * DDL and checks the Oracle SQL, so that both agree on every identifier.
 *
 * On Oracle the names are upper-cased before Knex quotes them: "RMS_JOB" is the same
 * table as an unquoted rms_job, which is what a DBA types; rows come back with lower-case
 * keys, as on the other two.
 */
export function knexOptions(dialect: Dialect): Knex.Config {
  const options: Knex.Config = {
    client: knexClient[dialect],
    useNullAsDefault: dialect === 'sqlite',
    // Knex would print to the console; its errors reach the caller, who logs them with context.
    log: { warn: () => undefined, error: () => undefined, deprecate: () => undefined, debug: () => undefined },
  };
  if (dialect === 'oracle') {
    options.version = '19.0';
    options.wrapIdentifier = (value, origImpl) => origImpl(value === '*' ? value : value.toUpperCase());
    options.postProcessResponse = (result) => lowerKeys(result);
  }
  return options;
}

/** A Knex that compiles SQL for a dialect without connecting: for DDL and dialect checks. */
export function offlineKnex(dialect: Dialect): Knex {
  return knexModule(knexOptions(dialect));
}

function lowerKeys(result: unknown): unknown {
  if (Array.isArray(result)) return result.map(lowerKeys);
  if (result === null || typeof result !== 'object' || result instanceof Date || Buffer.isBuffer(result)) return result;
  return Object.fromEntries(Object.entries(result).map(([k, v]) => [k.toLowerCase(), v]));
}

/** The cheapest statement that proves the database answers. */
export function pingSql(dialect: Dialect): string {
  return dialect === 'oracle' ? 'select 1 from dual' : 'select 1';
}

const OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);

/**
 * True when an error means the database cannot be reached (as opposed to a bad query):
 * the caller answers 503 and keeps running, and work resumes when the database is back.
 */
export function isOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; errorNum?: number };
  if (e.name === 'KnexTimeoutError') return true;
  if (e.code && (OUTAGE_CODES.has(e.code) || /^(08|57P)/.test(e.code) || /^NJS-(500|501|503|510|511)$/.test(e.code))) return true;
  // "timeout expired" is how pg reports connectionTimeoutMillis: a database host that takes
  // the TCP connection but never answers (frozen, or a half-dead network).
  return /Connection terminated|terminating connection|server closed the connection|Client has encountered a connection error|^timeout expired$/i.test(e.message);
}

/** True when an insert lost to a row with the same key: another process (or a redelivery) was first. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errorNum?: number };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.errorNum === 1;
}
