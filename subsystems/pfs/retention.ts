import { copyFile, rename, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Logger } from 'winston';
import { monthOf, purgeInBatches } from '../../core/archive.js';
import type { Db } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import { makeDir } from '../../core/files.js';
import { deleteLogFiles, LOG_FILE_ARCHIVE_COLUMNS, selectExistingLogFileIds, selectPurgeableLogFiles } from './sql/retention.js';

export interface PurgeLogsOptions {
  db: Db;
  /** The archive's root (DSS's archive area). */
  dir: string;
  /** Where PFS writes the job logs: `filename` of a pfs_log_file row is relative to it. */
  logDir: string;
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

/**
 * Retention of job logs: every pfs_log_file row last written before `before` is archived,
 * one Arrow file per month of `updated` per batch
 * (`<dir>/pfs_log_file/<YYYY-MM>/pfs_log_file-<YYYY-MM>-<firstid>-<lastid>.arrow`); the log
 * file itself and its rotated backups (`<filename>.1` … `.N`) move to
 * `<dir>/pfs_log/<YYYY-MM>/<filename>`; then the rows are deleted, each batch in a short
 * transaction of its own. Files move before their rows go, so a crash in between leaves a row
 * whose files are already archived, and the next run archives it again and deletes it: nothing
 * is lost and nothing is left behind in `logDir`. A file that is missing is no error (there
 * may never have been a backup .N); the emptied folders under `logDir` stay (PFS may be
 * writing a new log into one). Run this before RMS's job retention with the same cutoff:
 * a job whose log-file row is still here is kept.
 */
export async function purgeJobLogs(options: PurgeLogsOptions): Promise<{ archived: number; files: string[]; moved: number }> {
  const { before, log } = options;
  const logDir = resolve(options.logDir);
  let moved = 0;
  const result = await purgeInBatches<LogFileRow>({
    db: options.db,
    dir: options.dir,
    table: 'pfs_log_file',
    timeColumn: 'updated',
    columns: LOG_FILE_ARCHIVE_COLUMNS,
    batchSize: options.batchSize,
    pauseMs: options.pauseMs,
    signal: options.signal,
    log,
    select: (knex, limit) => selectPurgeableLogFiles(knex, { before, limit }),
    async beforeDelete(rows) {
      for (const row of rows) moved += await moveLogFiles(row, logDir, join(options.dir, 'pfs_log', monthOf(Number(row.updated))), log);
    },
    remove: async (trx, ids) => Number(await deleteLogFiles(trx, { ids })),
    remaining: (trx, ids) => selectExistingLogFileIds(trx, { ids }) as Promise<{ id: unknown }[]>,
  });
  if (moved > 0) log.info(`retention: moved ${moved} job log file(s) to the archive`, { moved });
  return { ...result, moved };
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
