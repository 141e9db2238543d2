import { Router, type Request, type Response } from 'express';
import { actorOf, type Actor } from '../../../core/actor.js';
import { coreErrors } from '../../../core/errors.js';
import { limitParam, oneOfParam, queryString, textParam, wholeParam } from '../../../core/params.js';
import type { Params } from '../descriptor.js';
import type { RmsService } from '../index.js';
import { rmsErrors } from '../errors.js';
import { workflowQuery } from '../routes.js';
import { isFinished, JOB_STATUSES, WORKFLOW_STATUSES, type JobStatus } from '../work.js';

const PAGE = 50;
/** The jobs a "Why is this job not running?" is asked for: those that wait for something. */
const WAITING: readonly string[] = ['WAITING', 'READY', 'RETRY_WAIT'];
/** What a form may ask of a workflow; each is an audited action with its reason. */
const WORKFLOW_ACTIONS = ['pause', 'resume', 'cancel', 'resume-failed', 'reprocess', 'priority'] as const;
/** What the selection of the jobs table, or a job's page, may ask of jobs. */
const JOB_ACTIONS = ['priority', 'retry', 'cancel'] as const;

function idParam(value: unknown, what: string): number {
  const id = wholeParam(value, what, 1);
  if (id === undefined) throw coreErrors.badRequest(`${what} is missing`);
  return id;
}

const form = (req: Request) => (req.body ?? {}) as Record<string, unknown>;

/** The actor of a form: a page's action always asks for a reason, even where the API would supply one. */
function actorWithReason(req: Request, res: Response, action: string): Actor {
  const who = actorOf(req, res);
  if (!who.reason?.trim()) throw coreErrors.reasonRequired(action);
  return { ...who, reason: who.reason.trim() };
}

function priorityOf(value: unknown): number {
  const p = wholeParam(typeof value === 'string' ? value.trim() : value, 'priority', -1_000_000);
  if (p === undefined) throw coreErrors.badRequest('priority is missing');
  return p;
}

/**
 * A trigger's parameters as an operator types them: a JSON object, or `key=value` lines
 * (a value that reads as JSON — a number, true, a list — is taken as that, anything else as text).
 */
export function parseParams(text: unknown): Params {
  const s = typeof text === 'string' ? text.trim() : '';
  if (s === '') return {};
  if (s.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch (err) {
      throw rmsErrors.badParams(`parameters are not valid JSON: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw rmsErrors.badParams('parameters must be a JSON object');
    return parsed as Params;
  }
  const params: Params = {};
  for (const [i, line] of s.split(/\r?\n/).entries()) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    if (key === '') throw rmsErrors.badParams(`parameters line ${i + 1}: write key=value; got ${JSON.stringify(line)}`);
    const raw = line.slice(eq + 1).trim();
    try {
      params[key] = JSON.parse(raw) as unknown;
    } catch {
      params[key] = raw;
    }
  }
  return params;
}

/**
 * The Workflow Manager's pages under /rms: the Workflow Descriptor table (trigger, backfill),
 * workflows Recent and History with "How many", one workflow (its graph, per-step counts,
 * jobs, and its actions), one job (attempts, dependencies, why it is not running). Each
 * reads what its JSON twin under /api/rms answers; each action is a POST form with a reason,
 * audited, and goes back to the page it came from (POST/redirect/GET) with `done` saying what it did.
 */
export function workflowPages(rms: RmsService): Router {
  const pages = Router();
  const section = { path: '/rms/workflows' };
  // The message rides in the URL: kept short enough for it (and for `done`'s own limit).
  const back = (res: Response, path: string, done: string) =>
    res.redirect(303, (res.locals.url as (p: string) => string)(`${path}${path.includes('?') ? '&' : '?'}${new URLSearchParams({ done: done.length > 300 ? `${done.slice(0, 299)}…` : done })}`));
  const done = (req: Request) => textParam(req.query.done, 'done', 500);

  pages.get('/descriptors', async (req, res) => {
    res.render('rms/descriptors', { title: 'Workflow Descriptor', ...section, descriptors: await rms.descriptors(), done: done(req) });
  });
  pages.post('/descriptors/:name/trigger', async (req, res) => {
    const name = textParam(req.params.name, 'name', 64)!;
    const f = form(req);
    const priority = f.priority === undefined || f.priority === '' ? undefined : priorityOf(f.priority);
    const started = await rms.start(name, { params: parseParams(f.params), priority }, actorWithReason(req, res, 'workflow.manual'));
    back(res, `/rms/workflows/${started.id}`, `workflow ${name} ${started.id} started with ${started.jobs} job(s)`);
  });
  pages.post('/backfill', async (req, res) => {
    const f = form(req);
    const name = textParam(f.name, 'name', 64);
    if (name === undefined) throw coreErrors.badRequest('name (the workflow descriptor to backfill) is missing');
    const who = actorWithReason(req, res, 'workflow.backfill');
    const started = await rms.backfill(name, String(f.from ?? ''), String(f.to ?? ''), who);
    back(res, `/rms/workflows${queryString({ name })}`, `backfill of ${name}: ${started.filter((s) => s.created).length} workflow(s) started, from ${String(f.from)} to ${String(f.to)}`);
  });

  pages.get('/workflows', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const filter = workflowQuery(q);
    const limit = limitParam(q.limit);
    const before = wholeParam(q.before, 'before', 1);
    const [workflows, count] = await Promise.all([rms.reads.listWorkflows({ ...filter, before, limit }), rms.reads.countWorkflows(filter)]);
    const shown = { name: filter.name, status: filter.status, day: textParam(q.day, 'day', 10), limit: limit === PAGE ? undefined : limit };
    const next = workflows.length === limit ? `/rms/workflows${queryString({ ...shown, before: workflows[workflows.length - 1].id })}` : undefined;
    // The live refresh reads the same page from the twin while any of its workflows has not ended.
    const live = workflows.some((w) => !isFinished(w.status)) ? `/api/rms/workflows${queryString({ ...shown, limit, before })}` : undefined;
    res.render('rms/workflows', {
      title: shown.day ? `Workflows of ${shown.day}` : 'Workflows',
      ...section,
      view: shown.day ? 'history' : 'recent',
      workflows,
      count: count.count,
      exact: count.exact,
      filters: shown,
      limit,
      statuses: WORKFLOW_STATUSES,
      next,
      live,
      done: done(req),
    });
  });

  pages.get('/workflows/:id', async (req, res) => {
    const id = idParam(req.params.id, 'workflow id');
    const q = req.query as Record<string, unknown>;
    const status = oneOfParam(q.status, 'status', JOB_STATUSES);
    const after = wholeParam(q.after, 'after', 0);
    const wf = await rms.reads.workflow(id);
    const jobs = await rms.reads.jobs(id, { after, limit: PAGE, status });
    const stepName = new Map(wf.steps.map((s) => [s.id, s.name]));
    const next = jobs.length === PAGE ? `/rms/workflows/${id}${queryString({ status, after: Number(jobs[jobs.length - 1].id) })}` : undefined;
    res.render('rms/workflow', {
      title: `Workflow ${wf.name} ${id}`,
      ...section,
      wf,
      statuses: JOB_STATUSES,
      jobs: jobs.map((j) => ({ ...j, step: stepName.get(Number(j.stepid)) ?? '' })),
      jobStatus: status ?? '',
      next,
      first: after !== undefined ? `/rms/workflows/${id}${queryString({ status })}` : undefined,
      live: isFinished(wf.status) ? undefined : `/api/rms/workflows/${id}`,
      done: done(req),
    });
  });
  // The jobs table's selection (its checkboxes, `job`, belong to this form); before /workflows/:id/:action.
  pages.post('/workflows/:id/jobs', async (req, res) => {
    const id = idParam(req.params.id, 'workflow id');
    const f = form(req);
    const action = oneOfParam(f.action, 'action', JOB_ACTIONS);
    if (action === undefined) throw coreErrors.badRequest(`action (${JOB_ACTIONS.join(', ')}) is missing`);
    const ids = (Array.isArray(f.job) ? f.job : f.job === undefined ? [] : [f.job]).map((v, i) => idParam(v, `job[${i}]`));
    if (ids.length === 0) throw coreErrors.badRequest('no job selected: tick the jobs in the table first');
    const who = actorWithReason(req, res, action === 'priority' ? 'jobs.priority' : `job.${action}`);
    const here = `/rms/workflows/${id}`;
    if (action === 'priority') {
      const r = await rms.ops.bulk.prioritise(ids, priorityOf(f.priority), who);
      return back(res, here, `priority ${String(f.priority).trim()} set on ${r.changed} job(s)${r.skipped.length ? `; ${r.skipped.length} not waiting: ${r.skipped.join(', ')}` : ''}`);
    }
    for (const jobid of ids) await (action === 'retry' ? rms.actions.retryJob(jobid, who) : rms.actions.cancelJob(jobid, who));
    back(res, here, `${ids.length} job(s): ${action} done`);
  });

  pages.post('/workflows/:id/:action', async (req, res) => {
    const id = idParam(req.params.id, 'workflow id');
    const action = oneOfParam(req.params.action, 'action', WORKFLOW_ACTIONS)!;
    const f = form(req);
    const here = `/rms/workflows/${id}`;
    const who = actorWithReason(req, res, `workflow.${action}`);
    switch (action) {
      case 'pause':
      case 'resume':
      case 'cancel':
        await rms.actions[action](id, who);
        return back(res, here, `workflow ${id}: ${action} done`);
      case 'resume-failed':
        return back(res, here, `workflow ${id}: ${await rms.actions.resumeFailed(id, who)} failed job(s) resumed`);
      case 'reprocess': {
        const scope = oneOfParam(f.scope, 'scope', ['failed', 'all'] as const) ?? 'failed';
        const started = await rms.reprocess(id, { failedOnly: scope === 'failed' }, who);
        return back(res, `/rms/workflows/${started.id}`, `workflow ${started.id} reprocesses ${scope === 'failed' ? 'what did not succeed in' : 'all of'} workflow ${id}`);
      }
      case 'priority': {
        const r = await rms.ops.bulk.run('priority', { workflowid: id }, who, { priority: priorityOf(f.priority) });
        return back(res, here, `workflow ${id}: priority ${String(f.priority).trim()} set on ${r.changed} waiting job(s)`);
      }
    }
  });
  pages.get('/jobs/:id', async (req, res) => {
    const id = idParam(req.params.id, 'job id');
    const job = await rms.reads.job(id);
    const status = String(job.status) as JobStatus;
    const workflowid = Number(job.workflowid);
    const [wf, graph, why] = await Promise.all([
      rms.reads.workflow(workflowid),
      rms.ops.graph(workflowid),
      WAITING.includes(status) ? rms.ops.explain.why(id) : undefined,
    ]);
    const step = wf.steps.find((s) => s.id === Number(job.stepid));
    const upstream = graph.edges.filter((e) => e.to === Number(job.stepid)).map((e) => graph.nodes.find((n) => n.id === e.from)!);
    // Every attempt used, and the one under way: each has its own log on the Logs page.
    const attempts = Number(job.attempts) + (status === 'CLAIMED' || status === 'RUNNING' ? 1 : 0);
    res.render('rms/job', {
      title: `Job ${id}`,
      ...section,
      job,
      wf,
      step,
      upstream,
      attempts: Array.from({ length: attempts }, (_, i) => i + 1),
      why,
      waiting: WAITING.includes(status),
      done: done(req),
    });
  });
  pages.post('/jobs/:id/:action', async (req, res) => {
    const id = idParam(req.params.id, 'job id');
    const action = oneOfParam(req.params.action, 'action', JOB_ACTIONS)!;
    const who = actorWithReason(req, res, `job.${action}`);
    if (action === 'priority') await rms.actions.setPriority(id, priorityOf(form(req).priority), who);
    else await (action === 'retry' ? rms.actions.retryJob(id, who) : rms.actions.cancelJob(id, who));
    back(res, `/rms/jobs/${id}`, `job ${id}: ${action} done`);
  });
  return pages;
}
