import { copyFile, rename, rm, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Logger } from 'winston';
import { monthOf, purgeInBatches } from '../../core/archive.js';
import type { Db } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import { makeDir } from '../../core/files.js';
import type { JobLogStore } from './logStore.js';
import {
  deleteExtentsOfLogFiles,
  deleteExtentsOfSegments,
  deleteLogFiles,
  deleteSegments,
  LOG_FILE_ARCHIVE_COLUMNS,
  selectExistingLogFileIds,
  selectOldSegments,
  selectPurgeableLogFiles,
} from './sql/retention.js';

export interface PurgeLogsOptions {
  db: Db;
  /** The archive's root (DSS's archive area). */
  dir: string;
  /** Where PFS wrote job logs before the segment store: `filename` of a row without an attempt is relative to it. */
  logDir: string;
  /** The job log store, whose segments are read for the archive and deleted. */
  store: JobLogStore;
  /** pfs.jobLog.segmentAgeMs: no writer writes into a segment older than this. */
  segmentAgeMs: number;
  /** Unix ms, now (the context's clock). */
  now: number;
  /** Unix ms: log files last written before it go. */
  before: number;
  /** Rows per batch (at most 1000). */
  batchSize: number;
  log: Logger;
  /** Pause between batches, in ms (default 5). */
  pauseMs?: number;
  /** Stops between batches. */
  signal?: AbortSignal;
}

type LogFileRow = Record<string, unknown> & { id: unknown };

/** The archive of a log-file row holds its attempt's log itself, as text. */
const ARCHIVE_COLUMNS = [...LOG_FILE_ARCHIVE_COLUMNS, { name: 'content', type: 'text' as const }];
/** Log-file rows per batch at most: each carries its log (up to its cap) into memory and the archive. */
const CONTENT_BATCH = 100;

/**
 * Retention of job logs. Every pfs_log_file row last written before `before` is archived,
 * one Arrow file per month of `updated` per batch
 * (`<dir>/pfs_log_file/<YYYY-MM>/pfs_log_file-<YYYY-MM>-<firstid>-<lastid>.arrow`), with its
 * attempt's log as text in `content`; then its attempt's extents and the row are deleted,
 * each batch in a short transaction of its own (a crash in between archives the batch again).
 * Rows from before the segment store (no attempt) name a file of their own, which moves with
 * its rotated backups to `<dir>/pfs_log/<YYYY-MM>/<filename>` as before.
 *
 * Then whole segments go: those begun before both `before` − segmentAgeMs and
 * `now` − 2 × segmentAgeMs. No writer writes into a segment older than segmentAgeMs, so such a
 * segment is complete and every line in it was written before `before`; the second bound
 * leaves a margin for clocks that differ between processes. The file is deleted first and its
 * rows after, so a crash in between leaves rows that the next run deletes, never a file no
 * row names. Lines of a run that began more than the retention period before it ended go
 * with their segment even though its row stays (a reader is told the segment is gone).
 *
 * Run this before RMS's job retention with the same cutoff: a job whose log-file row is
 * still here is kept.
 */
export async function purgeJobLogs(options: PurgeLogsOptions): Promise<{ archived: number; files: string[]; moved: number; segments: number }> {
  const { before, log, store } = options;
  const logDir = resolve(options.logDir);
  let moved = 0;
  const result = await purgeInBatches<LogFileRow>({
    db: options.db,
    dir: options.dir,
    table: 'pfs_log_file',
    timeColumn: 'updated',
    columns: ARCHIVE_COLUMNS,
    batchSize: Math.min(options.batchSize, CONTENT_BATCH),
    pauseMs: options.pauseMs,
    signal: options.signal,
    log,
    async select(knex, limit) {
      const rows = (await selectPurgeableLogFiles(knex, { before, limit })) as LogFileRow[];
      for (const row of rows) {
        if (row.attempt === null || row.attempt === undefined) continue;
        row.content = (await readArchived(store, Number(row.jobid), Number(row.attempt), log)).toString('utf8');
      }
      return rows;
    },
    async beforeDelete(rows) {
      for (const row of rows) {
        if (row.attempt === null || row.attempt === undefined) moved += await moveLogFiles(row, logDir, join(options.dir, 'pfs_log', monthOf(Number(row.updated))), log);
      }
    },
    async remove(trx, ids) {
      await deleteExtentsOfLogFiles(trx, { ids });
      return Number(await deleteLogFiles(trx, { ids }));
    },
    remaining: (trx, ids) => selectExistingLogFileIds(trx, { ids }) as Promise<{ id: unknown }[]>,
  });
  if (moved > 0) log.info(`retention: moved ${moved} job log file(s) to the archive`, { moved });
  const segments = await purgeSegments(options);
  if (segments > 0) log.info(`retention: deleted ${segments} job log segment(s)`, { segments });
  return { ...result, moved, segments };
}

/** An attempt's log for its archive; a segment already gone (a crash between its deletion and its rows') leaves its part out. */
async function readArchived(store: JobLogStore, jobid: number, attempt: number, log: Logger): Promise<Buffer> {
  const extents = await store.extents(jobid, attempt);
  try {
    return await store.read(extents);
  } catch (err) {
    log.warn(`retention: the log of job ${jobid} attempt ${attempt} is archived without what its missing segments held: ${messageOf(err)}`, { job: jobid });
    const parts: Buffer[] = [];
    for (const e of extents) parts.push(await store.read([e]).catch(() => Buffer.alloc(0)));
    return Buffer.concat(parts);
  }
}

async function purgeSegments(o: PurgeLogsOptions): Promise<number> {
  const before = Math.min(o.before - o.segmentAgeMs, o.now - 2 * o.segmentAgeMs);
  let deleted = 0;
  for (;;) {
    if (o.signal?.aborted) break;
    const rows = (await selectOldSegments(o.db.knex, { before, limit: 100 })) as { id: unknown; name: string }[];
    if (rows.length === 0) break;
    for (const row of rows) await rm(join(o.store.dir, row.name), { force: true });
    const ids = rows.map((r) => Number(r.id));
    await o.db.knex.transaction(async (trx) => {
      await deleteExtentsOfSegments(trx, { ids });
      await deleteSegments(trx, { ids });
    });
    deleted += rows.length;
  }
  return deleted;
}

/** Moves a row's log file and its backups into the month's folder; returns how many there were. */
async function moveLogFiles(row: LogFileRow, logDir: string, monthDir: string, log: Logger): Promise<number> {
  const filename = String(row.filename);
  const source = resolve(logDir, filename);
  const rel = relative(logDir, source);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    // Never move what lies outside the log folder, whatever a row says.
    log.warn(`retention: log file ${JSON.stringify(filename)} of row ${String(row.id)} is outside ${logDir}; left where it is`, { jobid: row.jobid });
    return 0;
  }
  const target = join(monthDir, rel);
  // PFS keeps `.1` even when no backups are configured (it rotates into it), hence at least one.
  const backups = Math.max(1, Number(row.maxbackupnumber) || 0, Number(row.numberofbackup) || 0);
  let count = 0;
  for (const suffix of ['', ...Array.from({ length: backups }, (_, i) => `.${i + 1}`)]) {
    try {
      if (await move(source + suffix, target + suffix)) count++;
    } catch (err) {
      log.warn(`retention: cannot move ${source + suffix} to the archive: ${messageOf(err)}`, { jobid: row.jobid });
      throw err;
    }
  }
  return count;
}

/** Renames, or copies and unlinks across file systems; false when there is no such file. */
async function move(from: string, to: string): Promise<boolean> {
  makeDir(dirname(to));
  try {
    await rename(from, to);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code !== 'EXDEV') throw err;
  }
  try {
    await copyFile(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  await unlink(from);
  return true;
}
