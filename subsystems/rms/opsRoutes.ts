import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { missing, param, Reason, route } from '../../core/api.js';
import { coreErrors } from '../../core/errors.js';
import type { Actor } from './actions.js';
import { BULK_ACTIONS } from './bulk.js';
import type { RmsService } from './index.js';
import { JOB_SORTS, parseJobFilter, stepByName, type JobFilter, type JobSort } from './jobQuery.js';

const DAY_MS = 86_400_000;

function whole(value: unknown, what: string): number | undefined {
  if (value === undefined || value === '' || value === null) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw coreErrors.badRequest(`${what} must be a whole number; got ${JSON.stringify(value)}`);
  return n;
}

function sortOf(value: unknown): JobSort | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(JOB_SORTS as readonly unknown[]).includes(value)) throw coreErrors.badRequest(`sort must be one of ${JOB_SORTS.join(', ')}; got ${JSON.stringify(value)}`);
  return value as JobSort;
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

/** The start of today (UTC), when a range is not given: "today's failures". */
const today = (now: number) => now - (now % DAY_MS);

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

  async function filterOf(q: Record<string, unknown>): Promise<JobFilter> {
    const f = parseJobFilter(q);
    const step = q.step;
    if (step !== undefined && step !== '') {
      if (/^\d+$/.test(String(step))) f.stepid = Number(step);
      else if (f.workflowid === undefined) throw coreErrors.badRequest('step by name needs workflow too (or give the step id)');
      else f.stepid = await stepByName(rms.ops.jobs.db, f.workflowid, String(step));
    }
    return f;
  }

  route(api, 'get', '/jobs/query', {
    summary: 'A page of the jobs a filter matches, through one plan (docs/console.md)',
    query: filterQuery.extend({ sort: param(`one of ${JOB_SORTS.join(', ')}`), after: param('the next of the page before'), limit: param('at most 500') }),
  }, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const after = typeof q.after === 'string' && q.after !== '' ? q.after : undefined;
    res.json(await rms.ops.jobs.page(await filterOf(q), { sort: sortOf(q.sort), after, limit: whole(q.limit, 'limit'), now: now() }));
  });
  route(api, 'get', '/jobs/count', { summary: 'How many jobs a filter matches', query: filterQuery }, async (req, res) => {
    res.json(await rms.ops.jobs.count(await filterOf(req.query as Record<string, unknown>), now()));
  });
  route(api, 'post', '/jobs/bulk', { summary: 'A bulk action: resume, retry, cancel or re-prioritise every job a filter matches', body: BulkBody, returns: 'how many matched and changed' }, async (req, res) => {
    const b = req.body;
    res.json(await rms.ops.bulk.run(b.action, await filterOf(b.filter), actor(req, res), { priority: b.priority }));
  });
  route(api, 'post', '/jobs/priority', { summary: 'Change jobs priority: a selection of jobs', body: JobsPriorityBody, returns: 'how many changed' }, async (req, res) => {
    const b = req.body;
    const raw = Array.isArray(b.ids) ? b.ids : b.ids.split(',');
    const ids = raw.map((v, i) => whole(typeof v === 'string' ? v.trim() : v, `ids[${i}]`)!);
    res.json(await rms.ops.bulk.prioritise(ids, b.priority, actor(req, res)));
  });
  route(api, 'get', '/triage', {
    summary: 'Failure triage: the failed jobs of a span grouped by reason, task type and node',
    query: z.object({ from: param('the start (Unix ms or ISO 8601); today (UTC) by default'), to: param('the end, exclusive') }),
  }, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const f = parseJobFilter({ finishedFrom: q.from, finishedTo: q.to });
    const at = now();
    const from = f.finishedFrom ?? today(at);
    res.json(await rms.ops.triage.groups(from, f.finishedTo ?? Math.max(at + 1, from + DAY_MS), at));
  });
  route(api, 'post', '/triage/retry', { summary: 'Retry a triage group: a bulk retry of its failed jobs', body: TriageRetryBody, returns: 'how many matched and changed' }, async (req, res) => {
    const b = req.body;
    const f = parseJobFilter({ finishedFrom: b.from, finishedTo: b.to });
    if (f.finishedFrom === undefined || f.finishedTo === undefined) throw coreErrors.badRequest('from and to (the range the triage group was found in) are missing');
    res.json(await rms.ops.triage.retry({ from: f.finishedFrom, to: f.finishedTo, pattern: b.pattern ?? '', tasktype: b.tasktype ?? '', nodeid: b.node ?? null }, actor(req, res)));
  });
  route(api, 'get', '/jobs/:id/why', { summary: 'Why is this job not running? The facts that hold it back', params: { id: 'the job id' } }, async (req, res) => {
    const id = whole(req.params.id, 'id');
    if (id === undefined || id < 1) throw coreErrors.badRequest(`id must be a positive whole number; got ${JSON.stringify(req.params.id)}`);
    res.json(await rms.ops.explain.why(id));
  });
  route(api, 'get', '/grid', {
    summary: 'The grid: the last n workflows of a descriptor × their steps',
    query: z.object({ name: param('the workflow descriptor (required)'), n: param('how many workflows, at most 200'), before: param('the id of the last workflow of the page before') }),
  }, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    if (typeof q.name !== 'string' || q.name === '') throw coreErrors.badRequest('name (the workflow descriptor) is missing');
    res.json(await rms.ops.grid(q.name, { n: whole(q.n, 'n'), before: whole(q.before, 'before') }));
  });
  route(api, 'get', '/workflows/:id/graph', {
    summary: "A workflow's steps as a graph, laid out (JSON, or the drawing with format=svg)",
    params: { id: 'the workflow id' },
    query: z.object({ format: param('svg for the drawing') }),
  }, async (req, res) => {
    const id = whole(req.params.id, 'id');
    if (id === undefined || id < 1) throw coreErrors.badRequest(`id must be a positive whole number; got ${JSON.stringify(req.params.id)}`);
    const graph = await rms.ops.graph(id);
    if (req.query.format === 'svg') res.type('image/svg+xml').send(rms.ops.svg(graph));
    else res.json(graph);
  });
  return api;
}
