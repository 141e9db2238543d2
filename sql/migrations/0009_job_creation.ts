import type { Ddl } from '../ddl.js';

/**
 * On PostgreSQL, rms_job without foreign keys to its instance, step and solution. Each is
 * a trigger that runs a locking select of the parent row for every job inserted: in psql,
 * 100 000 jobs of one step took 2.9 s with them and 0.9 s without. Jobs are made only by
 * an instance's creation, in the transaction that makes the instance and its steps, and
 * deleted only by retention; instances, steps and solutions are never deleted, and nothing
 * else writes those columns.
 *
 * SQLite checks a foreign key with one lookup of the parent's primary key, inside the
 * insert, and cannot drop a constraint without copying the table; Oracle checks them
 * inside the insert too: both keep theirs.
 */
export const name = '0009_job_creation';

export function up(ddl: Ddl): void {
  if (ddl.dialect !== 'postgresql') return;
  for (const column of ['workflowid', 'stepid', 'solutionid']) ddl.dropForeign('rms_job', column);
}
