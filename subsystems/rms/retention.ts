import type { Logger } from 'winston';
import { purgeInBatches } from '../../core/archive.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { deletePurgeableJobs, JOB_ARCHIVE_COLUMNS, selectExistingJobIds, selectPurgeableJobs } from './sql/retention.js';

export interface PurgeJobsOptions {
  db: Db;
  /** The archive's root (DSS's archive area); files land in `<dir>/rms_job/<YYYY-MM>/`. */
  dir: string;
  /** Unix ms: jobs that ended before it go. */
  before: number;
  /** Jobs per batch (at most 1000). */
  batchSize: number;
  log: Logger;
  clock?: Clock;
  /** Pause between batches, in ms (default 5). */
  pauseMs?: number;
  /** Stops between batches. */
  signal?: AbortSignal;
}

/**
 * Retention of run management: finished jobs (SUCCESS, FAILED, CANCELLED) that ended before
 * `before` are archived, one Arrow file per month of their end per batch
 * (`<dir>/rms_job/<YYYY-MM>/rms_job-<YYYY-MM>-<firstid>-<lastid>.arrow`), then deleted, batch by
 * batch, each batch in a short transaction of its own with a pause between, so that the
 * queue's claims are never held up.
 *
 * - A job that PFS still lists a log file for stays: PFS's log retention, run before this one
 *   with the same cutoff, purges those rows first (the log-file row references the job).
 * - The per-step counts (rms_job_count) are left as they are: a workflow's counts are its
 *   history, and stay right for the console after its jobs are archived.
 * - Workflows, steps, solutions, provenance and configurations are never purged.
 */
export async function purgeFinishedJobs(options: PurgeJobsOptions): Promise<{ archived: number; files: string[] }> {
  const { db, before, log } = options;
  const clock = options.clock ?? systemClock;
  const began = clock.now();
  const result = await purgeInBatches<Record<string, unknown> & { id: unknown }>({
    db,
    dir: options.dir,
    table: 'rms_job',
    timeColumn: 'endtime',
    columns: JOB_ARCHIVE_COLUMNS,
    batchSize: options.batchSize,
    pauseMs: options.pauseMs,
    signal: options.signal,
    log,
    select: (knex, limit) => selectPurgeableJobs(knex, { before, limit }),
    remove: async (trx, ids) => Number(await deletePurgeableJobs(trx, { ids, before })),
    remaining: (trx, ids) => selectExistingJobIds(trx, { ids }) as Promise<{ id: unknown }[]>,
  });
  log.debug(`retention: rms_job done in ${clock.now() - began} ms`, { archived: result.archived, before });
  return result;
}
