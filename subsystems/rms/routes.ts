import { Router, type Request } from 'express';
import { actorOf as actor } from '../../core/actor.js';
import { coreErrors } from '../../core/errors.js';
import { idParam, limitParam, oneOfParam, textParam, timeParam, wholeParam } from '../../core/params.js';
import type { RmsService } from './index.js';
import type { WorkflowQuery } from './reads.js';
import { WORKFLOW_STATUSES } from './work.js';
import { opsApi, priorityParam } from './opsRoutes.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The filter of Recent and History, the same for the page and its twin: `name`, `status`,
 * `day` (YYYY-MM-DD, UTC: History) or `createdFrom`/`createdTo` (a span, `to` exclusive).
 */
export function workflowQuery(q: Record<string, unknown>): WorkflowQuery {
  const day = textParam(q.day, 'day', 10);
  if (day !== undefined && !DAY.test(day)) throw coreErrors.badRequest(`day must be a UTC day as YYYY-MM-DD; got ${JSON.stringify(day)}`);
  const from = day === undefined ? timeParam(q.createdFrom, 'createdFrom') : timeParam(day, 'day');
  const to = day === undefined ? timeParam(q.createdTo, 'createdTo') : from! + 86_400_000;
  return { name: textParam(q.name, 'name', 64), status: oneOfParam(typeof q.status === 'string' ? q.status.toUpperCase() : q.status, 'status', WORKFLOW_STATUSES), createdFrom: from, createdTo: to };
}

const id = (req: Request, what = 'id'): number => idParam(req.params[what], what);

function body(req: Request): Record<string, unknown> {
  return (req.body ?? {}) as Record<string, unknown>;
}

/** The REST API of run management: everything the console and `dpc` can do. */
export function rmsApi(rms: RmsService): Router {
  const api = Router();
  // Before /jobs/:id: its paths (/jobs/query, /jobs/count, …) would otherwise read as job ids.
  api.use(opsApi(rms, actor));
  api.get('/descriptors', async (_req, res) => {
    res.json({ descriptors: await rms.descriptors() });
  });
  api.get('/workflows', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    res.json({ workflows: await rms.reads.listWorkflows({ ...workflowQuery(q), before: wholeParam(q.before, 'before', 1), limit: limitParam(q.limit) }) });
  });
  // Before /workflows/:id. Recent and History's "How many": a count on the index the list walks.
  api.get('/workflows/count', async (req, res) => {
    res.json({ count: await rms.reads.countWorkflows(workflowQuery(req.query as Record<string, unknown>)) });
  });
  api.post('/workflows', async (req, res) => {
    const b = body(req);
    if (typeof b.name !== 'string') throw coreErrors.badRequest('name (the workflow to start) is missing');
    if (b.params !== undefined && (b.params === null || typeof b.params !== 'object' || Array.isArray(b.params))) throw coreErrors.badRequest('params must be a JSON object');
    const started = await rms.start(b.name, { params: b.params as Record<string, unknown> | undefined, priority: priorityParam(b.priority) }, actor(req, res));
    res.status(started.created ? 201 : 200).json(started);
  });
  api.post('/backfill', async (req, res) => {
    const b = body(req);
    if (typeof b.name !== 'string') throw coreErrors.badRequest('name (the workflow to backfill) is missing');
    res.status(201).json({ workflows: await rms.backfill(b.name, String(b.from ?? ''), String(b.to ?? ''), actor(req, res)) });
  });
  api.get('/workflows/:id', async (req, res) => {
    res.json(await rms.reads.workflow(id(req)));
  });
  api.get('/workflows/:id/jobs', async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    res.json({ jobs: await rms.reads.jobs(id(req), { after: wholeParam(q.after, 'after'), limit: wholeParam(q.limit, 'limit'), status: q.status || undefined }) });
  });
  for (const action of ['pause', 'resume', 'cancel'] as const) {
    api.post(`/workflows/:id/${action}`, async (req, res) => {
      await rms.actions[action](id(req), actor(req, res));
      res.json(await rms.reads.workflow(id(req)));
    });
  }
  api.post('/workflows/:id/resume-failed', async (req, res) => {
    res.json({ resumed: await rms.actions.resumeFailed(id(req), actor(req, res)) });
  });
  api.post('/workflows/:id/reprocess', async (req, res) => {
    res.status(201).json(await rms.reprocess(id(req), { failedOnly: body(req).failedOnly === true }, actor(req, res)));
  });
  api.get('/jobs/failed', async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    const since = wholeParam(q.since, 'since') ?? Date.parse(new Date().toISOString().slice(0, 10));
    res.json({ jobs: await rms.reads.failedSince(since, { beforeEnd: wholeParam(q.beforeEnd, 'beforeEnd'), beforeId: wholeParam(q.beforeId, 'beforeId'), limit: wholeParam(q.limit, 'limit') }) });
  });
  api.get('/jobs/:id', async (req, res) => {
    res.json(await rms.reads.job(id(req)));
  });
  for (const [action, method] of [['retry', 'retryJob'], ['cancel', 'cancelJob']] as const) {
    api.post(`/jobs/:id/${action}`, async (req, res) => {
      await rms.actions[method](id(req), actor(req, res));
      res.json(await rms.reads.job(id(req)));
    });
  }
  api.post('/jobs/:id/priority', async (req, res) => {
    const priority = priorityParam(body(req).priority);
    if (priority === undefined) throw coreErrors.badRequest('priority is missing');
    await rms.actions.setPriority(id(req), priority, actor(req, res));
    res.json(await rms.reads.job(id(req)));
  });
  api.get('/queue/:pool', async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    res.json({ jobs: await rms.reads.queue(req.params.pool, { afterPriority: priorityParam(q.afterPriority, 'afterPriority'), afterId: wholeParam(q.afterId, 'afterId'), limit: wholeParam(q.limit, 'limit') }) });
  });
  api.get('/totals', async (_req, res) => {
    res.json(await rms.reads.totals());
  });
  api.get('/solutions/:id', async (req, res) => {
    res.json(await rms.reads.solution(id(req)));
  });
  return api;
}
