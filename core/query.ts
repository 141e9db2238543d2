import type { Knex } from 'knex';
import type { Dialect } from './db.js';

type Built = Knex.QueryBuilder | Knex.Raw;

/**
 * A query of a subsystem, declared once with an example of its parameters. Every query
 * the server issues is declared this way, in a `sql/` folder of its subsystem, so that a
 * test can compile each one for SQLite, PostgreSQL and Oracle (which cannot run here) and
 * check the Oracle text for the SQL it rejects.
 */
export interface Query<P> {
  (knex: Knex | Knex.Transaction, params: P): Built;
  readonly queryName: string;
  readonly example: P;
}

export function defineQuery<P>(queryName: string, example: P, build: (knex: Knex, params: P, dialect: Dialect) => Built): Query<P> {
  const query = (knex: Knex | Knex.Transaction, params: P) => build(knex as Knex, params, dialectOf(knex));
  return Object.assign(query, { queryName, example });
}

const dialects: Record<string, Dialect> = { 'better-sqlite3': 'sqlite', pg: 'postgresql', oracledb: 'oracle' };

export function dialectOf(knex: Knex | Knex.Transaction): Dialect {
  const client = (knex.client as { config: { client: string } }).config.client;
  const dialect = dialects[client];
  if (!dialect) throw new Error(`no DPC dialect for Knex client ${client}`);
  return dialect;
}

/** The id of a row just inserted, however the dialect returns it. */
export function insertedId(rows: unknown[]): number {
  const first = rows[0] as number | { id: number } | undefined;
  if (first === undefined) throw new Error('insert returned no id');
  return typeof first === 'object' ? Number(first.id) : Number(first);
}
