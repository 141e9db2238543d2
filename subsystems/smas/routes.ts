import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Config } from '../../config/schema.js';
import { actorOf, userOf } from '../../core/actor.js';
import { param, Reason, ReasonBody, route } from '../../core/api.js';
import type { Db } from '../../core/db.js';
import type { Accounts } from './accounts.js';
import type { SmasHttp } from './auth.js';
import { smasErrors } from './errors.js';
import type { SmasService } from './index.js';
import { SERIES, type SeriesGroup } from './monitor.js';
import type { Labels, SampleStore } from './samples.js';
import { listAudit, type AuditRow } from './sql/audit.js';

type MonitorConfig = Config['smas']['monitor'];

export interface SmasRoutes {
  processId: string;
  service: SmasService;
  accounts: Accounts;
  http: SmasHttp;
  db: Db;
  /** The Monitor's series and its settings. */
  store: SampleStore;
  monitor: MonitorConfig;
}

const DAY_MS = 86_400_000;

/** The ranges the Monitor page offers, by their name in the query string. */
export const RANGES: Record<string, number> = { '1h': 3_600_000, '1d': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS, '1y': 365 * DAY_MS };
const DEFAULT_RANGE = '1d';
/** A range longer than this is refused: nothing older is kept by default. */
const MAX_SPAN_MS = 2 * 366 * DAY_MS;
const MAX_SERIES = 100;

/** A time of the Monitor's query string: Unix ms, or an ISO 8601 date-time. */
function timeOf(value: unknown, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const text = String(value);
  const t = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(t)) throw smasErrors.monitorQuery(`${what} must be Unix milliseconds or an ISO 8601 time; got ${JSON.stringify(value)}`);
  return t;
}

/** The range a request asks for: `range=1h|1d|7d|30d|1y` back from `to` (default now), or `from` and `to`. */
export function rangeOf(query: Record<string, unknown>, now: number): { name: string | undefined; from: number; to: number } {
  const to = timeOf(query.to, 'to') ?? now;
  let from = timeOf(query.from, 'from');
  let name: string | undefined;
  if (from === undefined) {
    name = query.range === undefined || query.range === '' ? DEFAULT_RANGE : String(query.range);
    const span = RANGES[name];
    if (span === undefined) throw smasErrors.monitorQuery(`range must be one of ${Object.keys(RANGES).join(', ')}; got ${JSON.stringify(query.range)}`);
    from = to - span;
  }
  if (from >= to) throw smasErrors.monitorQuery(`from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
  if (to - from > MAX_SPAN_MS) throw smasErrors.monitorQuery(`a range of at most ${MAX_SPAN_MS / DAY_MS} days; got ${Math.ceil((to - from) / DAY_MS)}`);
  return { name, from, to };
}

function seriesIds(value: unknown): number[] | undefined {
  if (value === undefined || value === '') return undefined;
  const parts = String(value).split(',');
  if (parts.length > MAX_SERIES) throw smasErrors.monitorQuery(`at most ${MAX_SERIES} series at once; got ${parts.length}`);
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isSafeInteger(n) || n < 1) throw smasErrors.monitorQuery(`series must be ids separated by commas; got ${JSON.stringify(value)}`);
    return n;
  });
}

const describe = (name: string) => SERIES[name] ?? { title: name, unit: '', group: 'other' as const };

/** The Monitor's JSON: the series with their latest values, and the asked ones' points over the range. */
/**
 * The Monitor's answers by query, each kept until the next sample is due: the samples change
 * only then, and a year of 29 series is 254 000 roll-ups to add up (seconds a view at 50 views/s
 * in the console benchmark). A range back from now ends at the last sampling time, so that one
 * interval's views are one answer.
 */
class MonitorAnswers {
  // Kept as JSON text: a year of 29 series is 116 000 numbers, 30–100 ms to write out each time.
  private readonly answers = new Map<string, { until: number; answer: Promise<string> }>();

  constructor(
    private readonly store: SampleStore,
    private readonly config: MonitorConfig,
  ) {}

  get(query: Record<string, unknown>, now: number): Promise<string> {
    const interval = this.config.intervalMs;
    const sampled = now - (now % interval);
    const key = JSON.stringify([query.range ?? null, query.from ?? null, query.to ?? null, query.series ?? null, sampled]);
    const kept = this.answers.get(key);
    if (kept && kept.until > now) return kept.answer;
    for (const [k, v] of this.answers) if (v.until <= now) this.answers.delete(k);
    const answer = monitorJson(this.store, this.config, query, query.to === undefined || query.to === '' ? sampled : now).then((a) => JSON.stringify(a));
    this.answers.set(key, { until: sampled + interval, answer });
    answer.catch(() => this.answers.delete(key));
    return answer;
  }
}

async function monitorJson(store: SampleStore, config: MonitorConfig, query: Record<string, unknown>, now: number) {
  const range = rangeOf(query, now);
  const latest = await store.latest();
  const ids = seriesIds(query.series) ?? latest.map((s) => s.id);
  const points = await store.range(ids, range.from, range.to, now - config.rawDays * DAY_MS);
  return {
    range: range.name ?? null,
    from: points.from,
    to: points.to,
    bucketMs: points.width,
    source: points.source,
    intervalMs: config.intervalMs,
    latest: latest.map((s) => ({ ...s, ...describe(s.name) })),
    series: points.series.map((s) => ({ ...s, ...describe(s.name) })),
  };
}

const PAGE = 100;
const MAX_LIMIT = 500;

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** A time filter: Unix ms, or an ISO date or date-time (UTC). */
function time(value: unknown, what: string): number | undefined {
  const t = text(value);
  if (t === undefined) return undefined;
  const ms = /^\d+$/.test(t) ? Number(t) : Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(t) || t.length <= 10 ? t : `${t}Z`);
  if (!Number.isSafeInteger(ms)) throw smasErrors.badAuditQuery(`${what} must be a date (2026-01-31), a UTC date-time (2026-01-31T08:00) or Unix ms; got ${JSON.stringify(t)}`);
  return ms;
}

export interface AuditQuery {
  user?: string;
  action?: string;
  from?: number;
  to?: number;
  before?: { created: number; id: number };
  limit: number;
}

export function auditQuery(q: Record<string, unknown>, defaultLimit: number): AuditQuery {
  const before = text(q.before);
  let key: AuditQuery['before'];
  if (before !== undefined) {
    const m = /^(\d+)\.(\d+)$/.exec(before);
    if (!m) throw smasErrors.badAuditQuery(`before must be the page key the last page gave (created.id); got ${JSON.stringify(before)}`);
    key = { created: Number(m[1]), id: Number(m[2]) };
  }
  const limit = text(q.limit) === undefined ? defaultLimit : Number(q.limit);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw smasErrors.badAuditQuery(`limit must be a whole number from 1 to ${MAX_LIMIT}; got ${JSON.stringify(q.limit)}`);
  return { user: text(q.user), action: text(q.action), from: time(q.from, 'from'), to: time(q.to, 'to'), before: key, limit };
}

async function auditPage(db: Db, q: AuditQuery): Promise<{ entries: AuditRow[]; next?: string }> {
  const rows = (await listAudit(db.knex, {
    username: q.user,
    action: q.action,
    from: q.from,
    to: q.to,
    beforeCreated: q.before?.created,
    beforeId: q.before?.id,
    limit: q.limit,
  })) as AuditRow[];
  const entries = rows.map((r) => ({ ...r, id: Number(r.id), created: Number(r.created) }));
  const last = entries.at(-1);
  return { entries, next: entries.length === q.limit && last ? `${last.created}.${last.id}` : undefined };
}

function body(req: Request): Record<string, unknown> {
  return (req.body ?? {}) as Record<string, unknown>;
}

function tokenId(req: Request): number {
  const id = Number(req.params.id);
  if (!Number.isSafeInteger(id) || id < 1) throw smasErrors.badAccount(`a token id is a positive whole number; got ${JSON.stringify(req.params.id)}`);
  return id;
}

function nameOf(req: Request): string {
  return String(req.params.name);
}

// The bodies' types; what a user name, role, password or label must be is the accounts' rule, the Users page's too.
export const SignOutBody = z.object({ everywhere: z.boolean().optional().describe("end all of the user's sessions"), reason: Reason });
export const TokenBody = z.object({ label: z.string().optional().describe('what the token is for, 1 to 100 characters'), reason: Reason });
export const AddUserBody = z.object({
  username: z.string().optional().describe('2 to 64 of a-z 0-9 . _ -, starting with a letter'),
  role: z.string().optional().describe('scientist, operator or admin'),
  displayName: z.string().optional().describe('the name shown beside the user name'),
  password: z.string().optional().describe('at least 12 characters'),
  reason: Reason,
});
export const PasswordBody = z.object({ password: z.string().optional().describe('at least 12 characters'), reason: Reason });
export const RoleBody = z.object({ role: z.string().optional().describe('scientist, operator or admin'), reason: Reason });
const USER_BODIES = { password: PasswordBody, disable: ReasonBody, enable: ReasonBody, role: RoleBody };
const USER_SUMMARIES = { password: "Set a user's password", disable: 'Disable a user', enable: 'Enable a user', role: "Change a user's role" };

/** What the user administration of the API and the Users page share. */
function userActions(accounts: Accounts) {
  return {
    add: (req: Request, res: Response) => {
      const b = body(req);
      return accounts.create(
        { username: String(b.username ?? '').trim(), role: String(b.role ?? ''), displayName: text(b.displayName), password: typeof b.password === 'string' ? b.password : '' },
        actorOf(req, res),
      );
    },
    password: (req: Request, res: Response) => accounts.resetPassword(nameOf(req), typeof body(req).password === 'string' ? (body(req).password as string) : '', actorOf(req, res)),
    disable: (req: Request, res: Response) => accounts.setDisabled(nameOf(req), true, actorOf(req, res)),
    enable: (req: Request, res: Response) => accounts.setDisabled(nameOf(req), false, actorOf(req, res)),
    role: (req: Request, res: Response) => accounts.setRole(nameOf(req), String(body(req).role ?? ''), actorOf(req, res)),
  };
}

/**
 * SMAS's API: this process's subsystem states; the signed-in user (`/me`) and their API
 * tokens; sign-out; the audit (`/audit?user=&action=&from=&to=&before=&limit=`); users (admin);
 * the Monitor's series (`/monitor?range=&from=&to=&series=`).
 */
export function smasApi(r: SmasRoutes): Router {
  const api = Router();
  const monitor = new MonitorAnswers(r.store, r.monitor);
  route(api, 'get', '/subsystems', { summary: "This process's subsystem states and its database's" }, async (_req, res) => {
    res.json({ process: r.processId, database: r.service.db(), subsystems: r.service.states() });
  });
  route(api, 'get', '/monitor', {
    summary: "The Monitor's series with their latest values, and the points of the asked ones over a range",
    query: z.object({
      range: param(`one of ${Object.keys(RANGES).join(', ')} back from to; ${DEFAULT_RANGE} by default`),
      from: param('Unix ms or ISO 8601'),
      to: param('Unix ms or ISO 8601; now by default'),
      series: param(`series ids separated by commas, at most ${MAX_SERIES}`),
    }),
  }, async (req, res) => {
    res.type('application/json').send(await monitor.get(req.query as Record<string, unknown>, Date.now()));
  });
  route(api, 'get', '/me', { summary: 'The signed-in user' }, (_req, res) => {
    res.json(userOf(res));
  });
  route(api, 'post', '/signout', { summary: 'Sign out: end this session, or all of the user\'s', body: SignOutBody }, async (req, res) => {
    await r.http.signOut(req, res, body(req).everywhere === true);
    res.json({ signedOut: true });
  });
  route(api, 'get', '/tokens', { summary: "The signed-in user's API tokens", returns: '{tokens}' }, async (_req, res) => {
    res.json({ tokens: await r.accounts.tokens(userOf(res).id) });
  });
  route(api, 'post', '/tokens', { summary: 'A new API token of the signed-in user, shown once', body: TokenBody, status: 201, returns: '{id, token}' }, async (req, res) => {
    const label = typeof body(req).label === 'string' ? (body(req).label as string) : '';
    res.status(201).json(await r.accounts.createToken(userOf(res).username, label, actorOf(req, res)));
  });
  route(api, 'post', '/tokens/:id/revoke', { summary: 'Revoke one of the signed-in user\'s API tokens', params: { id: 'the token id' }, body: ReasonBody, returns: '{tokens}' }, async (req, res) => {
    await r.accounts.revokeToken(userOf(res), tokenId(req), actorOf(req, res));
    res.json({ tokens: await r.accounts.tokens(userOf(res).id) });
  });
  route(api, 'get', '/audit', {
    summary: 'The audit newest first',
    query: z.object({
      user: param('a user name'),
      action: param('an action (pool.drain, workflow.cancel, …)'),
      from: param('a date (2026-01-31), a UTC date-time (2026-01-31T08:00) or Unix ms'),
      to: param('before'),
      before: param('the next of the page before (created.id)'),
      limit: param(`at most ${MAX_LIMIT}`),
    }),
    returns: '{entries, next}',
  }, async (req, res) => {
    res.json(await auditPage(r.db, auditQuery(req.query, 50)));
  });
  const users = userActions(r.accounts);
  route(api, 'get', '/users', { summary: 'The users, their roles and states (admin)', returns: '{users}' }, async (_req, res) => {
    res.json({ users: await r.accounts.list() });
  });
  route(api, 'post', '/users', { summary: 'Add a user (admin)', body: AddUserBody, status: 201, returns: '{id}' }, async (req, res) => {
    res.status(201).json({ id: await users.add(req, res) });
  });
  for (const action of ['password', 'disable', 'enable', 'role'] as const) {
    route(api, 'post', `/users/:name/${action}`, { summary: `${USER_SUMMARIES[action]} (admin)`, params: { name: 'the user name' }, body: USER_BODIES[action], returns: '{users}' }, async (req, res) => {
      await users[action](req, res);
      res.json({ users: await r.accounts.list() });
    });
  }
  return api;
}

const GROUPS: { group: SeriesGroup | 'other'; title: string }[] = [
  { group: 'host', title: 'Host' },
  { group: 'database', title: 'Database' },
  { group: 'queue', title: 'Queue' },
  { group: 'other', title: 'Other' },
];

const labelsText = (labels: Labels) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/**
 * SMAS's pages: Audit, Users (admin), the user's own account (API tokens, sign out everywhere),
 * sign-out; the Monitor: for each series a chart over the range (drawn by /static/monitor.js
 * from the JSON twin) above a table of its latest values, which is the page without JavaScript.
 */
export function smasPages(r: SmasRoutes): Router {
  const pages = Router();
  const back = (res: Response, path: string) => res.redirect(303, (res.locals.url as (p: string) => string)(path));

  pages.post('/signout', async (req, res) => {
    await r.http.signOut(req, res, body(req).everywhere === '1');
    back(res, '/smas/signin');
  });

  pages.get('/audit', async (req, res) => {
    const q = auditQuery(req.query, PAGE);
    const { entries, next } = await auditPage(r.db, q);
    const filters = Object.fromEntries(['user', 'action', 'from', 'to'].map((k) => [k, text(req.query[k]) ?? '']));
    const nextQuery = next === undefined ? undefined : new URLSearchParams({ ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== '')), before: next }).toString();
    res.render('smas/audit', { title: 'Audit', entries, filters, nextQuery });
  });

  pages.get('/monitor', async (req, res) => {
    const now = Date.now();
    const range = rangeOf(req.query, now);
    const latest = await r.store.latest();
    const byName = new Map<string, typeof latest>();
    for (const s of latest) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    const charts = [...byName.entries()].map(([name, series]) => ({
      name,
      ...describe(name),
      ids: series.map((s) => s.id).join(','),
      rows: series.map((s) => ({ id: s.id, labels: labelsText(s.labels), value: s.value, t: s.t })),
    }));
    res.render('smas/monitor', {
      title: 'Monitor',
      ranges: Object.keys(RANGES),
      range: range.name,
      from: range.from,
      to: range.to,
      intervalMs: r.monitor.intervalMs,
      groups: GROUPS.map((g) => ({ ...g, charts: charts.filter((c) => c.group === g.group) })).filter((g) => g.charts.length > 0),
      format: (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3)),
      at: (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 19),
    });
  });

  const renderAccount = async (res: Response, created?: { label: string; token: string }) => {
    res.render('smas/account', { title: 'My account', tokens: await r.accounts.tokens(userOf(res).id), created });
  };
  pages.get('/account', async (_req, res) => {
    await renderAccount(res);
  });
  pages.post('/account/tokens', async (req, res) => {
    const label = typeof body(req).label === 'string' ? (body(req).label as string) : '';
    const { token } = await r.accounts.createToken(userOf(res).username, label, actorOf(req, res));
    // Shown this once, on the page that answers the form, and never stored but as its SHA-256.
    res.setHeader('Cache-Control', 'no-store');
    await renderAccount(res, { label: label.trim(), token });
  });
  pages.post('/account/tokens/:id/revoke', async (req, res) => {
    await r.accounts.revokeToken(userOf(res), tokenId(req), actorOf(req, res));
    back(res, '/smas/account');
  });

  const users = userActions(r.accounts);
  pages.get('/users', async (_req, res) => {
    res.render('smas/users', { title: 'Users', users: await r.accounts.list(), now: Date.now() });
  });
  pages.post('/users', async (req, res) => {
    await users.add(req, res);
    back(res, '/smas/users');
  });
  for (const action of ['password', 'disable', 'enable', 'role'] as const) {
    pages.post(`/users/:name/${action}`, async (req, res) => {
      await users[action](req, res);
      back(res, '/smas/users');
    });
  }
  return pages;
}
