import { Router, type Request } from 'express';
import { z } from 'zod';
import { actorOf as actor } from '../../core/actor.js';
import { missing, param, Reason, ReasonBody, route } from '../../core/api.js';
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

const Priority = z.number().int().describe('higher runs first (-1000 to 1000)');

export const StartWorkflowBody = z.object({
  name: z.string({ error: missing('name (the workflow to start) is missing') }).describe('the workflow descriptor to start'),
  params: z.record(z.string(), z.unknown(), { error: 'params must be a JSON object' }).optional().describe("the workflow's parameters"),
  priority: Priority.optional(),
  reason: Reason,
});

export const BackfillBody = z.object({
  name: z.string({ error: missing('name (the workflow to backfill) is missing') }).describe('the workflow descriptor to backfill'),
  from: z.string().describe('the first day, YYYY-MM-DD (UTC)'),
  to: z.string().describe('the last day, YYYY-MM-DD (UTC), included'),
  reason: Reason,
});

export const ReprocessBody = z.object({ failedOnly: z.boolean().optional().describe('only what did not succeed'), reason: Reason });

export const JobPriorityBody = z.object({ priority: z.number({ error: missing('priority is missing') }).int().describe('higher runs first (-1000 to 1000)'), reason: Reason });

const workflowId = { id: 'the workflow id' };
const jobId = { id: 'the job id' };
const paging = { before: param('the id of the last workflow of the page before'), limit: param('"How many": at most 500, 50 by default') };

/** The REST API of run management: everything the console and `dpc` can do. */
export function rmsApi(rms: RmsService): Router {
  const api = Router();
  // Before /jobs/:id: its paths (/jobs/query, /jobs/count, …) would otherwise read as job ids.
  api.use(opsApi(rms, actor));
  route(api, 'get', '/descriptors', { summary: 'Workflow descriptors: versions, triggers, next cron firing', returns: '{descriptors}' }, async (_req, res) => {
    res.json({ descriptors: await rms.descriptors() });
  });
  route(api, 'get', '/workflows', {
    summary: 'Recent and History: workflows newest first',
    query: z.object({ ...paging, name: param('the workflow descriptor'), status: param('RUNNING, PAUSED, SUCCESS, FAILED or CANCELLED'), day: param('a day of creation, YYYY-MM-DD (UTC)'), createdFrom: param('created at or after (Unix ms or ISO 8601)'), createdTo: param('created before (Unix ms or ISO 8601)') }),
    returns: '{workflows}',
  }, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    res.json({ workflows: await rms.reads.listWorkflows({ ...workflowQuery(q), before: wholeParam(q.before, 'before', 1), limit: limitParam(q.limit) }) });
  });
  // Before /workflows/:id. Recent and History's "How many": a count on the index the list walks.
  route(api, 'get', '/workflows/count', {
    summary: "Recent and History's How many: the workflows a filter matches",
    query: z.object({ name: param('the workflow descriptor'), status: param('RUNNING, PAUSED, SUCCESS, FAILED or CANCELLED'), day: param('a day of creation, YYYY-MM-DD (UTC)'), createdFrom: param('created at or after (Unix ms or ISO 8601)'), createdTo: param('created before (Unix ms or ISO 8601)') }),
    returns: '{count, exact}: exact false when more than 10 000 match',
  }, async (req, res) => {
    res.json(await rms.reads.countWorkflows(workflowQuery(req.query as Record<string, unknown>)));
  });
  route(api, 'post', '/workflows', { summary: 'Start a workflow by hand', body: StartWorkflowBody, status: 201, returns: '{id, created, jobs}; 200 and created false when it existed' }, async (req, res) => {
    const b = req.body;
    const started = await rms.start(b.name, { params: b.params, priority: b.priority }, actor(req, res));
    res.status(started.created ? 201 : 200).json(started);
  });
  route(api, 'post', '/backfill', { summary: 'Backfill: one workflow per day of a range', body: BackfillBody, status: 201, returns: '{workflows}: one {id, created, jobs} per day' }, async (req, res) => {
    const b = req.body;
    res.status(201).json({ workflows: await rms.backfill(b.name, b.from, b.to, actor(req, res)) });
  });
  route(api, 'get', '/workflows/:id', { summary: 'One workflow with its steps and their jobs by state', params: workflowId }, async (req, res) => {
    res.json(await rms.reads.workflow(id(req)));
  });
  route(api, 'get', '/workflows/:id/jobs', {
    summary: "A workflow's jobs by id",
    params: workflowId,
    query: z.object({ after: param('the id of the last job of the page before'), limit: param('at most 500'), status: param('a job state') }),
    returns: '{jobs}',
  }, async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    res.json({ jobs: await rms.reads.jobs(id(req), { after: wholeParam(q.after, 'after'), limit: wholeParam(q.limit, 'limit'), status: q.status || undefined }) });
  });
  for (const action of ['pause', 'resume', 'cancel'] as const) {
    route(api, 'post', `/workflows/:id/${action}`, { summary: `${action[0].toUpperCase()}${action.slice(1)} a workflow`, params: workflowId, body: ReasonBody, returns: 'the workflow' }, async (req, res) => {
      await rms.actions[action](id(req), actor(req, res));
      res.json(await rms.reads.workflow(id(req)));
    });
  }
  route(api, 'post', '/workflows/:id/resume-failed', { summary: "Resume failed jobs: a workflow's FAILED jobs back to READY", params: workflowId, body: ReasonBody, returns: '{resumed}: how many' }, async (req, res) => {
    res.json({ resumed: await rms.actions.resumeFailed(id(req), actor(req, res)) });
  });
  route(api, 'post', '/workflows/:id/reprocess', { summary: 'Reprocess a finished workflow under a new solution', params: workflowId, body: ReprocessBody, status: 201, returns: 'the new workflow: {id, created, jobs}' }, async (req, res) => {
    res.status(201).json(await rms.reprocess(id(req), { failedOnly: req.body.failedOnly === true }, actor(req, res)));
  });
  route(api, 'get', '/jobs/failed', {
    summary: 'Jobs failed since a time, latest first',
    query: z.object({ since: param('Unix ms; the start of today (UTC) by default'), beforeEnd: param('the end time of the last job of the page before'), beforeId: param('its id'), limit: param('at most 500') }),
    returns: '{jobs}',
  }, async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    const since = wholeParam(q.since, 'since') ?? Date.parse(new Date().toISOString().slice(0, 10));
    res.json({ jobs: await rms.reads.failedSince(since, { beforeEnd: wholeParam(q.beforeEnd, 'beforeEnd'), beforeId: wholeParam(q.beforeId, 'beforeId'), limit: wholeParam(q.limit, 'limit') }) });
  });
  route(api, 'get', '/jobs/:id', { summary: 'One job', params: jobId }, async (req, res) => {
    res.json(await rms.reads.job(id(req)));
  });
  for (const [action, method] of [['retry', 'retryJob'], ['cancel', 'cancelJob']] as const) {
    route(api, 'post', `/jobs/:id/${action}`, { summary: `${action === 'retry' ? 'Retry' : 'Cancel'} a job`, params: jobId, body: ReasonBody, returns: 'the job' }, async (req, res) => {
      await rms.actions[method](id(req), actor(req, res));
      res.json(await rms.reads.job(id(req)));
    });
  }
  route(api, 'post', '/jobs/:id/priority', { summary: "Change a job's priority", params: jobId, body: JobPriorityBody, returns: 'the job' }, async (req, res) => {
    await rms.actions.setPriority(id(req), req.body.priority, actor(req, res));
    res.json(await rms.reads.job(id(req)));
  });
  route(api, 'get', '/queue/:pool', {
    summary: "A pool's READY jobs in claim order",
    params: { pool: 'the pool' },
    query: z.object({ afterPriority: param('the priority of the last job of the page before'), afterId: param('its id'), limit: param('at most 500') }),
    returns: '{jobs}',
  }, async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    res.json({ jobs: await rms.reads.queue(req.params.pool, { afterPriority: priorityParam(q.afterPriority, 'afterPriority'), afterId: wholeParam(q.afterId, 'afterId'), limit: wholeParam(q.limit, 'limit') }) });
  });
  route(api, 'get', '/totals', { summary: 'Jobs by state, in all' }, async (_req, res) => {
    res.json(await rms.reads.totals());
  });
  route(api, 'get', '/solutions/:id', { summary: "A solution with its provenance", params: { id: 'the solution id' } }, async (req, res) => {
    res.json(await rms.reads.solution(id(req)));
  });
  return api;
}
