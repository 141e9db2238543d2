import type { Ddl } from '../ddl.js';

/**
 * Job logs in append-only segment files instead of one file per job (issue 12, part 2).
 * A segment (pfs_log_segment) is a file of one writer — a worker thread, or a process's own
 * thread for external programs — under `pfs.jobLog.dir`; a job's log is the list of its
 * extents (pfs_log_extent: where in which segment, for which job and attempt), written in
 * the dispatcher's batches with the jobs' outcomes. pfs_log_file keeps the DPCT's columns, one
 * row per run of a job's attempt that wrote a log, now with its attempt; rows from before this
 * migration (attempt null) still name a file of their own under `log.dir`.
 *
 * A run whose whole log is one extent (a short job: its lines written in one write at the end
 * of its thread's batch) has that extent in its pfs_log_file row (segmentid, pos; its length
 * is `bytes`) and no pfs_log_extent row: one row per logging job, not two. Measured on SQLite
 * (1 000-row inserts): a pfs_log_file row 8–17 µs, an extent row 3–7 µs more. No foreign key
 * on that segmentid: retention deletes old segments without looking for rows that name them.
 *
 * No foreign key from an extent to rms_job: extents of a run that never recorded its end (its
 * process killed, the job cancelled) are PFS's to drop with their segment, and RMS's job
 * retention must not wait on them.
 */
export const name = '0007_job_log_store';

export function up(ddl: Ddl): void {
  ddl.table('pfs_log_segment', (c) => {
    c.id();
    // Relative to pfs.jobLog.dir: `<YYYY-MM-DD>/<process>-<writer>-<n>.seg`.
    c.str('name', 200).notNullable();
    c.big('created').notNullable();
    c.unique(['name'], 'name_uq');
    c.index(['created'], 'created_ix');
  });
  ddl.table(
    'pfs_log_extent',
    (c) => {
      c.id();
      c.ref('segmentid', 'pfs_log_segment').notNullable();
      c.big('jobid').notNullable();
      c.int('attempt').notNullable();
      // Byte position in the segment, and length.
      c.big('pos').notNullable();
      c.big('bytes').notNullable();
      c.big('created').notNullable();
      c.index(['jobid', 'attempt'], 'job_ix');
      c.index(['segmentid'], 'seg_ix');
    },
    { partitionBy: 'created' },
  );
  ddl.alter('pfs_log_file', (c) => {
    c.int('attempt');
    c.big('segmentid');
    c.big('pos');
  });
  // A log-file row is written in the transaction of its job's outcome, which shows the job
  // and its workflow exist, and RMS's retention keeps a job while a row names it: the foreign
  // keys only checked it again, and on PostgreSQL each check also locks the job's and the
  // workflow's row (FOR KEY SHARE). In psql, 20 turns of 1 000 jobs (the outcome's update and
  // the rows' insert): 35 µs of the backend's CPU per job with them, 19.5 without. SQLite
  // keeps them: it cannot drop one without rebuilding the table, and locks no row for them.
  ddl.dropForeign('pfs_log_file', 'jobid');
  ddl.dropForeign('pfs_log_file', 'workflowid');
}
