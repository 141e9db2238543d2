import type { Ddl } from '../ddl.js';

/**
 * Fewer, narrower indexes on rms_job: a job changes state three or four times in a few
 * milliseconds, and each change wrote an entry in every index that holds the state (five
 * of them; on PostgreSQL, in all seven). The queue benchmark measured these writes as most
 * of a no-op job's cost.
 */
export const name = '0003_job_indexes';

/** The states a job passes through; a finished job leaves them and the index that holds them. */
const ACTIVE_STATUSES = ['WAITING', 'READY', 'CLAIMED', 'RUNNING', 'RETRY_WAIT'];

export function up(ddl: Ddl): void {
  for (const suffix of ['ready_ix', 'wf_ix', 'step_ix', 'end_ix', 'lease_ix']) ddl.dropIndex('rms_job', suffix);
  // Claims (READY by pool, priority, age), and the small sets the reaper, the retry timer
  // and the console's counts read by state: CLAIMED and RUNNING, RETRY_WAIT, WAITING.
  ddl.index('rms_job', 'active_ix', ['status', 'pool', { column: 'priority', desc: true }, 'id'], { column: 'status', in: ACTIVE_STATUSES });
  // Finished jobs by end time: today's failures, and what retention archives.
  ddl.index('rms_job', 'ended_ix', ['endtime', 'id'], { column: 'endtime', notNull: true });
  // A step's or an instance's jobs in one state (a step starting, resume-failed, cancel)
  // are found through rms_job_wf_id_ix (workflowid, id): an instance holds at most some
  // thousands of jobs.
}
