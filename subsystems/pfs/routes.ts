import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { actorOf, type Actor } from '../../core/actor.js';
import { param, ReasonBody, route } from '../../core/api.js';
import type { RmsService } from '../rms/index.js';
import { pfsErrors } from './errors.js';
import type { PoolState } from './index.js';
import type { JobLogStore } from './logStore.js';
import { ACTIVE, CHUNK_BYTES, latestAttempt } from './logView.js';

/** How often `follow` looks for a running job's new lines. */
const FOLLOW_POLL_MS = 250;

function whole(value: unknown, what: string, min: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw pfsErrors.logQuery(`${what} must be a whole number of at least ${min}; got ${JSON.stringify(value)}`);
  return n;
}

export interface PfsRoutes {
  pools(): Promise<PoolState[]>;
  setPool(name: string, state: 'OPEN' | 'DRAINED', who: Actor): Promise<void>;
  store: JobLogStore;
  rms: RmsService;
}

/**
 * PFS's REST API: pools, and jobs' logs (the console's Logs page) —
 * `GET /jobs/:id/logs` lists a job's attempts and its DPCT log-file rows;
 * `GET /jobs/:id/log` is an attempt's log as plain text: `attempt` (default: the latest),
 * `offset` and `length` (a byte range), `tail=N` (the last N lines), `follow=1` (the log so
 * far, then its new lines as they are recorded, until the attempt ends), `download=1` (as a
 * file).
 */
export function pfsApi(p: PfsRoutes): Router {
  const api = Router();
  route(api, 'get', '/pools', { summary: 'The pools with their state', returns: '{pools}' }, async (_req, res) => {
    res.json({ pools: await p.pools() });
  });
  for (const [action, state] of [['drain', 'DRAINED'], ['open', 'OPEN']] as const) {
    route(api, 'post', `/pools/:name/${action}`, { summary: `${action === 'drain' ? 'Drain' : 'Open'} a pool`, params: { name: 'the pool' }, body: ReasonBody, returns: '{pools}' }, async (req, res) => {
      await p.setPool(req.params.name, state, actorOf(req, res));
      res.json({ pools: await p.pools() });
    });
  }

  route(api, 'get', '/jobs/:id/logs', { summary: "A job's log attempts and its log-file rows", params: { id: 'the job id' } }, async (req, res) => {
    const job = await jobOf(req);
    const jobid = Number(job.id);
    res.json({ jobid, attempts: await p.store.attempts(jobid, Number(job.workflowid)), files: await p.store.files(jobid) });
  });

  route(api, 'get', '/jobs/:id/log', {
    summary: "An attempt's log as text: a byte range, the last lines, followed while it runs, or as a file",
    params: { id: 'the job id' },
    query: z.object({
      attempt: param('the attempt; the latest by default'),
      offset: param('the first byte'),
      length: param('how many bytes'),
      tail: param('the last N lines (not with offset)'),
      follow: param('1: the log so far, then its new lines until the attempt ends'),
      download: param('1: as a file'),
    }),
    produces: 'text/plain',
    returns: 'the text; X-DPC-Log-Attempt, X-DPC-Log-Bytes, X-DPC-Log-Offset and X-DPC-Log-Active headers',
  }, async (req, res) => {
    const job = await jobOf(req);
    const jobid = Number(job.id);
    const q = req.query;
    const attempt = whole(q.attempt, 'attempt', 1) ?? latestAttempt(job, await p.store.attempts(jobid, Number(job.workflowid)));
    const follow = q.follow === '1' || q.follow === 'true';
    const tail = whole(q.tail, 'tail', 0);
    const offset = whole(q.offset, 'offset', 0);
    const length = whole(q.length, 'length', 0);
    if (tail !== undefined && offset !== undefined) throw pfsErrors.logQuery('give tail or offset, not both');
    const stillActive = async () => {
      const now = await p.rms.reads.job(jobid);
      return ACTIVE.has(String(now.status)) && Number(now.attempts) + 1 === attempt;
    };
    const extents = await p.store.extents(jobid, attempt);
    const active = await stillActive();
    if (extents.length === 0 && !follow && !active) throw pfsErrors.logNotFound(jobid, attempt);
    const total = extents.reduce((n, e) => n + e.bytes, 0);
    const from = tail !== undefined ? await p.store.tailOffset(extents, tail) : Math.min(offset ?? 0, total);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('X-DPC-Log-Attempt', String(attempt));
    res.setHeader('X-DPC-Log-Bytes', String(total));
    res.setHeader('X-DPC-Log-Offset', String(from));
    // Whether the attempt may still write: the Logs page's follow stops polling once it may not.
    res.setHeader('X-DPC-Log-Active', active ? '1' : '0');
    if (q.download === '1' || q.download === 'true') {
      // The name is made of ids only: nothing of the request's text reaches the header.
      res.setHeader('Content-Disposition', `attachment; filename="${jobid}.${attempt}.log"`);
      const end = length === undefined ? total : Math.min(from + length, total);
      // A log of many megabytes goes out part by part, never held whole.
      for (let at = from; at < end && !res.destroyed; at += CHUNK_BYTES) {
        if (!res.write(await p.store.read(extents, at, Math.min(CHUNK_BYTES, end - at)))) {
          await new Promise((r) => {
            res.once('drain', r);
            res.once('close', r);
          });
        }
      }
      res.end();
      return;
    }
    if (!follow) {
      res.send(await p.store.read(extents, from, length));
      return;
    }
    await followLog(req, res, p.store, { jobid, attempt, from, stillActive });
  });

  async function jobOf(req: Request): Promise<Record<string, unknown>> {
    const id = whole(req.params.id, 'job id', 1)!;
    return p.rms.reads.job(id);
  }

  return api;
}

/**
 * The log from `from`, then each new extent as the dispatcher that runs the job records it,
 * wherever that is (segments live in the shared directory), until the attempt ends: checked
 * before each look, so the look after its end, which its outcome's transaction made complete,
 * is the last.
 */
async function followLog(
  req: Request,
  res: Response,
  store: JobLogStore,
  o: { jobid: number; attempt: number; from: number; stillActive: () => Promise<boolean> },
): Promise<void> {
  let closed = false;
  req.on('close', () => (closed = true));
  res.flushHeaders();
  // A log only grows: each look sends what lies past what was sent.
  let sent = o.from;
  while (!closed) {
    const active = await o.stillActive();
    const more = await store.read(await store.extents(o.jobid, o.attempt), sent);
    if (more.length > 0) {
      res.write(more);
      sent += more.length;
    }
    if (!active) break;
    await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
  }
  res.end();
}
