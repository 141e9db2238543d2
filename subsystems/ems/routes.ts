import { Router, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import { actorOf } from '../../core/actor.js';
import { coreErrors } from '../../core/errors.js';
import { SEVERITIES, type MissionLog, type Severity } from './missionLog.js';

function pageKey(value: unknown, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw coreErrors.badRequest(`${what} must be a whole number; got ${JSON.stringify(value)}`);
  return n;
}

/** A severity to filter on; one not in the list would silently match nothing. */
function severityFilter(value: unknown): Severity | undefined {
  if (value === undefined || value === '') return undefined;
  if (!SEVERITIES.includes(value as Severity)) {
    throw coreErrors.badRequest(`severity must be one of ${SEVERITIES.join(', ')}; got ${JSON.stringify(value)}`);
  }
  return value as Severity;
}

function listOptions(query: Record<string, unknown>) {
  return {
    before: pageKey(query.before, 'before'),
    limit: pageKey(query.limit, 'limit'),
    severity: severityFilter(query.severity),
  };
}

/** Records an action in the audit (SMAS's, which is made after EMS: its service reaches EMS through this). */
export type Audit = (trx: Knex.Transaction, entry: { username: string; address?: string; reason?: string; action: string; target?: string }) => Promise<void>;

/** An operator's entry, audited with who added it and from where. */
function addEntry(missionLog: MissionLog, audit: Audit, req: Request, res: Response): Promise<number> {
  // Express 5 leaves the body undefined when no parser took it (no content type).
  const body = (req.body ?? {}) as { severity?: Severity; message?: string };
  const who = actorOf(req, res);
  return missionLog.append({ severity: body.severity ?? 'INFO', subsystem: 'ems', message: String(body.message ?? ''), username: who.username }, (trx, id) =>
    audit(trx, { username: who.username, address: who.address, action: 'missionlog.add', target: `mission log ${id}` }),
  );
}

/** GET/POST /api/ems/mission-log. */
export function emsApi(missionLog: MissionLog, audit: Audit): Router {
  const api = Router();
  api.get('/mission-log', async (req, res) => {
    res.json({ entries: await missionLog.list(listOptions(req.query)) });
  });
  api.post('/mission-log', async (req, res) => {
    res.status(201).json({ id: await addEntry(missionLog, audit, req, res) });
  });
  return api;
}

/** The Mission log page: newest first, paged by key, with a form to add an entry. */
export function emsPages(missionLog: MissionLog, audit: Audit): Router {
  const pages = Router();
  pages.get('/mission-log', async (req, res) => {
    const options = listOptions(req.query);
    const entries = await missionLog.list({ ...options, limit: 50 });
    const next = entries.length === 50 ? entries[entries.length - 1].id : undefined;
    res.render('ems/mission-log', { title: 'Mission log', entries, next, severity: options.severity ?? '' });
  });
  pages.post('/mission-log', async (req, res) => {
    await addEntry(missionLog, audit, req, res);
    res.redirect(303, (res.locals.url as (path: string) => string)('/ems/mission-log'));
  });
  return pages;
}
