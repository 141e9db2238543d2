import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Int64, Table, tableFromIPC, tableToIPC, Utf8, vectorFromArray, type Vector } from 'apache-arrow';
import type { Knex } from 'knex';
import type { Logger } from 'winston';
import type { Db } from './db.js';
import { makeDir } from './files.js';

/** A column of an archive: `int` as a 64-bit integer (ids, Unix ms), `text` as UTF-8. Both may hold nulls. */
export interface ArchiveColumn {
  name: string;
  type: 'int' | 'text';
}

/**
 * Writes rows as one Arrow IPC file (the random-access "file" format scientists' tools open)
 * at `<dir>/<name>`, atomically: a temporary file in the same folder renamed over the name,
 * so that a reader, or a process killed half-way, never sees half a file. Returns the path.
 *
 * `int` values may arrive as numbers, numeric strings (PostgreSQL's int8 beyond 2^53) or
 * bigints; they are written as Int64 without loss. Other values are written as text.
 */
export async function writeArchive(dir: string, name: string, rows: Record<string, unknown>[], columns: ArchiveColumn[]): Promise<string> {
  const vectors: Record<string, Vector> = {};
  for (const col of columns) {
    const values = rows.map((row) => row[col.name]);
    vectors[col.name] =
      col.type === 'int'
        ? vectorFromArray(values.map((v) => (v === null || v === undefined ? null : toBigInt(v, col.name))), new Int64())
        : vectorFromArray(values.map((v) => (v === null || v === undefined ? null : typeof v === 'string' ? v : textOf(v))), new Utf8());
  }
  const bytes = tableToIPC(new Table(vectors), 'file');
  makeDir(dir);
  const path = join(dir, name);
  const tmp = join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes, { flush: true });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return path;
}

/**
 * The rows of an archive as objects, one key per column: Int64 columns as bigint (never a
 * JavaScript number, which could lose precision), text as string, nulls as null.
 */
export async function readArchive(path: string): Promise<Record<string, unknown>[]> {
  const table = tableFromIPC(await readFile(path));
  const names = table.schema.fields.map((f) => f.name);
  const children = names.map((n) => table.getChild(n)!);
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    names.forEach((n, c) => {
      row[n] = children[c].get(i) ?? null;
    });
    rows.push(row);
  }
  return rows;
}

function toBigInt(v: unknown, column: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return BigInt(v.trim());
  throw new TypeError(`archive column ${column}: ${JSON.stringify(String(v))} is not an integer`);
}

function textOf(v: unknown): string {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The UTC month of a Unix-ms time, `YYYY-MM`: how archives are filed. */
export function monthOf(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** One archive file written for one month of a batch, and the ids of the rows it holds. */
export interface MonthFile {
  month: string;
  path: string;
  ids: number[];
}

/**
 * Writes a batch of a table's rows (each with an `id`) as one Arrow file per UTC month of
 * `timeColumn`: `<dir>/<table>/<YYYY-MM>/<table>-<YYYY-MM>-<firstid>-<lastid>.arrow`, first and
 * last being the smallest and largest id in the file. Each id is purged once, so names never
 * collide; a batch archived again after a crash (before its rows were deleted) is written
 * over its first file.
 */
export async function archiveByMonth(
  dir: string,
  table: string,
  rows: Record<string, unknown>[],
  timeColumn: string,
  columns: ArchiveColumn[],
): Promise<MonthFile[]> {
  const months = new Map<string, Record<string, unknown>[]>();
  for (const row of rows) {
    const month = monthOf(Number(row[timeColumn]));
    const group = months.get(month);
    if (group) group.push(row);
    else months.set(month, [row]);
  }
  const written: MonthFile[] = [];
  for (const [month, group] of [...months].sort(([a], [b]) => a.localeCompare(b))) {
    const ids = group.map((r) => Number(r.id));
    const first = Math.min(...ids);
    const last = Math.max(...ids);
    const path = await writeArchive(join(dir, table, month), `${table}-${month}-${first}-${last}.arrow`, group, columns);
    written.push({ month, path, ids });
  }
  return written;
}

/** The most rows one retention batch takes: its ids go into one IN list, which Oracle caps at 1000. */
export const MAX_PURGE_BATCH = 1000;

/** A table's retention, as `purgeInBatches` runs it. */
export interface PurgeSpec<R extends { id: unknown }> {
  db: Db;
  /** The archive's root (DSS's archive area). */
  dir: string;
  /** The table, which also names the archive's folder and files. */
  table: string;
  /** The Unix-ms time whose UTC month files a row. */
  timeColumn: string;
  columns: ArchiveColumn[];
  batchSize: number;
  log: Logger;
  /** Pause between batches, so that the queue's own statements get the database in between. */
  pauseMs?: number;
  /** Stops between batches (the duty's lease was lost, the process stops). */
  signal?: AbortSignal;
  /** The next batch: at most `limit` rows, oldest first. */
  select(knex: Knex, limit: number): Promise<R[]>;
  /** After the rows are archived and before they are deleted (PFS moves the log files). */
  beforeDelete?(rows: R[], files: MonthFile[]): Promise<void>;
  /** Deletes the rows of these ids that may still go (re-checked), in the given short transaction; returns how many. */
  remove(trx: Knex.Transaction, ids: number[]): Promise<number>;
  /** Of these ids, the rows still there: asked only when `remove` deleted fewer than all. */
  remaining(trx: Knex.Transaction, ids: number[]): Promise<{ id: unknown }[]>;
}

/**
 * Archives and deletes a table's expired rows batch by batch: select a batch, write it as
 * one Arrow file per month, delete it in a transaction of its own, pause, repeat until no row
 * is left. The archive is written before the rows go, so a crash between the two loses
 * nothing (the batch is archived again on the next run). A row that may no longer go when the
 * delete re-checks it (it changed meanwhile) stays, and its batch's files are rewritten without it.
 */
export async function purgeInBatches<R extends { id: unknown }>(spec: PurgeSpec<R>): Promise<{ archived: number; files: string[] }> {
  const { db, dir, table, timeColumn, columns, log } = spec;
  const limit = Math.max(1, Math.min(MAX_PURGE_BATCH, Math.floor(spec.batchSize)));
  const files: string[] = [];
  let archived = 0;
  while (!spec.signal?.aborted) {
    const rows = await spec.select(db.knex, limit);
    if (rows.length === 0) break;
    let written = await archiveByMonth(dir, table, rows, timeColumn, columns);
    await spec.beforeDelete?.(rows, written);
    const ids = rows.map((r) => Number(r.id));
    const deleted = new Set(
      await db.knex.transaction(async (trx) => {
        if ((await spec.remove(trx, ids)) === ids.length) return ids;
        const left = new Set((await spec.remaining(trx, ids)).map((r) => Number(r.id)));
        return ids.filter((id) => !left.has(id));
      }),
    );
    if (deleted.size < rows.length) {
      const kept = rows.filter((r) => !deleted.has(Number(r.id)));
      log.warn(`retention: ${rows.length - deleted.size} row(s) of ${table} changed while being purged and stay`, {
        table,
        ids: kept.map((r) => Number(r.id)),
      });
      await Promise.all(written.map((f) => rm(f.path, { force: true })));
      written = await archiveByMonth(dir, table, rows.filter((r) => deleted.has(Number(r.id))), timeColumn, columns);
    }
    archived += deleted.size;
    files.push(...written.map((f) => f.path));
    log.debug(`retention: archived and purged ${deleted.size} row(s) of ${table}`, { table, files: written.map((f) => f.path) });
    if (rows.length < limit || deleted.size === 0) break;
    await sleep(spec.pauseMs ?? 5);
  }
  if (archived > 0) log.info(`retention: archived and purged ${archived} row(s) of ${table} into ${files.length} file(s)`, { table, archived });
  return { archived, files };
}
