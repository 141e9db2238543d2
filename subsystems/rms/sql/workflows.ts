import type { Knex } from 'knex';
import { defineQuery } from '../../../core/query.js';

export const WORKFLOW_COLUMNS = [
  'id', 'name', 'descid', 'status', 'persistenceid', 'runid', 'transferid', 'trigger_kind', 'params', 'priority',
  'solutionid', 'configid', 'parentid', 'created_by', 'created', 'starttime', 'endtime', 'reason', 'first_jobid', 'last_jobid',
] as const;

export interface WorkflowRow {
  id: number;
  name: string;
  descid: number;
  status: string;
  persistenceid: string | null;
  runid: string;
  transferid: number | null;
  trigger_kind: string;
  params: string | null;
  priority: number;
  solutionid: number | null;
  configid: number | null;
  parentid: number | null;
  created_by: string;
  created: number;
  starttime: number | null;
  endtime: number | null;
  reason: string | null;
  /** The first and the last id of its jobs; null when it has none. */
  first_jobid: number | null;
  last_jobid: number | null;
}

export const insertWorkflow = defineQuery(
  'rms.insertWorkflow',
  {
    name: 'daily',
    descid: 1,
    status: 'RUNNING',
    runid: 'cron-2026-01-01T02:00:00Z',
    transferid: null as number | null,
    trigger_kind: 'CRON',
    params: '{}',
    priority: 0,
    configid: 1,
    parentid: null as number | null,
    created_by: 'cron',
    created: 1767225600000,
    starttime: 1767225600000,
  },
  (knex, p) => knex('rms_workflow').insert(p).returning('id'),
);

export const selectWorkflow = defineQuery('rms.selectWorkflow', { id: 1 }, (knex, p) =>
  knex('rms_workflow').select(WORKFLOW_COLUMNS).where('id', p.id),
);

/** A workflow as an action or the bookkeeping holds it while it changes it. */
export interface LockedWorkflow {
  id: number;
  name: string;
  status: string;
  solutionid: number | null;
  first_jobid: number | null;
  last_jobid: number | null;
}

/** For update on PostgreSQL and Oracle: an action and the bookkeeping on one workflow go one at a time. */
export const lockWorkflow = defineQuery('rms.lockWorkflow', { id: 1 }, (knex, p, dialect) => {
  const q = knex('rms_workflow').select('id', 'name', 'status', 'solutionid', 'first_jobid', 'last_jobid').where('id', p.id);
  return dialect === 'sqlite' ? q : q.forUpdate();
});

export const selectWorkflowByRun = defineQuery('rms.selectWorkflowByRun', { name: 'daily', runid: 'manual-1' }, (knex, p) =>
  knex('rms_workflow').select('id').where({ name: p.name, runid: p.runid }),
);

export const setWorkflowSolution = defineQuery('rms.setWorkflowSolution', { id: 1, solutionid: 1 }, (knex, p) =>
  knex('rms_workflow').update({ solutionid: p.solutionid, persistenceid: String(p.solutionid) }).where('id', p.id),
);

/** The first and the last id of a workflow's jobs, once its creation made them all. */
export const setWorkflowJobs = defineQuery('rms.setWorkflowJobs', { id: 1, first: 1, last: 500 }, (knex, p) =>
  knex('rms_workflow').update({ first_jobid: p.first, last_jobid: p.last }).where('id', p.id),
);

/** A status change that only happens from the states named: a lost race changes nothing. */
export const moveWorkflow = defineQuery(
  'rms.moveWorkflow',
  { id: 1, from: ['RUNNING'], to: 'SUCCESS', endtime: 1767225600000 as number | null, reason: null as string | null },
  (knex, p) => knex('rms_workflow').update({ status: p.to, endtime: p.endtime, reason: p.reason }).where('id', p.id).whereIn('status', p.from),
);

/**
 * Newest first, paged by key; filtered by name, status and time of creation. A span of
 * creation times is also given as the range of ids made in it (`workflowIdsCreated`), which
 * the primary key then serves.
 */
export const listWorkflows = defineQuery(
  'rms.listWorkflows',
  {
    before: null as number | null,
    limit: 50,
    name: null as string | null,
    status: null as string | null,
    created: null as { from: number; to: number; lo: number; hi: number } | null,
  },
  (knex, p) => {
    const q = whereWorkflows(knex('rms_workflow').select(WORKFLOW_COLUMNS).orderBy('id', 'desc').limit(p.limit), p);
    if (p.before !== null) q.where('id', '<', p.before);
    return q;
  },
);

/** What Recent and History filter by: a name (rms_workflow_name_ix), a state (rms_workflow_status_ix), a span as a range of ids. */
export interface WorkflowFilter {
  name: string | null;
  status: string | null;
  created: { from: number; to: number; lo: number; hi: number } | null;
}

function whereWorkflows(q: Knex.QueryBuilder, p: WorkflowFilter): Knex.QueryBuilder {
  if (p.name !== null) q.where('name', p.name);
  if (p.status !== null) q.where('status', p.status);
  if (p.created !== null) q.whereBetween('id', [p.created.lo, p.created.hi]).andWhere('created', '>=', p.created.from).andWhere('created', '<', p.created.to);
  return q;
}

/** "How many": the workflows the filter matches, counted on the index the list walks. */
/**
 * How many workflows a filter matches, counted up to `cap`: beyond, the page says "cap+". A
 * count of all 350 000 workflows took 100 ms, on every view of Recent.
 */
export const countWorkflows = defineQuery(
  'rms.countWorkflows',
  { name: null as string | null, status: null as string | null, created: null as WorkflowFilter['created'], cap: 10_000 },
  (knex, p) => knex.from(whereWorkflows(knex('rms_workflow').select('id'), p).limit(p.cap).as('m')).count({ n: '*' }),
);

/** The parameters of workflows, which every task of theirs receives. */
export const selectWorkflowParams = defineQuery('rms.selectWorkflowParams', { ids: [1, 2] }, (knex, p) =>
  knex('rms_workflow').select('id', 'params').whereIn('id', p.ids),
);
