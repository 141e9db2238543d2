import type { Knex } from 'knex';
import type { Db } from '../../core/db.js';
import { rmsErrors } from './errors.js';
import {
  countEndedJobs,
  countJobsInSpans,
  countQueuedJobs,
  countsOfWorkflows,
  endedSliceEnd,
  NO_CONDITIONS,
  selectEndedJobs,
  selectJobsInSpans,
  selectQueuedJobs,
  selectWorkflowSpans,
  stepNamesOf,
  stepWorkflow,
  type JobConditions,
  type Key,
  type Span,
  type WorkflowSet,
} from './sql/jobQuery.js';
import { selectSteps, type StepRow } from './sql/steps.js';
import { ACTIVE, FINISHED, JOB_STATUSES, type JobStatus } from './work.js';

/** Which jobs an operator asks for (the console's job query, a bulk action, a triage group). */
export interface JobFilter {
  status?: JobStatus[];
  workflowid?: number;
  stepid?: number;
  tasktype?: string;
  pool?: string;
  nodeid?: number;
  /** A piece of the failure reason, without regard to case. */
  reason?: string;
  /** A program's exit code. */
  exitCode?: number;
  /** Unix ms: created from (inclusive) and to (exclusive). */
  createdFrom?: number;
  createdTo?: number;
  /** Unix ms: finished from (inclusive) and to (exclusive). */
  finishedFrom?: number;
  finishedTo?: number;
}

/**
 * How a query reads rms_job, chosen from its filter (docs/console.md "Jobs"):
 * - `workflow`: one workflow's (or step's) jobs, through its range of ids;
 * - `finished`: jobs that finished in a span of time, through rms_job_ended_ix;
 * - `created`: the jobs of the workflows created in a span of time (rms_workflow_created_ix, then their ranges);
 * - `running`: jobs not yet finished, which only RUNNING and PAUSED workflows hold (rms_workflow_status_ix, then their ranges);
 * - `queue`: READY jobs of a pool in claim order, through the claim's index.
 */
export type JobPlan = 'workflow' | 'finished' | 'created' | 'running' | 'queue';

/** The orders a query gives, each served by the index its plan reads; `-` is descending. */
export const JOB_SORTS = ['id', '-id', 'finished', '-finished', 'priority'] as const;
export type JobSort = (typeof JOB_SORTS)[number];

const SORTS_OF: Record<JobPlan, { sorts: JobSort[]; initial: JobSort }> = {
  workflow: { sorts: ['id', '-id'], initial: 'id' },
  finished: { sorts: ['finished', '-finished'], initial: '-finished' },
  created: { sorts: ['id', '-id'], initial: '-id' },
  running: { sorts: ['id', '-id'], initial: '-id' },
  queue: { sorts: ['priority'], initial: 'priority' },
};

/** Why a filter cannot be read in claim order (`sort=priority`, the queue plan), or null when it can. */
function notQueue(f: JobFilter): string | null {
  if (f.pool === undefined) return 'sorting by priority is the queue of one pool: give pool';
  if (f.status !== undefined && (f.status.length !== 1 || f.status[0] !== 'READY')) return 'sorting by priority is the queue: READY jobs only';
  return null;
}

/** The sorts a page read by `plan` may ask for next: the plan's own, and claim order where the filter is one pool's READY jobs. */
export function sortsOf(plan: JobPlan, filter: JobFilter): JobSort[] {
  const own = SORTS_OF[plan].sorts;
  return plan === 'queue' || notQueue(filter) !== null ? own : [...own, 'priority'];
}

/**
 * The fields of a job filter in a query string, as the console's job query and the API read
 * them (parseJobFilter; `step`, an id or a name with `workflow`, is read by the routes).
 */
export const JOB_FILTER_FIELDS = ['status', 'workflow', 'step', 'tasktype', 'pool', 'node', 'reason', 'exitCode', 'createdFrom', 'createdTo', 'finishedFrom', 'finishedTo'] as const;

/** Job ids one statement of a page reads at most: a page never reads an unbounded range. */
export const PAGE_SPAN = 20_000;
/** Job ids one page looks through at most before it answers with what it found and where it stopped. */
export const PAGE_SCAN = 200_000;
/** Job ids a count looks through at most; beyond, it says it is a lower bound. */
export const COUNT_SCAN = 2_000_000;

/** A slice of the jobs a plan walks: spans of ids (workflow plans) or of the finished jobs' index. */
export type Slice = { kind: 'spans'; spans: Span[]; size: number; end: Key } | { kind: 'ended'; after: Key | null; end: Key; size: number };

/** A filter as a plan reads it: the index and the conditions on the rows it reads. */
export interface Planned {
  plan: JobPlan;
  sort: JobSort;
  filter: JobFilter;
  conditions: JobConditions;
  /** The workflows a workflow plan walks. */
  set: WorkflowSet;
}

export interface JobPage {
  jobs: Record<string, unknown>[];
  /** The key to ask for the next page with (`after`); null at the end. */
  next: string | null;
  plan: JobPlan;
  sort: JobSort;
  /** True when the page stopped at its bound on jobs looked through before it was full: ask again from `next`. */
  partial: boolean;
}

export interface JobCount {
  count: number;
  /** False when the count stopped at its bound: `count` is then a lower bound. */
  exact: boolean;
  plan: JobPlan;
  /** Where the count came from: the per-step counts (rms_job_count) or the jobs themselves. */
  from: 'rms_job_count' | 'rms_job';
}

const wholeOrUndefined = (v: unknown, what: string, min = 0): number | undefined => {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw rmsErrors.badParams(`job filter: ${what} must be a whole number${min > 0 ? ` of at least ${min}` : ''}; got ${JSON.stringify(v)}`);
  return n;
};

/** A time as Unix ms, or as an ISO 8601 date or date-time (UTC unless it says otherwise). */
const timeOrUndefined = (v: unknown, what: string): number | undefined => {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number' || /^\d+$/.test(String(v))) return wholeOrUndefined(v, what);
  const text = String(v);
  // Date.parse reads a date-time without an offset (what a datetime-local field sends) in the server's time zone.
  const zoned = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : /^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(text) ? `${text}Z` : text;
  const ms = Date.parse(zoned);
  if (Number.isNaN(ms)) throw rmsErrors.badParams(`job filter: ${what} must be a time (Unix ms, or ISO 8601 such as 2026-01-31 or 2026-01-31T12:00:00Z); got ${JSON.stringify(v)}`);
  return ms;
};

const textOrUndefined = (v: unknown, what: string, max: number): string | undefined => {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw rmsErrors.badParams(`job filter: ${what} must be text; got ${JSON.stringify(v)}`);
  if (v.length > max) throw rmsErrors.badParams(`job filter: ${what} is longer than ${max} characters`);
  return v;
};

/**
 * A filter from a query string or a JSON body: states as a list or comma-separated, times as
 * Unix ms or ISO 8601. Unknown states, bad numbers and an empty range are refused, naming the field.
 */
export function parseJobFilter(q: Record<string, unknown>): JobFilter {
  const f: JobFilter = {};
  const status = q.status;
  if (status !== undefined && status !== '') {
    const list = (Array.isArray(status) ? status : String(status).split(',')).map((s) => String(s).trim().toUpperCase()).filter(Boolean);
    const bad = list.filter((s) => !(JOB_STATUSES as readonly string[]).includes(s));
    if (bad.length > 0) throw rmsErrors.badParams(`job filter: status ${bad.join(', ')} is not a job state (${JOB_STATUSES.join(', ')})`);
    if (list.length > 0) f.status = [...new Set(list)] as JobStatus[];
  }
  f.workflowid = wholeOrUndefined(q.workflow ?? q.workflowid, 'workflow', 1);
  f.stepid = wholeOrUndefined(q.stepid, 'stepid', 1);
  f.tasktype = textOrUndefined(q.tasktype, 'tasktype', 64);
  f.pool = textOrUndefined(q.pool, 'pool', 32);
  f.nodeid = wholeOrUndefined(q.node ?? q.nodeid, 'node', 1);
  f.reason = textOrUndefined(q.reason, 'reason', 200);
  f.exitCode = wholeOrUndefined(q.exitCode, 'exitCode');
  f.createdFrom = timeOrUndefined(q.createdFrom, 'createdFrom');
  f.createdTo = timeOrUndefined(q.createdTo, 'createdTo');
  f.finishedFrom = timeOrUndefined(q.finishedFrom, 'finishedFrom');
  f.finishedTo = timeOrUndefined(q.finishedTo, 'finishedTo');
  for (const [from, to] of [['createdFrom', 'createdTo'], ['finishedFrom', 'finishedTo']] as const) {
    if (f[from] !== undefined && f[to] !== undefined && f[to]! <= f[from]!) throw rmsErrors.badParams(`job filter: ${to} must be after ${from}`);
  }
  for (const k of Object.keys(f) as (keyof JobFilter)[]) if (f[k] === undefined) delete f[k];
  return f;
}

/** The console's job query: pages, counts and the walk bulk actions take, each bounded by the index its plan reads. */
export class JobQuery {
  constructor(readonly db: Db) {}

  /** Chooses how a filter is read; a filter that would read all of rms_job is refused, saying what to add. */
  async plan(filter: JobFilter, sort?: JobSort): Promise<Planned> {
    const f = { ...filter };
    if (f.stepid !== undefined) {
      const [step] = (await stepWorkflow(this.db.knex, { id: f.stepid })) as { workflowid: number }[];
      if (!step) throw rmsErrors.badParams(`job filter: there is no step ${f.stepid}`);
      if (f.workflowid !== undefined && f.workflowid !== Number(step.workflowid)) throw rmsErrors.badParams(`job filter: step ${f.stepid} is not a step of workflow ${f.workflowid}`);
      f.workflowid = Number(step.workflowid);
    }
    const statuses = f.status ?? null;
    const finishedOnly = statuses !== null && statuses.every((s) => (FINISHED as readonly string[]).includes(s));
    const activeOnly = statuses !== null && statuses.every((s) => ACTIVE.includes(s));
    if (f.finishedFrom !== undefined && statuses !== null && !finishedOnly) throw rmsErrors.badParams(`job filter: a finished time range finds only jobs that finished (${FINISHED.join(', ')}); got status ${statuses.join(', ')}`);
    let plan: JobPlan;
    if (sort === 'priority') {
      const refused = notQueue(f);
      if (refused !== null) throw rmsErrors.badParams(`job filter: ${refused}`);
      f.status = ['READY'];
      plan = 'queue';
    } else if (f.workflowid !== undefined) plan = 'workflow';
    else if (f.finishedFrom !== undefined) plan = 'finished';
    else if (f.createdFrom !== undefined) plan = 'created';
    else if (activeOnly) plan = 'running';
    else {
      throw rmsErrors.badParams(
        `job filter: say which jobs to look through: a workflow, finishedFrom (with finished states), createdFrom, or only states of jobs not yet finished (${ACTIVE.join(', ')})` +
          '; the whole of rms_job is not searched',
      );
    }
    const { sorts, initial } = SORTS_OF[plan];
    if (sort !== undefined && !sorts.includes(sort)) throw rmsErrors.badParams(`job filter: the ${plan} plan sorts by ${sorts.join(' or ')}; got sort ${sort}`);
    const conditions: JobConditions = {
      ...NO_CONDITIONS,
      statuses: f.status ?? null,
      stepid: f.stepid ?? null,
      tasktype: f.tasktype ?? null,
      pool: f.pool ?? null,
      nodeid: f.nodeid ?? null,
      reason: f.reason ?? null,
      exitCode: f.exitCode ?? null,
      createdFrom: f.createdFrom ?? null,
      createdTo: f.createdTo ?? null,
      finishedFrom: f.finishedFrom ?? null,
      finishedTo: f.finishedTo ?? null,
    };
    const set: WorkflowSet = {
      id: plan === 'workflow' ? f.workflowid! : null,
      statuses: plan === 'running' ? ['RUNNING', 'PAUSED'] : null,
      createdFrom: plan === 'created' ? f.createdFrom! : null,
      createdTo: plan === 'created' ? (f.createdTo ?? null) : null,
      upTo: null,
    };
    return { plan, sort: sort ?? initial, filter: f, conditions, set };
  }

  /** One page of jobs, after the key a previous page gave (`next`). */
  async page(filter: JobFilter, o: { sort?: JobSort; after?: string; limit?: number; now: number }): Promise<JobPage> {
    const p = await this.plan(filter, o.sort);
    const limit = Math.min(Math.max(o.limit ?? 50, 1), 500);
    const after = o.after ? parseKey(o.after) : null;
    if (p.plan === 'queue') {
      const jobs = (await selectQueuedJobs(this.db.knex, { pool: p.filter.pool!, after, c: p.conditions, limit })) as Record<string, unknown>[];
      const last = jobs.at(-1);
      return { jobs, next: jobs.length === limit && last ? `${Number(last.priority)}:${Number(last.id)}` : null, plan: p.plan, sort: p.sort, partial: false };
    }
    const dir = p.sort.startsWith('-') ? 'desc' : 'asc';
    const jobs: Record<string, unknown>[] = [];
    let scanned = 0;
    for await (const slice of this.slices(this.db.knex, p, dir, after, PAGE_SPAN, o.now)) {
      const rows = await this.read(this.db.knex, p, slice, dir, limit - jobs.length, false);
      jobs.push(...rows);
      scanned += slice.size;
      if (jobs.length >= limit) {
        const last = jobs[jobs.length - 1];
        return { jobs, next: keyOf(p.plan, last), plan: p.plan, sort: p.sort, partial: false };
      }
      if (scanned >= PAGE_SCAN) return { jobs, next: `${slice.end.a}:${slice.end.id}`, plan: p.plan, sort: p.sort, partial: true };
    }
    return { jobs, next: null, plan: p.plan, sort: p.sort, partial: false };
  }

  /**
   * How many jobs match. From the per-step counts when the filter is only states and a step
   * of workflows (exact at any size); otherwise counted slice by slice, up to COUNT_SCAN jobs
   * looked through (then a lower bound, and said so).
   */
  async count(filter: JobFilter, now: number): Promise<JobCount> {
    const p = await this.plan(filter);
    const c = p.conditions;
    const onlyStates = Object.entries(c).every(([k, v]) => v === null || k === 'statuses' || k === 'stepid' || (p.plan === 'created' && (k === 'createdFrom' || k === 'createdTo')));
    if (p.plan !== 'finished' && onlyStates) {
      let count = 0;
      for (let after: number | null = null; ; ) {
        const page = (await selectWorkflowSpans(this.db.knex, { set: p.set, after, dir: 'asc', limit: 500 })) as { id: number }[];
        if (page.length === 0) break;
        const [row] = (await countsOfWorkflows(this.db.knex, { ids: page.map((w) => Number(w.id)), statuses: c.statuses, stepid: c.stepid })) as { n: number | string | null }[];
        count += Number(row?.n ?? 0);
        after = Number(page[page.length - 1].id) + 1;
      }
      return { count, exact: true, plan: p.plan, from: 'rms_job_count' };
    }
    let count = 0;
    let scanned = 0;
    for await (const slice of this.slices(this.db.knex, p, 'asc', null, PAGE_SPAN, now)) {
      const [row] = (slice.kind === 'spans'
        ? await countJobsInSpans(this.db.knex, { spans: slice.spans, c })
        : await countEndedJobs(this.db.knex, { ...this.range(p, now), after: slice.after, until: slice.end, c })) as { n: number | string }[];
      count += Number(row?.n ?? 0);
      scanned += slice.size;
      if (scanned >= COUNT_SCAN) return { count, exact: false, plan: p.plan, from: 'rms_job' };
    }
    return { count, exact: true, plan: p.plan, from: 'rms_job' };
  }

  /** The names of steps by id, for a page of jobs (at most its limit of distinct steps). */
  async stepNames(ids: number[]): Promise<Map<number, string>> {
    const unique = [...new Set(ids)];
    const rows = unique.length === 0 ? [] : ((await stepNamesOf(this.db.knex, { ids: unique })) as { id: number | string; name: string }[]);
    return new Map(rows.map((r) => [Number(r.id), r.name]));
  }

  /** The finished jobs' span of time a `finished` plan reads: up to `now` unless told. */
  private range(p: Planned, now: number): { from: number; to: number } {
    return { from: p.conditions.finishedFrom ?? 0, to: p.conditions.finishedTo ?? now + 1 };
  }

  /** The rows of one slice that meet the conditions, in the plan's order. */
  read(knex: Knex | Knex.Transaction, p: Planned, slice: Slice, dir: 'asc' | 'desc', limit: number, keysOnly: boolean): Promise<Record<string, unknown>[]> {
    if (slice.kind === 'spans') return selectJobsInSpans(knex, { spans: slice.spans, c: p.conditions, dir, limit, keysOnly }) as Promise<Record<string, unknown>[]>;
    const { from, to } = { from: p.conditions.finishedFrom ?? 0, to: p.conditions.finishedTo ?? Number.MAX_SAFE_INTEGER };
    return selectEndedJobs(knex, { from, to, after: slice.after, until: slice.end, dir, c: p.conditions, limit, keysOnly }) as Promise<Record<string, unknown>[]>;
  }

  /**
   * The slices a plan walks from `after`, each of at most `size` job ids (spans) or finished
   * jobs (the index), in `dir` order. Workflow plans split a large workflow's range into
   * spans and gather small ones into one slice.
   */
  async *slices(knex: Knex | Knex.Transaction, p: Planned, dir: 'asc' | 'desc', after: Key | null, size: number, now: number): AsyncGenerator<Slice> {
    if (p.plan === 'queue') throw new Error('the queue plan is read by page, not by slice');
    if (p.plan === 'finished') {
      const range = this.range(p, now);
      for (let from = after; ; ) {
        const [end] = (await endedSliceEnd(knex, { ...range, after: from, dir, size })) as { endtime: number | string; id: number | string }[];
        if (!end) return;
        const key = { a: Number(end.endtime), id: Number(end.id) };
        yield { kind: 'ended', after: from, end: key, size };
        from = key;
      }
    }
    let spans: Span[] = [];
    let total = 0;
    const cut = (): Slice => {
      const last = spans[spans.length - 1];
      const slice: Slice = { kind: 'spans', spans, size: total, end: { a: last.workflowid, id: dir === 'asc' ? last.hi : last.lo } };
      spans = [];
      total = 0;
      return slice;
    };
    for (let from: number | null = after?.a ?? null; ; ) {
      const page = (await selectWorkflowSpans(knex, { set: p.set, after: from, dir, limit: 200 })) as { id: number; first_jobid: number; last_jobid: number }[];
      if (page.length === 0) break;
      for (const w of page) {
        const workflowid = Number(w.id);
        let lo = Number(w.first_jobid);
        let hi = Number(w.last_jobid);
        if (after && after.a === workflowid) {
          if (dir === 'asc') lo = Math.max(lo, after.id + 1);
          else hi = Math.min(hi, after.id - 1);
        }
        while (lo <= hi) {
          const take = Math.min(hi - lo + 1, size - total);
          const span = dir === 'asc' ? { workflowid, lo, hi: lo + take - 1 } : { workflowid, lo: hi - take + 1, hi };
          spans.push(span);
          total += take;
          if (dir === 'asc') lo += take;
          else hi -= take;
          if (total >= size) yield cut();
        }
      }
      const last = Number(page[page.length - 1].id);
      from = dir === 'asc' ? last + 1 : last - 1;
      if (page.length < 200) break;
    }
    if (spans.length > 0) yield cut();
  }
}

function parseKey(text: string): Key {
  const m = /^(-?\d+):(\d+)$/.exec(text);
  if (!m) throw rmsErrors.badParams(`job query: after must be the key a page gave as next (two numbers joined by ':'); got ${JSON.stringify(text)}`);
  return { a: Number(m[1]), id: Number(m[2]) };
}

function keyOf(plan: JobPlan, row: Record<string, unknown>): string {
  return `${Number(plan === 'finished' ? row.endtime : row.workflowid)}:${Number(row.id)}`;
}

/** The steps of a workflow by name: a filter may name its step instead of giving its id. */
export async function stepByName(db: Db, workflowid: number, name: string): Promise<number> {
  const step = ((await selectSteps(db.knex, { workflowid })) as StepRow[]).find((s) => s.name === name);
  if (!step) throw rmsErrors.badParams(`job filter: workflow ${workflowid} has no step "${name}"`);
  return Number(step.id);
}
