import { Router, type Request, type Response } from 'express';
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

  api.get('/jobs/query', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const after = typeof q.after === 'string' && q.after !== '' ? q.after : undefined;
    res.json(await rms.ops.jobs.page(await filterOf(q), { sort: sortParam(q.sort), after, limit: wholeParam(q.limit, 'limit'), now: now() }));
  });
  api.get('/jobs/count', async (req, res) => {
    res.json(await rms.ops.jobs.count(await filterOf(req.query as Record<string, unknown>), now()));
  });
  api.post('/jobs/bulk', async (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const action = bulkActionOf(b.action);
    const filter = b.filter;
    if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw coreErrors.badRequest('filter (the job query\'s filter, as an object) is missing');
    res.json(await rms.ops.bulk.run(action, await filterOf(filter as Record<string, unknown>), actor(req, res), { priority: priorityParam(b.priority) }));
  });
  api.post('/jobs/priority', async (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const ids = jobIdsOf(b.ids);
    const priority = priorityParam(b.priority);
    if (priority === undefined) throw coreErrors.badRequest('priority is missing');
    res.json(await rms.ops.bulk.prioritise(ids, priority, actor(req, res)));
  });
  api.get('/triage', async (req, res) => {
    const at = now();
    const { from, to } = triageSpan(req.query as Record<string, unknown>, at);
    res.json(await rms.ops.triage.groups(from, to, at));
  });
  api.post('/triage/retry', async (req, res) => {
    res.json(await rms.ops.triage.retry(groupKeyOf((req.body ?? {}) as Record<string, unknown>), actor(req, res)));
  });
  api.get('/jobs/:id/why', async (req, res) => {
    res.json(await rms.ops.explain.why(idParam(req.params.id, 'id')));
  });
  api.get('/grid', async (req, res) => {
    const g = gridQuery(req.query as Record<string, unknown>);
    if (g.name === undefined) throw coreErrors.badRequest('name (the workflow descriptor) is missing');
    res.json(await rms.ops.grid(g.name, g));
  });
  api.get('/workflows/:id/graph', async (req, res) => {
    const graph = await rms.ops.graph(idParam(req.params.id, 'id'));
    if (req.query.format === 'svg') res.type('image/svg+xml').send(rms.ops.svg(graph));
    else res.json(graph);
  });
  return api;
}
