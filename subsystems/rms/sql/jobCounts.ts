import { defineQuery } from '../../../core/query.js';

/** One row per step and state, made with the step, so that every later change is an update. */
export const insertCounts = defineQuery('rms.insertCounts', { rows: [{ workflowid: 1, stepid: 1, status: 'READY', jobs: 10 }] }, (knex, p) =>
  knex('rms_job_count').insert(p.rows),
);

/**
 * Adds to one count and returns what it became; on Oracle, where an update returns values
 * only INTO binds, it returns how many rows it changed.
 */
export const addToCount = defineQuery('rms.addToCount', { stepid: 1, status: 'READY', delta: -3 }, (knex, p, dialect) => {
  const q = knex('rms_job_count').update({ jobs: knex.raw('?? + ?', ['jobs', p.delta]) }).where({ stepid: p.stepid, status: p.status });
  return dialect === 'oracle' ? q : q.returning(['jobs']);
});

export const countsOfSteps = defineQuery('rms.countsOfSteps', { stepids: [1, 2] }, (knex, p) =>
  knex('rms_job_count').select('workflowid', 'stepid', 'status', 'jobs').whereIn('stepid', p.stepids),
);

export const countsOfWorkflow = defineQuery('rms.countsOfWorkflow', { workflowid: 1 }, (knex, p) =>
  knex('rms_job_count').select('stepid', 'status', 'jobs').where('workflowid', p.workflowid),
);

/** Counts by state over every workflow: exact, from the per-step counts. */
export const totalsByStatus = defineQuery('rms.totalsByStatus', {}, (knex) =>
  knex('rms_job_count').select('status').sum({ jobs: 'jobs' }).groupBy('status'),
);

/**
 * Jobs in one active state, counted on an index: on PostgreSQL one that holds only active
 * jobs (rms_job_ready_ix, held_ix or waiting_ix), elsewhere rms_job_active_ix, led by the
 * state. Count the finished states from rms_job_count.
 */
export const countInStatus = defineQuery('rms.countInStatus', { status: 'READY' }, (knex, p) =>
  knex('rms_job').count({ n: '*' }).where('status', p.status),
);

/** The planner's row estimate of a table, for totals too large to count at every page view. */
export const estimateRows = defineQuery('rms.estimateRows', { table: 'rms_job' }, (knex, p, dialect) => {
  if (dialect === 'postgresql') return knex.raw('select reltuples::bigint as n from pg_class where oid = to_regclass(?)', [p.table]);
  if (dialect === 'oracle') return knex.raw('select num_rows as n from user_tables where table_name = ?', [p.table.toUpperCase()]);
  return knex(p.table).count({ n: '*' });
});

/** Jobs that ended in [from, to), by final state: on the index of end times (rms_job_ended_ix). */
export const endedBetween = defineQuery('rms.endedBetween', { from: 1767225600000, to: 1767225660000 }, (knex, p) =>
  knex('rms_job')
    .select('status')
    .count({ n: '*' })
    .where('endtime', '>=', p.from)
    .andWhere('endtime', '<', p.to)
    .whereIn('status', ['SUCCESS', 'FAILED', 'CANCELLED'])
    .groupBy('status'),
);
