import type { ArchiveColumn } from '../../../core/archive.js';
import { defineQuery } from '../../../core/query.js';
import { FINISHED } from '../work.js';

/** Every column of rms_job, as its archive holds it (a test checks that none is missing). */
export const JOB_ARCHIVE_COLUMNS: ArchiveColumn[] = [
  ...['id', 'workflowid', 'stepid'].map((name) => ({ name, type: 'int' as const })),
  { name: 'status', type: 'text' },
  { name: 'priority', type: 'int' },
  { name: 'tasktype', type: 'text' },
  { name: 'dataspec', type: 'text' },
  { name: 'solutionid', type: 'int' },
  { name: 'logs', type: 'text' },
  ...['attempts', 'max_attempts', 'run_after', 'lease_until'].map((name) => ({ name, type: 'int' as const })),
  { name: 'claimed_by', type: 'text' },
  { name: 'executor', type: 'text' },
  { name: 'nodeid', type: 'int' },
  { name: 'executor_ref', type: 'text' },
  ...['timeout_ms', 'cpus', 'memory_mb', 'created', 'starttime', 'endtime'].map((name) => ({ name, type: 'int' as const })),
  { name: 'reason', type: 'text' },
  { name: 'result', type: 'text' },
  ...['wall_ms', 'cpu_ms', 'peak_mem_mb'].map((name) => ({ name, type: 'int' as const })),
  { name: 'pool', type: 'text' },
  ...['backoff_ms', 'handbacks', 'claim', 'shareid'].map((name) => ({ name, type: 'int' as const })),
  { name: 'lapsed_by', type: 'text' },
];

/**
 * Finished jobs that ended before a time and whose log-file rows PFS has already purged,
 * oldest first (on rms_job_ended_ix): the next batch retention archives and deletes. A job
 * PFS still lists a log file for stays, so the pfs_log_file → rms_job key never fails.
 */
export const selectPurgeableJobs = defineQuery('rms.selectPurgeableJobs', { before: 1767225600000, limit: 500 }, (knex, p) =>
  knex('rms_job')
    .select(JOB_ARCHIVE_COLUMNS.map((c) => c.name))
    .whereIn('status', FINISHED)
    .andWhere('endtime', '<', p.before)
    .whereNotExists((q) => q.select('id').from('pfs_log_file').where('pfs_log_file.jobid', knex.ref('rms_job.id')))
    .orderBy(['endtime', 'id'])
    .limit(p.limit),
);

/** Deletes jobs of a batch, re-checking that each is still finished, old and without a log-file row. */
export const deletePurgeableJobs = defineQuery('rms.deletePurgeableJobs', { ids: [1, 2], before: 1767225600000 }, (knex, p) =>
  knex('rms_job')
    .delete()
    .whereIn('id', p.ids)
    .whereIn('status', FINISHED)
    .andWhere('endtime', '<', p.before)
    .whereNotExists((q) => q.select('id').from('pfs_log_file').where('pfs_log_file.jobid', knex.ref('rms_job.id'))),
);

/** Which of these jobs exist: after a delete, the ones it left. */
export const selectExistingJobIds = defineQuery('rms.selectExistingJobIds', { ids: [1, 2] }, (knex, p) =>
  knex('rms_job').select('id').whereIn('id', p.ids),
);
