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
  /** The dialects it is written for: all three, unless one cannot say it in one statement. */
  readonly dialects: readonly Dialect[];
}

export const DIALECTS: readonly Dialect[] = ['sqlite', 'postgresql', 'oracle'];

/**
 * A query of `dialects` only (one Oracle cannot write, such as an update returning many
 * rows) refuses the others: its caller takes another way there.
 */
export function defineQuery<P>(
  queryName: string,
  example: P,
  build: (knex: Knex, params: P, dialect: Dialect) => Built,
  dialects: readonly Dialect[] = DIALECTS,
): Query<P> {
  const query = (knex: Knex | Knex.Transaction, params: P) => {
    const dialect = dialectOf(knex);
    if (!dialects.includes(dialect)) throw new Error(`query ${queryName} is not written for ${dialect}`);
    return build(knex as Knex, params, dialect);
  };
  return Object.assign(query, { queryName, example, dialects });
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

/** A nullable numeric column as a number: drivers give a BIGINT as text (pg) or a number (SQLite), and NULL as null. */
export function numberOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/** Oracle takes at most 1000 expressions in an IN list. */
export const IN_LIST_MAX = 1000;

/** Rows in one multi-row insert: Knex writes it for SQLite as a compound select, of at most 500 terms. */
export const INSERT_ROWS_MAX = 500;

/** The items in slices of at most `size`: for IN lists and multi-row inserts. */
export function chunks<T>(items: readonly T[], size = IN_LIST_MAX): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A column of `insertColumns`: its name, and its PostgreSQL type (`bigint`, `integer`, `text`, `float8`). */
export type InsertColumn = readonly [name: string, pgType: 'bigint' | 'integer' | 'text' | 'float8'];

/**
 * A multi-row insert whose statement is the same whatever the number of rows: on PostgreSQL
 * each column bound as one array and the rows made by `unnest`; on SQLite the rows bound as
 * one JSON text and made by `json_each`. Knex's own multi-row insert is a statement as long
 * as the rows, built and (on SQLite) parsed anew each time: for hundreds of rows per batch
 * that was most of what logging a line per job cost. On Oracle, Knex's insert (array binds
 * would need the driver's executeMany). `rows` hold values in the order of `columns`.
 */
export function insertColumns(knex: Knex, dialect: Dialect, table: string, columns: readonly InsertColumn[], rows: readonly (readonly (string | number | null)[])[]): Built {
  const names = columns.map(([name]) => name);
  if (dialect === 'postgresql') {
    const arrays = columns.map((_, i) => rows.map((r) => r[i]));
    const types = columns.map(([, type]) => `?::${type}[]`).join(', ');
    return knex.raw(`insert into ?? (${names.map(() => '??').join(', ')}) select * from unnest(${types})`, [table, ...names, ...arrays] as Knex.RawBinding[]);
  }
  if (dialect === 'sqlite') {
    const values = columns.map((_, i) => `json_extract(value, '$[${i}]')`).join(', ');
    return knex.raw(`insert into ?? (${names.map(() => '??').join(', ')}) select ${values} from json_each(?)`, [table, ...names, JSON.stringify(rows)]);
  }
  return knex(table).insert(rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i]]))));
}
