import type { Ddl } from '../ddl.js';

/**
 * An instance's jobs found through the primary key, not an index of their own. All of an
 * instance's jobs are created with it, so their ids lie between the first and the last its
 * creation records; jobs of instances created at the same time may fall in between, and are
 * told apart by their instance. rms_job_wf_id_ix (workflowid, id) got an entry at each of a
 * job's state changes: a third of what the claim and the end of a job cost PostgreSQL.
 */
export const name = '0004_job_ranges';

export function up(ddl: Ddl): void {
  ddl.alter('rms_workflow', (c) => {
    c.big('first_jobid');
    c.big('last_jobid');
  });
  const { knex } = ddl;
  // Through the index, before it goes.
  const jobIds = (fn: 'min' | 'max') => knex('rms_job')[fn]('id').where('workflowid', knex.ref('rms_workflow.id'));
  ddl.data(knex('rms_workflow').update({ first_jobid: jobIds('min'), last_jobid: jobIds('max') }));
  ddl.dropIndex('rms_job', 'wf_id_ix');
}
