import { defineQuery } from '../../../core/query.js';

/** Instances in one state (rms_workflow_status_ix). */
export const countWorkflowsIn = defineQuery('rms.countWorkflowsIn', { status: 'RUNNING' }, (knex, p) => knex('rms_workflow').count({ n: '*' }).where('status', p.status));

/** Instances that ended in one state since a time (rms_workflow_status_end_ix): "failed today". */
export const countWorkflowsEnded = defineQuery('rms.countWorkflowsEnded', { status: 'FAILED', since: 1767225600000 }, (knex, p) =>
  knex('rms_workflow').count({ n: '*' }).where('status', p.status).andWhere('endtime', '>=', p.since),
);

/**
 * Jobs by state in the instances not yet ended, from their per-step counts: the live
 * instances by rms_workflow_status_ix, their counts by rms_job_count_wf_ix. Never a scan of
 * rms_job, and only instances that can hold jobs that wait or run.
 */
export const countsOfLiveWorkflows = defineQuery('rms.countsOfLiveWorkflows', { statuses: ['CREATED', 'RUNNING', 'PAUSED'] }, (knex, p) =>
  knex('rms_job_count as c')
    .join('rms_workflow as w', 'w.id', 'c.workflowid')
    .select('c.status')
    .sum({ jobs: 'c.jobs' })
    .whereIn('w.status', p.statuses)
    .groupBy('c.status'),
);

/**
 * The queue's depth: READY jobs by pool and priority, counted on the claim's index
 * (rms_job_ready_ix on PostgreSQL, partial on READY; rms_job_active_ix elsewhere, led by status).
 */
export const readyByPool = defineQuery('rms.readyByPool', {}, (knex) =>
  knex('rms_job')
    .select('pool', 'priority')
    .count({ n: '*' })
    .where('status', 'READY')
    .groupBy('pool', 'priority')
    .orderBy([{ column: 'pool' }, { column: 'priority', order: 'desc' }]),
);

/** Jobs held (CLAIMED or RUNNING) by pool: a pool's occupancy (rms_job_held_ix on PostgreSQL). */
export const heldByPool = defineQuery('rms.heldByPool', {}, (knex) =>
  knex('rms_job').select('pool').count({ n: '*' }).whereIn('status', ['CLAIMED', 'RUNNING']).groupBy('pool').orderBy('pool'),
);
