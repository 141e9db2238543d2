import { Router, type Request, type Response } from 'express';
import { actorOf } from '../../../core/actor.js';
import { coreErrors, DpcError } from '../../../core/errors.js';
import { limitParam, oneOfParam, queryString, textParam, wholeParam } from '../../../core/params.js';
import { numberOrNull } from '../../../core/query.js';
import { BULK_ACTIONS, type BulkAction } from '../bulk.js';
import { STATE_COLOURS } from '../grid.js';
import type { RmsService } from '../index.js';
import { JOB_FILTER_FIELDS, sortsOf, type JobSort } from '../jobQuery.js';
import { bulkActionOf, gridQuery, groupKeyOf, jobFilterOf, jobIdsOf, priorityParam, sortParam, triageSpan } from '../opsRoutes.js';
import { JOB_STATUSES } from '../work.js';

const PAGE = 50;

/** What each bulk action does, as the form offers it. */
const BULK_LABELS: Record<BulkAction, string> = {
  resume: 'Resume failed jobs (FAILED → READY)',
  retry: 'Retry (FAILED or CANCELLED → READY, attempts anew)',
  cancel: 'Cancel (WAITING, READY or RETRY_WAIT → CANCELLED)',
  priority: 'Change priority to',
};

/** The outcome an action's redirect carries back to its page (POST/redirect/GET), and what the page says of it. */
const DONE = ['priority', 'triage-retry', ...BULK_ACTIONS.map((a) => `bulk-${a}` as const)] as const;
type Done = (typeof DONE)[number];

type Values = Record<string, string>;

/**
 * The filter of the job query as its query string holds it: the filter fields given, states
 * joined by commas (checkboxes send one `status` each). The same text is the page's URL, its
 * links' and its forms' `filter`: what a bulk action acts on is what the page shows.
 */
function filterValues(q: Record<string, unknown>): Values {
  const values: Values = {};
  for (const k of JOB_FILTER_FIELDS) {
    const v = q[k];
    const text = Array.isArray(v) ? v.map(String).join(',') : typeof v === 'string' ? v.trim() : undefined;
    if (text) values[k] = text;
  }
  return values;
}

/** A form's hidden `filter` (the query string of the page it came from) read back. */
const formFilter = (value: unknown): Values => filterValues(Object.fromEntries(new URLSearchParams(typeof value === 'string' ? value : '')));

const bodyOf = (req: Request) => (req.body ?? {}) as Record<string, unknown>;

/** Back to the page, with what the action did (303: the browser asks for it with GET). */
function back(res: Response, path: string, values: Record<string, string | number | undefined>): void {
  res.redirect(303, (res.locals.url as (p: string) => string)(`${path}${queryString(values)}`));
}

function outcomeOf(q: Record<string, unknown>): string | undefined {
  const done = oneOfParam(q.done, 'done', DONE) as Done | undefined;
  if (done === undefined) return undefined;
  const n = (k: string) => wholeParam(q[k], k) ?? 0;
  const inexact = q.exact === '0' ? ' (at least)' : '';
  if (done === 'priority') return `Change jobs priority: ${n('changed')} job(s) changed${n('skipped') > 0 ? `; ${n('skipped')} left as they were (not waiting)` : ''}.`;
  const what = done === 'triage-retry' ? 'Retry the group' : `Bulk ${done.slice('bulk-'.length)}`;
  const skipped = n('skipped') > 0 ? `; ${n('skipped')} left as they were (their workflow's state does not allow it)` : '';
  return `${what}: ${n('changed')} job(s) changed of ${n('matched')}${inexact} matching${skipped}.`;
}

/** A job row as the page shows it: ids and times as numbers whatever the driver gives. */
function jobRow(r: Record<string, unknown>, steps: Map<number, string>) {
  const stepid = Number(r.stepid);
  return {
    id: Number(r.id),
    status: String(r.status),
    workflowid: Number(r.workflowid),
    stepid,
    step: steps.get(stepid) ?? String(stepid),
    tasktype: String(r.tasktype),
    solutionid: numberOrNull(r.solutionid),
    dataspec: (r.dataspec as string | null) ?? '',
    priority: Number(r.priority),
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    pool: String(r.pool ?? ''),
    nodeid: numberOrNull(r.nodeid),
    created: numberOrNull(r.created),
    starttime: numberOrNull(r.starttime),
    endtime: numberOrNull(r.endtime),
    reason: (r.reason as string | null) ?? '',
  };
}

type Direction = 'ascending' | 'descending';

/**
 * The column headers a page may sort by: only the orders its plan serves from an index
 * (JOB_SORTS, sortsOf). A header links to its other order when it is the current one, else
 * to its first; `current` says which way the page is sorted by it (aria-sort).
 */
function sortLinks(sort: JobSort, offered: JobSort[], link: (sort: JobSort) => string) {
  const column = (orders: [JobSort, Direction][]) => {
    const can = orders.filter(([s]) => offered.includes(s));
    if (can.length === 0) return undefined;
    const next = can.find(([s]) => s !== sort) ?? can[0];
    return { href: link(next[0]), current: can.find(([s]) => s === sort)?.[1] };
  };
  return {
    id: column([['id', 'ascending'], ['-id', 'descending']]),
    finished: column([['-finished', 'descending'], ['finished', 'ascending']]),
    // Claim order: the highest priority first.
    priority: column([['priority', 'descending']]),
  };
}

/** A day (UTC) as a date field shows it. */
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * A cell of the grid: its classes (the step's state; `failing` when a step not FAILED has
 * failed jobs), its title (the jobs by state, from the per-step counts) and the job query of
 * the step it links to. Made here whole, so that a page of 25 × 900 cells renders three values a cell.
 */
function gridCell(workflowid: number, step: string, cell: { status: string; counts: Record<string, number> } | undefined) {
  if (!cell) return null;
  const counts = Object.entries(cell.counts).filter(([, n]) => n > 0);
  const total = counts.reduce((a, [, n]) => a + n, 0);
  return {
    classes: cell.status !== 'FAILED' && (cell.counts.FAILED ?? 0) > 0 ? `${cell.status} failing` : cell.status,
    title: `${step}: ${cell.status}; ${total} job(s)${counts.length ? `: ${counts.map(([s, n]) => `${n} ${s}`).join(', ')}` : ''}`,
    query: `?workflow=${workflowid}&step=${encodeURIComponent(step)}`,
  };
}

/**
 * The Workflow Manager's operations pages under /rms: the job query with bulk actions and
 * Change jobs priority (`/rms/jobs`), failure triage (`/rms/triage`) and the grid
 * (`/rms/grid`). Each reads and acts through the same modules as its JSON twin under
 * /api/rms (opsRoutes.ts); each action asks for a reason and comes back with POST/redirect/GET.
 */
export function operationsPages(rms: RmsService): Router {
  const pages = Router();

  pages.get('/jobs', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const values = filterValues(q);
    const sort = sortParam(q.sort);
    const limit = limitParam(q.limit, PAGE);
    const after = textParam(q.after, 'after', 64);
    const shown = { sort, limit: limit === PAGE ? undefined : limit };
    const view = {
      title: 'Jobs',
      values,
      limit,
      filter: queryString(values).slice(1),
      statuses: JOB_STATUSES,
      chosen: new Set((values.status ?? '').split(',').map((s) => s.trim().toUpperCase())),
      actions: BULK_ACTIONS.map((a) => ({ value: a, label: BULK_LABELS[a] })),
      outcome: outcomeOf(q),
      first: after === undefined ? undefined : `/rms/jobs${queryString({ ...values, ...shown })}`,
    };
    if (Object.keys(values).length === 0) return void res.render('rms/jobs', { ...view, result: undefined, problem: undefined });
    try {
      const f = await jobFilterOf(rms, values);
      const now = Date.now();
      const page = await rms.ops.jobs.page(f, { sort, after, limit, now });
      // What the page shows: in claim order, the pool's READY jobs.
      const count = await rms.ops.jobs.count(page.plan === 'queue' ? { ...f, status: ['READY'] } : f, now);
      const steps = await rms.ops.jobs.stepNames(page.jobs.map((j) => Number(j.stepid)));
      const link = (s: JobSort) => `/rms/jobs${queryString({ ...values, ...shown, sort: s })}`;
      res.render('rms/jobs', {
        ...view,
        problem: undefined,
        result: {
          count,
          plan: page.plan,
          sort: page.sort,
          partial: page.partial,
          jobs: page.jobs.map((r) => jobRow(r, steps)),
          heads: sortLinks(page.sort, sortsOf(page.plan, f), link),
          next: page.next === null ? undefined : `/rms/jobs${queryString({ ...values, ...shown, after: page.next })}`,
        },
      });
    } catch (err) {
      // A filter the query cannot take is the operator's to correct, on the page that shows the form.
      if (!(err instanceof DpcError) || err.status !== 400) throw err;
      res.status(400).render('rms/jobs', { ...view, result: undefined, problem: err.message });
    }
  });

  pages.post('/jobs/bulk', async (req, res) => {
    const b = bodyOf(req);
    const action = bulkActionOf(b.action);
    const values = formFilter(b.filter);
    const r = await rms.ops.bulk.run(action, await jobFilterOf(rms, values), actorOf(req, res), { priority: action === 'priority' ? priorityParam(b.priority) : undefined });
    back(res, '/rms/jobs', { ...values, done: `bulk-${action}`, matched: r.matched, exact: r.exact ? undefined : 0, changed: r.changed, skipped: r.skipped });
  });

  pages.post('/jobs/priority', async (req, res) => {
    const b = bodyOf(req);
    const priority = priorityParam(b.priority);
    if (priority === undefined) throw coreErrors.badRequest('priority is missing: the new priority of the jobs checked');
    const r = await rms.ops.bulk.prioritise(jobIdsOf(b.ids), priority, actorOf(req, res));
    back(res, '/rms/jobs', { ...formFilter(b.filter), done: 'priority', changed: r.changed, skipped: r.skipped.length });
  });

  pages.get('/triage', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const now = Date.now();
    const span = triageSpan(q, now);
    const triage = await rms.ops.triage.groups(span.from, span.to, now);
    const given = { from: textParam(q.from, 'from', 30), to: textParam(q.to, 'to', 30) };
    const today = now - (now % 86_400_000);
    res.render('rms/triage', {
      title: 'Failure triage',
      triage,
      view: queryString(given).slice(1),
      fields: { from: dayOf(span.from), to: given.to === undefined ? '' : dayOf(span.to) },
      ranges: [
        { label: 'Today', href: '/rms/triage' },
        { label: 'Yesterday', href: `/rms/triage${queryString({ from: dayOf(today - 86_400_000), to: dayOf(today) })}` },
        { label: 'Last 7 days', href: `/rms/triage${queryString({ from: dayOf(today - 6 * 86_400_000) })}` },
      ],
      outcome: outcomeOf(q),
    });
  });

  pages.post('/triage/retry', async (req, res) => {
    const b = bodyOf(req);
    const r = await rms.ops.triage.retry(groupKeyOf(b), actorOf(req, res));
    const view = new URLSearchParams(typeof b.view === 'string' ? b.view : '');
    back(res, '/rms/triage', { from: view.get('from') ?? undefined, to: view.get('to') ?? undefined, done: 'triage-retry', matched: r.matched, changed: r.changed, skipped: r.skipped });
  });

  pages.get('/grid', async (req, res) => {
    const g = gridQuery(req.query as Record<string, unknown>);
    const n = g.n ?? 25;
    const legend = Object.keys(STATE_COLOURS);
    if (g.name === undefined) return void res.render('rms/grid', { title: 'Grid', name: '', n, legend, grid: undefined });
    const grid = await rms.ops.grid(g.name, { n, before: g.before });
    res.render('rms/grid', {
      title: `Grid of ${g.name}`,
      name: g.name,
      n,
      legend,
      grid: {
        steps: grid.steps,
        rows: grid.workflows.map((w) => ({ ...w, cells: grid.steps.map((s) => gridCell(w.id, s, w.cells[s])) })),
        older: grid.next === null ? undefined : `/rms/grid${queryString({ name: g.name, n, before: grid.next })}`,
        newest: g.before === undefined ? undefined : `/rms/grid${queryString({ name: g.name, n })}`,
      },
    });
  });

  return pages;
}
