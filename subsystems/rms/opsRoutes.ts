import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { missing, param, Reason, route } from '../../core/api.js';
import { coreErrors } from '../../core/errors.js';
import { idParam, oneOfParam, textParam, wholeParam } from '../../core/params.js';
import type { Actor } from './actions.js';
import { BULK_ACTIONS, type BulkAction } from './bulk.js';
import { MAX_PRIORITY } from './descriptor.js';
import type { RmsService } from './index.js';
import { JOB_SORTS, parseJobFilter, stepByName, type JobFilter } from './jobQuery.js';
import type { GroupKey } from './triage.js';

const DAY_MS = 86_400_000;

/** A priority from a query string, a form or a JSON body; its range is checked where it is used (validPriority). */
export const priorityParam = (value: unknown, what = 'priority') => wholeParam(value, what, -MAX_PRIORITY);

export const sortParam = (value: unknown) => oneOfParam(value, 'sort', JOB_SORTS);

/** A job filter from a query string (or a bulk body's `filter`); `step` is a step's id, or its name with `workflow`. */
export async function jobFilterOf(rms: RmsService, q: Record<string, unknown>): Promise<JobFilter> {
  const f = parseJobFilter(q);
  const step = q.step;
  if (step !== undefined && step !== '') {
    if (/^\d+$/.test(String(step))) f.stepid = Number(step);
    else if (f.workflowid === undefined) throw coreErrors.badRequest('step by name needs workflow too (or give the step id)');
    else f.stepid = await stepByName(rms.ops.jobs.db, f.workflowid, String(step));
  }
  return f;
}

/** A bulk action named by a form or a body. */
export function bulkActionOf(value: unknown): BulkAction {
  if (!BULK_ACTIONS.includes(value as BulkAction)) throw coreErrors.badRequest(`action must be one of ${BULK_ACTIONS.join(', ')}; got ${JSON.stringify(value)}`);
  return value as BulkAction;
}

/** The jobs of Change jobs priority: a list, or ids separated by commas (a form's checkboxes send one or several). */
export function jobIdsOf(value: unknown): number[] {
  const raw = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
  if (!raw) throw coreErrors.badRequest('ids (the jobs to change) is missing: a list of job ids');
  return raw.map((v, i) => idParam(typeof v === 'string' ? v.trim() : v, `ids[${i}]`));
}

/** The span of a triage: `from`, `to` (exclusive) as the job filter reads times; today (UTC) by default. */
export function triageSpan(q: Record<string, unknown>, now: number): { from: number; to: number } {
  const f = parseJobFilter({ finishedFrom: q.from, finishedTo: q.to });
  const from = f.finishedFrom ?? now - (now % DAY_MS);
  return { from, to: f.finishedTo ?? Math.max(now + 1, from + DAY_MS) };
}

/** A triage group as "retry the group" names it (a form's hidden fields or a JSON body). */
export function groupKeyOf(b: Record<string, unknown>): GroupKey {
  const f = parseJobFilter({ finishedFrom: b.from, finishedTo: b.to });
  if (f.finishedFrom === undefined || f.finishedTo === undefined) throw coreErrors.badRequest('from and to (the range the triage group was found in) are missing');
  return { from: f.finishedFrom, to: f.finishedTo, pattern: String(b.pattern ?? ''), tasktype: String(b.tasktype ?? ''), nodeid: wholeParam(b.node, 'node', 1) ?? null };
}

/** The grid's query: a workflow descriptor's `name` (undefined when not given), how many workflows (`n`), older than `before`. */
export function gridQuery(q: Record<string, unknown>): { name?: string; n?: number; before?: number } {
  return { name: textParam(q.name, 'name', 64), n: wholeParam(q.n, 'n', 1), before: wholeParam(q.before, 'before', 1) };
}

/** The job query's filter: the query string of GET /jobs/query, or a bulk action's `filter`. */
const filterQuery = z.object({
  status: param('one or more job states, comma-separated'),
  workflow: param('a workflow id'),
  step: param('a step id, or its name with workflow'),
  tasktype: param('a task type'),
  pool: param('a pool'),
  node: param('a node id'),
  reason: param('a piece of the failure reason, any case'),
  exitCode: param("a program's exit code"),
  createdFrom: param('created at or after (Unix ms or ISO 8601)'),
  createdTo: param('created before'),
  finishedFrom: param('finished at or after'),
  finishedTo: param('finished before'),
});

export const BulkBody = z.object({
  action: z.enum(BULK_ACTIONS, { error: (iss) => `action must be one of ${BULK_ACTIONS.join(', ')}; got ${JSON.stringify(iss.input)}` }),
  filter: z.record(z.string(), z.unknown(), { error: "filter (the job query's filter, as an object) is missing" }).describe(`the job query's filter, as GET /jobs/query takes it: ${Object.keys(filterQuery.shape).join(', ')}`),
  priority: z.number().int().optional().describe('the new priority, for action priority'),
  reason: Reason,
});

export const JobsPriorityBody = z.object({
  ids: z.union([z.array(z.union([z.number().int(), z.string()])), z.string()], { error: 'ids (the jobs to change) is missing: a list of job ids' }).describe('the jobs: a list of ids (or ids separated by commas), at most 1 000'),
  priority: z.number({ error: missing('priority is missing') }).int().describe('higher runs first (-1000 to 1000)'),
  reason: Reason,
});

const Time = z.union([z.number().int(), z.string()]);
export const TriageRetryBody = z.object({
  from: Time.describe('the start of the range the group was found in (Unix ms or ISO 8601)'),
  to: Time.describe('its end, exclusive'),
  pattern: z.string().optional().describe("the group's normalised reason"),
  tasktype: z.string().optional().describe("the group's task type"),
  node: z.number().int().nullable().optional().describe("the group's node id; null for none"),
  reason: Reason,
});

/**
 * The Workflow Manager's operations under /api/rms: the job query (`GET /jobs/query`, `GET
 * /jobs/count`) and bulk actions on it (`POST /jobs/bulk`), Change jobs priority on a
 * selection (`POST /jobs/priority`), failure triage (`GET /triage`, `POST /triage/retry`), why
 * a job is not running (`GET /jobs/:id/why`), the grid (`GET /grid`) and a workflow's graph
 * (`GET /workflows/:id/graph`, `?format=svg`). Filters are the query string of the page that
 * shows them, so that every view is a bookmark; bulk bodies carry the same filter as `filter`.
 */
export function opsApi(rms: RmsService, actor: (req: Request, res: Response) => Actor): Router {
  const api = Router();
  const now = () => Date.now();
  const filterOf = (q: Record<string, unknown>) => jobFilterOf(rms, q);

  route(api, 'get', '/jobs/query', {
    summary: 'A page of the jobs a filter matches, through one plan (docs/console.md)',
    query: filterQuery.extend({ sort: param(`one of ${JOB_SORTS.join(', ')}`), after: param('the next of the page before'), limit: param('at most 500') }),
  }, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const after = typeof q.after === 'string' && q.after !== '' ? q.after : undefined;
    res.json(await rms.ops.jobs.page(await filterOf(q), { sort: sortParam(q.sort), after, limit: wholeParam(q.limit, 'limit'), now: now() }));
  });
  route(api, 'get', '/jobs/count', { summary: 'How many jobs a filter matches', query: filterQuery }, async (req, res) => {
    res.json(await rms.ops.jobs.count(await filterOf(req.query as Record<string, unknown>), now()));
  });
  route(api, 'post', '/jobs/bulk', { summary: 'A bulk action: resume, retry, cancel or re-prioritise every job a filter matches', body: BulkBody, returns: 'how many matched and changed' }, async (req, res) => {
    const b = req.body;
    res.json(await rms.ops.bulk.run(b.action, await filterOf(b.filter), actor(req, res), { priority: b.priority }));
  });
  route(api, 'post', '/jobs/priority', { summary: 'Change jobs priority: a selection of jobs', body: JobsPriorityBody, returns: 'how many changed' }, async (req, res) => {
    res.json(await rms.ops.bulk.prioritise(jobIdsOf(req.body.ids), req.body.priority, actor(req, res)));
  });
  route(api, 'get', '/triage', {
    summary: 'Failure triage: the failed jobs of a span grouped by reason, task type and node',
    query: z.object({ from: param('the start (Unix ms or ISO 8601); today (UTC) by default'), to: param('the end, exclusive') }),
  }, async (req, res) => {
    const at = now();
    const { from, to } = triageSpan(req.query as Record<string, unknown>, at);
    res.json(await rms.ops.triage.groups(from, to, at));
  });
  route(api, 'post', '/triage/retry', { summary: 'Retry a triage group: a bulk retry of its failed jobs', body: TriageRetryBody, returns: 'how many matched and changed' }, async (req, res) => {
    res.json(await rms.ops.triage.retry(groupKeyOf(req.body), actor(req, res)));
  });
  route(api, 'get', '/jobs/:id/why', { summary: 'Why is this job not running? The facts that hold it back', params: { id: 'the job id' } }, async (req, res) => {
    res.json(await rms.ops.explain.why(idParam(req.params.id, 'id')));
  });
  route(api, 'get', '/grid', {
    summary: 'The grid: the last n workflows of a descriptor × their steps',
    query: z.object({ name: param('the workflow descriptor (required)'), n: param('how many workflows, at most 200'), before: param('the id of the last workflow of the page before') }),
  }, async (req, res) => {
    const g = gridQuery(req.query as Record<string, unknown>);
    if (g.name === undefined) throw coreErrors.badRequest('name (the workflow descriptor) is missing');
    res.json(await rms.ops.grid(g.name, g));
  });
  route(api, 'get', '/workflows/:id/graph', {
    summary: "A workflow's steps as a graph, laid out (JSON, or the drawing with format=svg)",
    params: { id: 'the workflow id' },
    query: z.object({ format: param('svg for the drawing') }),
  }, async (req, res) => {
    const graph = await rms.ops.graph(idParam(req.params.id, 'id'));
    if (req.query.format === 'svg') res.type('image/svg+xml').send(rms.ops.svg(graph));
    else res.json(graph);
  });
  return api;
}
