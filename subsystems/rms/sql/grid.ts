import { defineQuery } from '../../../core/query.js';

/** The steps of some workflows, through rms_step_name_uq (workflowid, name). */
export const stepsOfWorkflows = defineQuery('rms.stepsOfWorkflows', { ids: [1, 2] }, (knex, p) =>
  knex('rms_step').select('id', 'workflowid', 'name', 'status', 'position').whereIn('workflowid', p.ids),
);

/** The per-step counts of some workflows, through rms_job_count_wf_ix: a grid never reads rms_job. */
export const countsOfWorkflowSteps = defineQuery('rms.countsOfWorkflowSteps', { ids: [1, 2] }, (knex, p) =>
  knex('rms_job_count').select('workflowid', 'stepid', 'status', 'jobs').whereIn('workflowid', p.ids).andWhere('jobs', '>', 0),
);
