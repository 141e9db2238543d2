import type { Knex } from 'knex';
import { defineQuery } from '../../../core/query.js';
import { JOB_COLUMNS } from './jobs.js';

/**
 * The console's job query (subsystems/rms/jobQuery.ts): every statement reads a bounded slice
 * of an index — spans of job ids (the primary key) of some workflows, a slice of the finished
 * jobs by end time (rms_job_ended_ix), or the READY jobs of a pool (the claim's index) — and
 * applies the other filters to the rows of that slice only. No index is added to rms_job for
 * the console: on PostgreSQL every index of rms_job gets an entry at each of a job's state
 * changes (docs/queue.md).
 */

/** What a job query filters on besides the index it reads; each one optional. */
export interface JobConditions {
  statuses: string[] | null;
  stepid: number | null;
  tasktype: string | null;
  pool: string | null;
  nodeid: number | null;
  /** A piece of the failure reason, matched without regard to case. */
  reason: string | null;
  /** A program's exit code, as the executor writes it at the end of the reason. */
  exitCode: number | null;
  createdFrom: number | null;
  createdTo: number | null;
  finishedFrom: number | null;
  finishedTo: number | null;
}

export const NO_CONDITIONS: JobConditions = {
  statuses: null, stepid: null, tasktype: null, pool: null, nodeid: null, reason: null, exitCode: null,
  createdFrom: null, createdTo: null, finishedFrom: null, finishedTo: null,
};

/** A span of job ids of one workflow: a workflow's whole range, or a part of a large one. */
export interface Span {
  workflowid: number;
  lo: number;
  hi: number;
}

/** A position in a walk: after this job (of this workflow, or at this end time or priority). */
export interface Key {
  a: number;
  id: number;
}

/** What a reason LIKE needs escaped, with '!' as the escape character (the same in every dialect). */
function likeText(text: string): string {
  return text.toLowerCase().replace(/[!%_]/g, '!$&');
}

/** The conditions on the rows a slice reads. */
function where(q: Knex.QueryBuilder, c: JobConditions): Knex.QueryBuilder {
  if (c.statuses !== null) q.whereIn('rms_job.status', c.statuses);
  if (c.stepid !== null) q.andWhere('rms_job.stepid', c.stepid);
  if (c.tasktype !== null) q.andWhere('rms_job.tasktype', c.tasktype);
  if (c.pool !== null) q.andWhere('rms_job.pool', c.pool);
  if (c.nodeid !== null) q.andWhere('rms_job.nodeid', c.nodeid);
  if (c.reason !== null) q.andWhereRaw(`lower(??) like ? escape '!'`, ['rms_job.reason', `%${likeText(c.reason)}%`]);
  // The local executor ends a program's reason with "exited with code N": a suffix, so 3 is not 30.
  if (c.exitCode !== null) q.andWhereRaw(`?? like ?`, ['rms_job.reason', `% exited with code ${c.exitCode}`]);
  if (c.createdFrom !== null) q.andWhere('rms_job.created', '>=', c.createdFrom);
  if (c.createdTo !== null) q.andWhere('rms_job.created', '<', c.createdTo);
  if (c.finishedFrom !== null) q.andWhere('rms_job.endtime', '>=', c.finishedFrom);
  if (c.finishedTo !== null) q.andWhere('rms_job.endtime', '<', c.finishedTo);
  return q;
}

/** The rows of the spans, read through the primary key: one range per span. */
function inSpans(q: Knex.QueryBuilder, spans: readonly Span[]): Knex.QueryBuilder {
  if (spans.length === 0) return q.whereRaw('1 = 0');
  return q.andWhere((w) => {
    for (const s of spans) w.orWhere((x) => x.where('rms_job.workflowid', s.workflowid).whereBetween('rms_job.id', [s.lo, s.hi]));
  });
}

const SPANS_EXAMPLE: Span[] = [{ workflowid: 1, lo: 1, hi: 500 }, { workflowid: 2, lo: 501, hi: 900 }];
const CONDITIONS_EXAMPLE: JobConditions = { ...NO_CONDITIONS, statuses: ['FAILED'], reason: 'no such file', exitCode: 3 };

/** What a bulk action needs of a job to move it, and what failure triage groups by. */
export const JOB_KEY_COLUMNS = ['id', 'workflowid', 'stepid', 'status', 'tasktype', 'nodeid', 'reason', 'endtime', 'attempts', 'logs'] as const;

/**
 * The jobs of some spans that meet the conditions, by (workflow, id) in `dir` order. A walk
 * trims its spans past its position, so the spans are the whole of the keyset condition.
 */
export const selectJobsInSpans = defineQuery(
  'rms.selectJobsInSpans',
  { spans: SPANS_EXAMPLE, c: CONDITIONS_EXAMPLE, dir: 'asc' as 'asc' | 'desc', limit: 50, keysOnly: false },
  (knex, p) =>
    where(inSpans(knex('rms_job').select(p.keysOnly ? JOB_KEY_COLUMNS : JOB_COLUMNS), p.spans), p.c)
      .orderBy([{ column: 'rms_job.workflowid', order: p.dir }, { column: 'rms_job.id', order: p.dir }])
      .limit(p.limit),
);

/** How many jobs of some spans meet the conditions. */
export const countJobsInSpans = defineQuery('rms.countJobsInSpans', { spans: SPANS_EXAMPLE, c: CONDITIONS_EXAMPLE }, (knex, p) =>
  where(inSpans(knex('rms_job').count({ n: '*' }), p.spans), p.c),
);

/**
 * Keeps the rows beyond a key of (endtime, id) in the direction of `op` (with the key itself if
 * `withKey`). Keyset without a row-value comparison, which Oracle lacks. The plain bound on
 * endtime is what the index range starts or ends at: the OR alone is a filter, and each slice
 * of a day's triage read the day from its start (575 ms a slice at 76 000 jobs, 25 s in all).
 */
function beyondKey<Q extends Knex.QueryBuilder>(q: Q, key: Key, op: '<' | '>', withKey: boolean): Q {
  const { a, id } = key;
  q.andWhere('rms_job.endtime', `${op}=`, a);
  q.andWhere((w) => w.where('rms_job.endtime', op, a).orWhere((x) => x.where('rms_job.endtime', a).andWhere('rms_job.id', withKey ? `${op}=` : op, id)));
  return q;
}

/** The finished jobs' index in (endtime, id) order, from after a key, in `dir` order. */
function ended(knex: Knex, p: { from: number; to: number; after: Key | null; dir: 'asc' | 'desc' }, columns: readonly string[]) {
  const q = knex('rms_job').select(columns).where('rms_job.endtime', '>=', p.from).andWhere('rms_job.endtime', '<', p.to);
  if (p.after !== null) beyondKey(q, p.after, p.dir === 'asc' ? '>' : '<', false);
  return q.orderBy([{ column: 'rms_job.endtime', order: p.dir }, { column: 'rms_job.id', order: p.dir }]);
}

const ENDED_EXAMPLE = { from: 1767225600000, to: 1767312000000, after: { a: 1767225600500, id: 10 } as Key | null, dir: 'desc' as 'asc' | 'desc' };

/**
 * The last key of a slice of at most `size` finished jobs from `after`, read from
 * rms_job_ended_ix alone: the slice a filtered read then stays within.
 */
export const endedSliceEnd = defineQuery('rms.endedSliceEnd', { ...ENDED_EXAMPLE, size: 20000 }, (knex, p) => {
  const slice = ended(knex, p, ['rms_job.endtime', 'rms_job.id']).limit(p.size).as('s');
  const back = p.dir === 'asc' ? 'desc' : 'asc';
  return knex.select('s.endtime', 's.id').from(slice).orderBy([{ column: 's.endtime', order: back }, { column: 's.id', order: back }]).limit(1);
});

/** The finished jobs of a slice, from `after` up to and with `until`, that meet the conditions. */
export const selectEndedJobs = defineQuery(
  'rms.selectEndedJobs',
  { ...ENDED_EXAMPLE, until: { a: 1767226000000, id: 900 } as Key, c: CONDITIONS_EXAMPLE, limit: 50, keysOnly: false },
  (knex, p) => {
    const q = where(ended(knex, p, p.keysOnly ? JOB_KEY_COLUMNS : JOB_COLUMNS), p.c);
    return beyondKey(q, p.until, p.dir === 'asc' ? '<' : '>', true).limit(p.limit);
  },
);

/** How many finished jobs of a slice meet the conditions. */
export const countEndedJobs = defineQuery(
  'rms.countEndedJobs',
  { from: 1767225600000, to: 1767312000000, after: null as Key | null, until: { a: 1767226000000, id: 900 } as Key, c: CONDITIONS_EXAMPLE },
  (knex, p) => {
    const q = where(knex('rms_job').count({ n: '*' }).where('rms_job.endtime', '>=', p.from).andWhere('rms_job.endtime', '<', p.to), p.c);
    if (p.after !== null) beyondKey(q, p.after, '>', false);
    return beyondKey(q, p.until, '<', true);
  },
);

/**
 * READY jobs of a pool in claim order (priority, highest first, then id), after (priority
 * `a`, id): as listQueue, two bounded range scans of the claim's index, with the conditions.
 */
export const selectQueuedJobs = defineQuery(
  'rms.selectQueuedJobs',
  { pool: 'local', after: null as Key | null, c: NO_CONDITIONS, limit: 50 },
  (knex, p) => {
    const ready = () => where(knex('rms_job').select(JOB_COLUMNS).where({ 'rms_job.status': 'READY', 'rms_job.pool': p.pool }), p.c);
    const byPriority = [{ column: 'priority', order: 'desc' as const }, { column: 'id' }];
    if (p.after === null) return ready().orderBy(byPriority).limit(p.limit);
    const same = ready().andWhere('rms_job.priority', p.after.a).andWhere('rms_job.id', '>', p.after.id).orderBy('id').limit(p.limit);
    const lower = ready().andWhere('rms_job.priority', '<', p.after.a).orderBy(byPriority).limit(p.limit);
    const legs = knex.select('*').from(same.as('a')).unionAll(knex.select('*').from(lower.as('b')));
    return knex.select('*').from(legs.as('q')).orderBy(byPriority).limit(p.limit);
  },
);

/** How many READY jobs of a pool meet the conditions, counting at most `cap` + 1. */
export const countQueuedJobs = defineQuery('rms.countQueuedJobs', { pool: 'local', c: NO_CONDITIONS, cap: 10000 }, (knex, p) =>
  knex.count({ n: '*' }).from(where(knex('rms_job').select('rms_job.id').where({ 'rms_job.status': 'READY', 'rms_job.pool': p.pool }), p.c).limit(p.cap + 1).as('q')),
);

/** The workflows a walk reads the jobs of: which ones, in id order after `after`. */
export interface WorkflowSet {
  /** One workflow. */
  id: number | null;
  /** Workflows in these states (RUNNING and PAUSED: the only ones with jobs that have not finished). */
  statuses: string[] | null;
  createdFrom: number | null;
  createdTo: number | null;
  /** Those the walk began with: none made since. */
  upTo: number | null;
}

/** The job ranges of the workflows of a set, by id (rms_workflow's primary key, status_ix or created_ix). */
export const selectWorkflowSpans = defineQuery(
  'rms.selectWorkflowSpans',
  { set: { id: null, statuses: ['RUNNING', 'PAUSED'], createdFrom: null, createdTo: null, upTo: 1000 } as WorkflowSet, after: null as number | null, dir: 'asc' as 'asc' | 'desc', limit: 200 },
  (knex, p) => {
    const q = knex('rms_workflow').select('id', 'first_jobid', 'last_jobid').whereNotNull('first_jobid');
    const s = p.set;
    if (s.id !== null) q.andWhere('id', s.id);
    if (s.statuses !== null) q.whereIn('status', s.statuses);
    if (s.createdFrom !== null) q.andWhere('created', '>=', s.createdFrom);
    if (s.createdTo !== null) q.andWhere('created', '<', s.createdTo);
    if (s.upTo !== null) q.andWhere('id', '<=', s.upTo);
    if (p.after !== null) q.andWhere('id', p.dir === 'asc' ? '>=' : '<=', p.after);
    return q.orderBy('id', p.dir).limit(p.limit);
  },
);

/** The newest workflow: a bulk action leaves those made after it began alone. */
export const newestWorkflow = defineQuery('rms.newestWorkflow', {}, (knex) => knex('rms_workflow').max({ n: 'id' }));

/** Per-step counts of some workflows (rms_job_count): a count by state without reading rms_job. */
export const countsOfWorkflows = defineQuery('rms.countsOfWorkflows', { ids: [1, 2], statuses: ['READY'] as string[] | null, stepid: null as number | null }, (knex, p) => {
  const q = knex('rms_job_count').sum({ n: 'jobs' }).whereIn('workflowid', p.ids);
  if (p.statuses !== null) q.whereIn('status', p.statuses);
  if (p.stepid !== null) q.andWhere('stepid', p.stepid);
  return q;
});

/** Priorities of jobs that wait, by id; those a process holds or that ended keep theirs. */
export const setJobsPriority = defineQuery('rms.setJobsPriority', { ids: [1, 2], priority: 10 }, (knex, p) =>
  knex('rms_job').update({ priority: p.priority }).whereIn('id', p.ids).whereIn('status', ['WAITING', 'READY', 'RETRY_WAIT']),
);

/** The workflow of a step: a step's jobs are found through its workflow's range. */
/** Steps' names by id (the primary key), for a page of jobs. */
export const stepNamesOf = defineQuery('rms.stepNamesOf', { ids: [1, 2] }, (knex, p) => knex('rms_step').select('id', 'name').whereIn('id', p.ids));

export const stepWorkflow = defineQuery('rms.stepWorkflow', { id: 1 }, (knex, p) => knex('rms_step').select('id', 'workflowid', 'name').where('id', p.id));

/** Jobs by id as a bulk action needs them (its selection of ids). */
export const selectJobKeys = defineQuery('rms.selectJobKeys', { ids: [1, 2] }, (knex, p) => knex('rms_job').select(JOB_KEY_COLUMNS).whereIn('id', p.ids).orderBy('id'));

/** The first and last workflow made in a span of time, through rms_workflow_created_ix: a day's workflows as a range of ids. */
export const workflowIdsCreated = defineQuery('rms.workflowIdsCreated', { from: 1767225600000, to: 1767312000000 }, (knex, p) =>
  knex('rms_workflow').min({ lo: 'id' }).max({ hi: 'id' }).where('created', '>=', p.from).andWhere('created', '<', p.to),
);
