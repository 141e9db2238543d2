import { defineQuery } from '../../../core/query.js';

/** A job as "why is it not running?" needs it: its share and claim too. */
export const selectJobForWhy = defineQuery('rms.selectJobForWhy', { id: 1 }, (knex, p) =>
  knex('rms_job')
    .select('id', 'workflowid', 'stepid', 'status', 'priority', 'pool', 'tasktype', 'shareid', 'cpus', 'memory_mb', 'run_after', 'attempts', 'max_attempts', 'claimed_by', 'lease_until', 'endtime', 'reason')
    .where('id', p.id),
);

/**
 * READY jobs of a pool claimed before a job: of a higher priority (of any request: priority
 * comes first), or of its priority, its request and older (between requests of one priority
 * the fair share decides); through the claim's indexes, counting at most `cap` + 1.
 */
export const countAhead = defineQuery('rms.countAhead', { pool: 'local', priority: 0, id: 100, shareid: 1, higher: true, cap: 10000 }, (knex, p) => {
  const q = knex('rms_job').select('id').where({ status: 'READY', pool: p.pool });
  if (p.higher) q.andWhere('priority', '>', p.priority);
  else q.andWhere({ shareid: p.shareid, priority: p.priority }).andWhere('id', '<', p.id);
  return knex.count({ n: '*' }).from(q.limit(p.cap + 1).as('q'));
});
