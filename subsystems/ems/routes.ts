import { Router, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { actorOf } from '../../core/actor.js';
import { param, Reason, route } from '../../core/api.js';
import { limitParam, oneOfParam, queryString, textParam, timeParam, wholeParam } from '../../core/params.js';
import { SUBSYSTEM_NAMES } from '../../core/subsystem.js';
import { ALERT_STATES, type Alerts, type AlertState } from './alerts.js';
import { SEVERITIES, type LogQuery, type MissionLog, type Severity } from './missionLog.js';

/**
 * The Mission log's filters from a query string, the same for the page and its JSON twin:
 * severity, subsystem, workflow, a time range (`from` inclusive, `to` exclusive, UTC) and
 * `q`, text found anywhere in the message.
 */
function logQuery(query: Record<string, unknown>): LogQuery {
  return {
    before: wholeParam(query.before, 'before'),
    limit: limitParam(query.limit),
    severity: oneOfParam(query.severity, 'severity', SEVERITIES),
    subsystem: oneOfParam(query.subsystem, 'subsystem', SUBSYSTEM_NAMES),
    workflowid: wholeParam(query.workflow, 'workflow', 1),
    from: timeParam(query.from, 'from'),
    to: timeParam(query.to, 'to'),
    text: textParam(query.q, 'q'),
  };
}

/** Records an action in the audit (SMAS's, which is made after EMS: its service reaches EMS through this). */
export type Audit = (trx: Knex.Transaction, entry: { username: string; address?: string; reason?: string; action: string; target?: string }) => Promise<void>;

/** An operator's entry; its severity and text are checked by the mission log, for the page's form too. */
export const MissionLogEntryBody = z.object({
  severity: z.string().optional().describe(`one of ${SEVERITIES.join(', ')}; INFO by default`),
  message: z.string().optional().describe('the entry'),
  reason: Reason,
});

/** An operator's entry, audited with who added it and from where. */
function addEntry(missionLog: MissionLog, audit: Audit, req: Request, res: Response): Promise<number> {
  // Express 5 leaves the body undefined when no parser took it (no content type).
  const body = (req.body ?? {}) as { severity?: Severity; message?: string };
  const who = actorOf(req, res);
  return missionLog.append({ severity: body.severity ?? 'INFO', subsystem: 'ems', message: String(body.message ?? ''), username: who.username }, (trx, id) =>
    audit(trx, { username: who.username, address: who.address, action: 'missionlog.add', target: `mission log ${id}` }),
  );
}

/** All alerts with `state=all`; unacknowledged ones just raised (OPEN) by default. */
function alertState(value: unknown): AlertState | undefined {
  if (value === 'all') return undefined;
  return oneOfParam(value, 'state', ALERT_STATES) ?? 'OPEN';
}

/** GET/POST /api/ems/mission-log, GET /api/ems/alerts. */
export function emsApi(missionLog: MissionLog, alerts: Alerts, audit: Audit): Router {
  const api = Router();
  route(api, 'get', '/mission-log', {
    summary: 'The mission log newest first',
    query: z.object({
      severity: param(`one of ${SEVERITIES.join(', ')}`),
      subsystem: param(`one of ${SUBSYSTEM_NAMES.join(', ')}`),
      workflow: param('a workflow id'),
      from: param('at or after (UTC YYYY-MM-DD[THH:MM[:SS]] or Unix ms)'),
      to: param('before'),
      q: param('text anywhere in the message, any case'),
      before: param('the id of the last entry of the page before'),
      limit: param('at most 500'),
    }),
    returns: '{entries}',
  }, async (req, res) => {
    res.json({ entries: await missionLog.list(logQuery(req.query)) });
  });
  route(api, 'post', '/mission-log', { summary: "Add an operator's entry to the mission log", body: MissionLogEntryBody, status: 201, returns: '{id}' }, async (req, res) => {
    res.status(201).json({ id: await addEntry(missionLog, audit, req, res) });
  });
  route(api, 'get', '/alerts', {
    summary: 'Alerts newest first',
    query: z.object({ state: param('OPEN by default; all for every state'), before: param('the id of the last alert of the page before'), limit: param('at most 500') }),
    returns: '{alerts}',
  }, async (req, res) => {
    res.json({ alerts: await alerts.list({ before: wholeParam(req.query.before, 'before'), limit: limitParam(req.query.limit), state: alertState(req.query.state) }) });
  });
  return api;
}

const PAGE = 50;
const day = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString().slice(0, 19));

/** The Mission log page (newest first, paged by key, filtered from the query string, with a form to add an entry) and the Alerts page. */
export function emsPages(missionLog: MissionLog, alerts: Alerts, audit: Audit): Router {
  const pages = Router();
  pages.get('/mission-log', async (req, res) => {
    const o = logQuery(req.query);
    const entries = await missionLog.list({ ...o, limit: PAGE });
    const filters = { severity: o.severity, subsystem: o.subsystem, workflow: o.workflowid, from: day(o.from), to: day(o.to), q: o.text };
    const next = entries.length === PAGE ? `/ems/mission-log${queryString({ ...filters, before: entries[entries.length - 1].id })}` : undefined;
    res.render('ems/mission-log', { title: 'Mission log', entries, next, filters, severities: SEVERITIES, subsystems: SUBSYSTEM_NAMES });
  });
  pages.post('/mission-log', async (req, res) => {
    await addEntry(missionLog, audit, req, res);
    res.redirect(303, (res.locals.url as (path: string) => string)('/ems/mission-log'));
  });
  pages.get('/alerts', async (req, res) => {
    const state = alertState(req.query.state);
    const list = await alerts.list({ before: wholeParam(req.query.before, 'before'), limit: PAGE, state });
    const next = list.length === PAGE ? `/ems/alerts${queryString({ state: state ?? 'all', before: list[list.length - 1].id })}` : undefined;
    res.render('ems/alerts', { title: 'Alerts', alerts: list, next, state: state ?? 'all', states: ALERT_STATES });
  });
  return pages;
}
