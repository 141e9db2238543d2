import { Router, type Request, type Response } from 'express';
import { coreErrors } from '../../core/errors.js';
import type { Actor } from './actions.js';
import { BULK_ACTIONS, type BulkAction } from './bulk.js';
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

  api.get('/jobs/query', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const after = typeof q.after === 'string' && q.after !== '' ? q.after : undefined;
    res.json(await rms.ops.jobs.page(await filterOf(q), { sort: sortOf(q.sort), after, limit: whole(q.limit, 'limit'), now: now() }));
  });
  api.get('/jobs/count', async (req, res) => {
    res.json(await rms.ops.jobs.count(await filterOf(req.query as Record<string, unknown>), now()));
  });
  api.post('/jobs/bulk', async (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    if (!BULK_ACTIONS.includes(b.action as BulkAction)) throw coreErrors.badRequest(`action must be one of ${BULK_ACTIONS.join(', ')}; got ${JSON.stringify(b.action)}`);
    const filter = b.filter;
    if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw coreErrors.badRequest('filter (the job query\'s filter, as an object) is missing');
    res.json(await rms.ops.bulk.run(b.action as BulkAction, await filterOf(filter as Record<string, unknown>), actor(req, res), { priority: whole(b.priority, 'priority') }));
  });
  api.post('/jobs/priority', async (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const raw = Array.isArray(b.ids) ? b.ids : typeof b.ids === 'string' ? b.ids.split(',') : undefined;
    if (!raw) throw coreErrors.badRequest('ids (the jobs to change) is missing: a list of job ids');
    const ids = raw.map((v, i) => whole(typeof v === 'string' ? v.trim() : v, `ids[${i}]`)!);
    const priority = whole(b.priority, 'priority');
    if (priority === undefined) throw coreErrors.badRequest('priority is missing');
    res.json(await rms.ops.bulk.prioritise(ids, priority, actor(req, res)));
  });
  api.get('/triage', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const f = parseJobFilter({ finishedFrom: q.from, finishedTo: q.to });
    const at = now();
    const from = f.finishedFrom ?? today(at);
    res.json(await rms.ops.triage.groups(from, f.finishedTo ?? Math.max(at + 1, from + DAY_MS), at));
  });
  api.post('/triage/retry', async (req, res) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const f = parseJobFilter({ finishedFrom: b.from, finishedTo: b.to });
    if (f.finishedFrom === undefined || f.finishedTo === undefined) throw coreErrors.badRequest('from and to (the range the triage group was found in) are missing');
    const nodeid = whole(b.node, 'node') ?? null;
    res.json(await rms.ops.triage.retry({ from: f.finishedFrom, to: f.finishedTo, pattern: String(b.pattern ?? ''), tasktype: String(b.tasktype ?? ''), nodeid }, actor(req, res)));
  });
  api.get('/jobs/:id/why', async (req, res) => {
    const id = whole(req.params.id, 'id');
    if (id === undefined || id < 1) throw coreErrors.badRequest(`id must be a positive whole number; got ${JSON.stringify(req.params.id)}`);
    res.json(await rms.ops.explain.why(id));
  });
  api.get('/grid', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    if (typeof q.name !== 'string' || q.name === '') throw coreErrors.badRequest('name (the workflow descriptor) is missing');
    res.json(await rms.ops.grid(q.name, { n: whole(q.n, 'n'), before: whole(q.before, 'before') }));
  });
  api.get('/workflows/:id/graph', async (req, res) => {
    const id = whole(req.params.id, 'id');
    if (id === undefined || id < 1) throw coreErrors.badRequest(`id must be a positive whole number; got ${JSON.stringify(req.params.id)}`);
    const graph = await rms.ops.graph(id);
    if (req.query.format === 'svg') res.type('image/svg+xml').send(rms.ops.svg(graph));
    else res.json(graph);
  });
  return api;
}
