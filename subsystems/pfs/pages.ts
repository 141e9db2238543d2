import { Router, type Request } from 'express';
import { z } from 'zod';
import { actorOf, type Actor } from '../../core/actor.js';
import { param, route } from '../../core/api.js';
import type { Db } from '../../core/db.js';
import { limitParam, queryString, textParam, wholeParam } from '../../core/params.js';
import { numberOrNull } from '../../core/query.js';
import type { RmsService } from '../rms/index.js';
import type { SmasService } from '../smas/index.js';
import { pfsErrors } from './errors.js';
import type { PoolState } from './index.js';
import type { JobLogStore } from './logStore.js';
import { ACTIVE, bytesOf, latestAttempt, lineWindow, searchLog } from './logView.js';
import { listLogFiles } from './sql/logFiles.js';
import { listNodes } from './sql/nodes.js';

/** The Node Monitor shows the processes that beat within this time: those that died lately too. */
const RECENT_MS = 24 * 3600 * 1000;
/** A page of the job log: 64 KiB by default, 1 MiB at most. */
const WINDOW_BYTES = 64 * 1024;
const MAX_WINDOW_BYTES = 1024 * 1024;
/** The default view of a job's log: its last lines. */
const TAIL_LINES = 200;
/** What one search request reads of a log at most: the next page of matches goes on from where it stopped. */
const SEARCH_BUDGET_BYTES = 16 * 1024 * 1024;
const PAGE = 50;

export interface PagesDeps {
  db: Db;
  store: JobLogStore;
  rms: RmsService;
  smas: SmasService;
  pools(): Promise<PoolState[]>;
  /** Drains or opens a pool, audited with the actor's reason. */
  setPool(name: string, state: 'OPEN' | 'DRAINED', who: Actor): Promise<void>;
  /** Places this process offers to the `local` pool. */
  localPlaces(): number;
  now(): number;
}

/** One row of the DPCT's Node Monitor table: NAME, STATUS, DATE. */
export interface MonitorRow {
  kind: 'coordinator' | 'pool' | 'node';
  name: string;
  status: string;
  /** The last heartbeat (a coordinator, a node), or the pool's last change; null when none. */
  date: number | null;
  detail: string | null;
}

/**
 * The PFS console: the Node Monitor (the DPCT's table of coordinators, pools and nodes, pool
 * occupancy, queue depth by priority), the Logs table, and a job's log by attempt — each a
 * page under /pfs and its JSON twin under /api/pfs.
 */
export interface NodeMonitor {
  rows: MonitorRow[];
  pools: { name: string; state: string; running: number; places: number | null; ready: number }[];
  queue: { pool: string; priority: number; ready: number }[];
}

export function pfsConsole(d: PagesDeps): { pages: Router; api: Router; nodeMonitor(): Promise<NodeMonitor> } {
  async function nodeMonitor(): Promise<NodeMonitor> {
    const [processes, pools, nodes, queue, held] = await Promise.all([
      d.smas.processes(d.now() - RECENT_MS),
      d.pools(),
      listNodes(d.db.knex, {}) as Promise<Record<string, unknown>[]>,
      d.rms.overview.queue(),
      d.rms.overview.held(),
    ]);
    // The local pool is OPEN until an operator first drains it: it has no row before.
    const byName = new Map<string, { name: string; state: string; changed: number | null; reason: string | null }>([['local', { name: 'local', state: 'OPEN', changed: null, reason: null }]]);
    for (const p of pools) byName.set(p.name, { name: p.name, state: p.state, changed: p.changed, reason: p.reason });
    for (const name of [...queue.map((q) => q.pool), ...held.keys()]) if (!byName.has(name)) byName.set(name, { name, state: 'OPEN', changed: null, reason: null });
    const ready = new Map<string, number>();
    for (const q of queue) ready.set(q.pool, (ready.get(q.pool) ?? 0) + q.ready);
    const poolList = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    const rows: MonitorRow[] = [
      ...processes.map((p) => ({ kind: 'coordinator' as const, name: p.id, status: p.state, date: p.heartbeat, detail: `${p.hostname} pid ${p.pid}, version ${p.version}${p.stopped !== null ? ', stopped' : ''}` })),
      ...poolList.map((p) => ({ kind: 'pool' as const, name: `pool ${p.name}`, status: p.state, date: p.changed, detail: p.reason })),
      ...nodes.map((n) => ({ kind: 'node' as const, name: String(n.name), status: String(n.state), date: numberOrNull(n.heartbeat), detail: (n.detail as string | null) ?? null })),
    ];
    return {
      rows,
      pools: poolList.map((p) => ({ name: p.name, state: p.state, running: held.get(p.name) ?? 0, places: p.name === 'local' ? d.localPlaces() : null, ready: ready.get(p.name) ?? 0 })),
      queue,
    };
  }

  function logFilter(req: Request) {
    return { before: wholeParam(req.query.before, 'before', 1), workflowid: wholeParam(req.query.workflow, 'workflow', 1), jobid: wholeParam(req.query.job, 'job', 1) };
  }

  async function logFiles(f: ReturnType<typeof logFilter>, limit: number) {
    const rows = (await listLogFiles(d.db.knex, { before: f.before ?? null, limit, workflowid: f.workflowid ?? null, jobid: f.jobid ?? null })) as Record<string, unknown>[];
    return rows.map((r) => ({
      ...r,
      id: Number(r.id),
      jobid: numberOrNull(r.jobid),
      attempt: numberOrNull(r.attempt),
      workflowid: numberOrNull(r.workflowid),
      maxbackupnumber: Number(r.maxbackupnumber),
      numberofbackup: Number(r.numberofbackup),
      bytes: Number(r.bytes),
      created: Number(r.created),
      updated: Number(r.updated),
    }));
  }

  /** A job, its log's attempts, the one asked for (its current or last by default) and that attempt's extents. Only ids come from the request. */
  async function jobLog(req: Request) {
    const jobid = wholeParam(req.params.id, 'job id', 1)!;
    const job = await d.rms.reads.job(jobid);
    const attempts = await d.store.attempts(jobid, Number(job.workflowid));
    const attempt = wholeParam(req.query.attempt, 'attempt', 1) ?? latestAttempt(job, attempts);
    const extents = await d.store.extents(jobid, attempt);
    const running = ACTIVE.has(String(job.status)) && Number(job.attempts) + 1 === attempt;
    return { jobid, job, attempts, attempt, extents, running };
  }

  function searchQuery(req: Request) {
    return { text: textParam(req.query.q, 'q', 500), from: wholeParam(req.query.from, 'from') ?? 0, limit: limitParam(req.query.limit, 100, 1000) };
  }

  const api = Router();
  route(api, 'get', '/nodes', { summary: 'Node Monitor: coordinators, pools and nodes, pool occupancy, queue depth by priority' }, async (_req, res) => {
    res.json(await nodeMonitor());
  });
  route(api, 'get', '/logs', {
    summary: 'Logs: the log files newest first',
    query: z.object({ workflow: param('a workflow id'), job: param('a job id'), before: param('the id of the last row of the page before'), limit: param('at most 500') }),
    returns: '{files}',
  }, async (req, res) => {
    res.json({ files: await logFiles(logFilter(req), limitParam(req.query.limit)) });
  });
  route(api, 'get', '/jobs/:id/log/search', {
    summary: "Search an attempt's log on the server",
    params: { id: 'the job id' },
    query: z.object({ q: param('the text to find (required)'), attempt: param('the attempt; the latest by default'), from: param('the byte to go on from'), limit: param('at most 1000 matches') }),
  }, async (req, res) => {
    const l = await jobLog(req);
    const s = searchQuery(req);
    if (!s.text) throw pfsErrors.logQuery('q (the text to find) is missing');
    res.json({ jobid: l.jobid, attempt: l.attempt, bytes: bytesOf(l.extents), ...(await searchLog(d.store, l.extents, s.text, { from: s.from, limit: s.limit, budget: SEARCH_BUDGET_BYTES })) });
  });

  const pages = Router();
  pages.get('/nodes', async (req, res) => {
    res.render('pfs/nodes', { title: 'PFS Node Monitor', ...(await nodeMonitor()), done: textParam(req.query.done, 'done', 500) });
  });
  for (const [action, state] of [['drain', 'DRAINED'], ['open', 'OPEN']] as const) {
    pages.post(`/pools/:name/${action}`, async (req, res) => {
      const name = textParam(req.params.name, 'pool', 32)!;
      await d.setPool(name, state, actorOf(req, res));
      res.redirect(303, (res.locals.url as (p: string) => string)(`/pfs/nodes${queryString({ done: `pool ${name} ${state}` })}`));
    });
  }
  pages.get('/logs', async (req, res) => {
    const f = logFilter(req);
    const files = await logFiles(f, PAGE);
    const filters = { workflow: f.workflowid, job: f.jobid };
    const next = files.length === PAGE ? `/pfs/logs${queryString({ ...filters, before: files[files.length - 1].id })}` : undefined;
    res.render('pfs/logs', { title: 'Logs', files, filters, next });
  });
  pages.get('/jobs/:id/log', async (req, res) => {
    const l = await jobLog(req);
    const total = bytesOf(l.extents);
    const s = searchQuery(req);
    const base = { attempt: l.attempt };
    const link = (q: Record<string, string | number | undefined>) => `/pfs/jobs/${l.jobid}/log${queryString({ ...base, ...q })}`;
    let view;
    if (s.text) {
      const found = await searchLog(d.store, l.extents, s.text, { from: s.from, limit: PAGE, budget: SEARCH_BUDGET_BYTES });
      view = { kind: 'search' as const, q: s.text, matches: found.matches, next: found.next === undefined ? undefined : link({ q: s.text, from: found.next }) };
    } else {
      const length = Math.min(wholeParam(req.query.length, 'length', 1) ?? WINDOW_BYTES, MAX_WINDOW_BYTES);
      const offset = wholeParam(req.query.offset, 'offset');
      const from = offset ?? Math.max(await d.store.tailOffset(l.extents, TAIL_LINES), total - length);
      const w = await lineWindow(d.store, l.extents, from, length);
      const len = (n: number) => (n === WINDOW_BYTES ? undefined : n);
      // The part before ends where this one begins, even where it would begin before the start.
      const before = Math.max(0, w.from - length);
      view = {
        kind: 'window' as const,
        ...w,
        earlier: w.from > 0 ? link({ offset: before, length: len(w.from - before) }) : undefined,
        later: w.to < total ? link({ offset: w.to, length: len(length) }) : undefined,
        start: link({ offset: 0 }),
        end: link({}),
        // Follow the log while the attempt runs, from where this page ends, if it shows the end.
        follow: l.running && w.to === total ? `/api/pfs/jobs/${l.jobid}/log?attempt=${l.attempt}` : undefined,
      };
    }
    res.render('pfs/job-log', {
      title: `Log of job ${l.jobid}`,
      path: '/pfs/logs',
      job: l.job,
      jobid: l.jobid,
      attempts: l.attempts,
      attempt: l.attempt,
      running: l.running,
      total,
      view,
      download: `/api/pfs/jobs/${l.jobid}/log?attempt=${l.attempt}&download=1`,
    });
  });
  return { pages, api, nodeMonitor };
}
