import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import cookieParser from 'cookie-parser';
import express, { type ErrorRequestHandler, type Express, type Request } from 'express';
import helmet from 'helmet';
import { hasRole, type SignedIn } from '../core/actor.js';
import { route, routesOf } from '../core/api.js';
import { isOutage } from '../core/db.js';
import { coreErrors, DpcError, messageOf } from '../core/errors.js';
import type { Page } from '../core/subsystem.js';
import { CSRF_FIELD, requireMetricsToken } from '../subsystems/smas/index.js';
import { describeTarget } from './db.js';
import type { Dpc } from './lifecycle.js';
import { openApiDocument } from './openapi.js';
import { overview } from './overview.js';
import { projectRoot, softwareVersion } from './paths.js';

/** uPlot's built files (the Monitor's charts), served from node_modules: no CDN. */
const UPLOT_DIST = dirname(createRequire(import.meta.url).resolve('uplot'));

/** The console menu in the DPCT's order (ARCHITECTURE §8); only pages that exist are shown. */
const MENU_ORDER = ['Welcome', 'DTS', 'Workflow manager', 'Jobs', 'Failure triage', 'PFS', 'Data management', 'AIM', 'BAM', 'GSR', 'DAAS', 'Logs', 'Configuration tracking', 'Mission log', 'Alerts', 'Monitor', 'Audit', 'Users'];

/**
 * The paths open without signing in, each registered before SMAS's guard: the probes, the
 * sign-in page and the static files it needs; /metrics, which asks for its own bearer token.
 * Every other route needs a signed-in user
 * (test/server/routes-signin.test.ts walks the router to hold it to that).
 */
export const PUBLIC_PATHS = ['/healthz', '/readyz', '/metrics', '/smas/signin', '/static/'];

/** A time as every page shows it: UTC, to the second; blank for none. */
function utc(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '' : new Date(Number(ms)).toISOString().replace('T', ' ').slice(0, 19);
}

/**
 * The HTTP app: probes, the JSON API of each subsystem under /api/<name>, its pages under
 * /<name>, and the Welcome page, all under http.basePath. SMAS's sign-in stands in front of
 * every route but the public ones. API errors are `{error:{code,message}}` with the status of
 * the error's declaration; a database outage is a 503 the client may retry.
 */
export function createApp(dpc: Dpc): Express {
  const { basePath, trustProxy } = dpc.config.http;
  const auth = dpc.smas.http;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trustProxy);
  app.set('view engine', 'ejs');
  // Express caches compiled views only under NODE_ENV=production; a server always runs its release's views, so always.
  app.set('view cache', true);
  app.set('views', join(projectRoot, 'views'));
  const url = (path: string) => basePath + path;

  const menu: Page[] = [{ title: 'Welcome', path: '/' }, ...dpc.subsystems.flatMap((s) => s.pages?.menu ?? [])].sort(
    (a, b) => MENU_ORDER.indexOf(a.title) - MENU_ORDER.indexOf(b.title),
  );
  const r = express.Router();
  r.use((req, res, next) => {
    res.locals.menu = [];
    res.locals.path = req.path;
    res.locals.version = softwareVersion;
    res.locals.utc = utc;
    res.locals.url = url;
    res.locals.csrfField = CSRF_FIELD;
    const began = performance.now();
    res.once('finish', () => dpc.smas.metrics.http(req.method, routeOf(req, basePath), res.statusCode, performance.now() - began));
    next();
  });
  r.use(
    helmet({
      // Server-rendered pages with their scripts and styles in /static only: nothing inline, nothing from elsewhere.
      contentSecurityPolicy: {
        useDefaults: true,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          objectSrc: ["'none'"],
          // The console is often reached over plain HTTP inside a VPN: upgrading its requests would break it.
          upgradeInsecureRequests: null,
        },
      },
      // helmet's default, no-referrer, makes a browser send `Origin: null` on the console's own
      // form POSTs, which the Origin check refuses: same-origin keeps the Origin for this site and
      // still sends nothing to others.
      referrerPolicy: { policy: 'same-origin' },
    }),
  );
  r.use('/static/vendor/uplot', express.static(UPLOT_DIST, { maxAge: '1d' }));
  r.use('/static', express.static(join(projectRoot, 'views', 'static'), { maxAge: '1h' }));
  // The probes answer without a session, and without the database a session's check needs.
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'alive', process: dpc.processId });
  });
  r.get('/readyz', (_req, res) => {
    const db = dpc.smas.db();
    const reason = !dpc.started ? 'starting or stopping' : !db.ok ? `database unreachable: ${db.reason}` : undefined;
    res.status(reason ? 503 : 200).json({
      ready: !reason,
      ...(reason ? { reason } : {}),
      database: { client: dpc.db.dialect, reachable: db.ok, since: new Date(db.since).toISOString() },
      subsystems: dpc.smas.states().map((s) => ({ name: s.name, state: s.state, ...(s.detail ? { detail: s.detail } : {}) })),
    });
  });
  // A bearer token, not a session: Prometheus scrapes it (docs/monitoring.md).
  r.get('/metrics', requireMetricsToken(dpc.config.smas.metrics.token), async (_req, res) => {
    const m = await dpc.smas.metrics.render();
    res.type(m.contentType).send(m.body);
  });
  r.use(cookieParser());

  r.use(auth.sameOrigin);
  // Before the body parsers: the error page of a body they reject shows the user's menu.
  r.use(auth.identify);
  r.use((_req, res, next) => {
    const user = res.locals.user as SignedIn | undefined;
    res.locals.menu = user ? menu.filter((item) => !item.role || hasRole(user.role, item.role)) : [];
    next();
  });
  r.use(express.json({ limit: '1mb' }));
  r.use(express.urlencoded({ extended: false, limit: '1mb' }));

  r.use('/smas', auth.signIn);
  r.use(auth.guard);

  route(r, 'get', '/api/smas/overview', { summary: "The Welcome page's today at a glance, with this process's subsystem states" }, async (_req, res) => {
    res.json({ process: dpc.processId, subsystems: dpc.smas.states(), ...(await overview(dpc, Date.now())) });
  });
  r.get('/', async (_req, res) => {
    // The states are this process's own: the page still answers, with them, while the database does not.
    const glance = await overview(dpc, Date.now()).catch((err: unknown) => ({ error: messageOf(err) }));
    res.render('welcome', {
      title: 'Welcome',
      states: dpc.smas.states(),
      database: describeTarget(dpc.config),
      db: dpc.smas.db(),
      processId: dpc.processId,
      glance,
    });
  });

  // Made at the first request, when every route is in the router; the routes do not change after.
  let document: Record<string, unknown> | undefined;
  route(r, 'get', '/api/openapi.json', { summary: 'This document: the OpenAPI 3.1 description of every /api route' }, (_req, res) => {
    document ??= openApiDocument(routesOf(r), { version: softwareVersion, basePath });
    res.json(document);
  });

  for (const s of dpc.subsystems) {
    if (s.api) r.use(`/api/${s.name}`, s.api);
    if (s.pages) r.use(`/${s.name}`, s.pages.router);
  }

  r.use('/api', (req) => {
    throw coreErrors.notFound(`API route ${req.method} ${req.originalUrl}`);
  });
  r.use((req) => {
    throw coreErrors.notFound(`page ${req.originalUrl}`);
  });
  // /metrics is read by a scraper, which may accept anything: its refusals are JSON too.
  const isApi = (req: Request) => req.originalUrl.startsWith(`${basePath}/api/`) || req.path === '/metrics' || !req.accepts('html');
  r.use(errorHandler(dpc, isApi));
  app.use(basePath || '/', r);
  if (basePath) {
    // Outside the base path there is nothing: the reverse proxy sends only what lies under it.
    app.use((req, res) => void res.status(404).type('text/plain').send(`nothing here: the console is at ${basePath}/\n`));
  }
  return app;
}

/**
 * The route a request matched, as its pattern (`/api/rms/workflows/:id`), for the HTTP
 * metrics: a label per route, not per URL. Static files and requests no route took are one
 * label each, so that a scan of random URLs adds no series.
 */
function routeOf(req: Request, basePath: string): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  if (route && typeof route.path === 'string') return `${req.baseUrl.slice(basePath.length)}${route.path}`;
  return req.originalUrl.startsWith(`${basePath}/static/`) ? '/static' : 'unmatched';
}

function errorHandler(dpc: Dpc, isApi: (req: Request) => boolean): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const error = toDpcError(err);
    // An outage is logged once by SMAS, not again for every request it refuses.
    if (error.status >= 500 && error.code !== coreErrors.dbUnavailable.code) {
      dpc.log.error(`${req.method} ${req.originalUrl} failed: ${messageOf(err)}`, { subsystem: 'server', code: error.code });
    }
    res.status(error.status);
    if (isApi(req)) res.json({ error: { code: error.code, message: error.message } });
    else {
      res.render('error', { title: 'Error', error }, (renderErr, html) => {
        // Left to express, a page that fails to render would show its stack trace.
        if (!renderErr) return void res.send(html);
        dpc.log.error(`error page failed to render: ${messageOf(renderErr)}`, { subsystem: 'server' });
        res.type('text/plain').send(`${error.code}: ${error.message}\n`);
      });
    }
  };
}

function toDpcError(err: unknown): DpcError {
  if (err instanceof DpcError) return err;
  if (isOutage(err)) return coreErrors.dbUnavailable(messageOf(err));
  const e = err as { type?: string; status?: number };
  // Malformed JSON or an oversized body, as express's body parsers report it.
  if (e.type === 'entity.parse.failed') return coreErrors.badRequest(`the request body is not valid JSON: ${messageOf(err)}`);
  if (e.type === 'entity.too.large') return coreErrors.tooLarge(messageOf(err));
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return coreErrors.badRequest(messageOf(err));
  return coreErrors.internal();
}

/** Listens on the configured address; resolves once bound. */
export async function listen(app: Express, host: string, port: number): Promise<Server> {
  const server = createServer(app);
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      done();
    });
  });
  return server;
}
