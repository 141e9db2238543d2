import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { type ErrorRequestHandler, type Express, type Request } from 'express';
import { isOutage } from '../core/db.js';
import { coreErrors, DpcError, messageOf } from '../core/errors.js';
import type { Page } from '../core/subsystem.js';
import { requireMetricsToken } from '../subsystems/smas/index.js';
import { describeTarget } from './db.js';
import type { Dpc } from './lifecycle.js';
import { projectRoot, softwareVersion } from './paths.js';

/** The console menu in the DPCT's order (ARCHITECTURE §8); only pages that exist are shown. */
/** uPlot's built files (the Monitor's charts), served from node_modules: no CDN. */
const UPLOT_DIST = dirname(createRequire(import.meta.url).resolve('uplot'));

const MENU_ORDER = ['Welcome', 'DTS', 'RMS', 'PFS', 'Data management', 'AIM', 'BAM', 'GSR', 'DAAS', 'Logs', 'Configuration tracking', 'Mission log', 'Monitor'];

/**
 * The HTTP app: probes, the JSON API of each subsystem under /api/<name>, its pages under
 * /<name>, and the Welcome page. API errors are `{error:{code,message}}` with the status of
 * the error's declaration; a database outage is a 503 the client may retry.
 */
export function createApp(dpc: Dpc): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('view engine', 'ejs');
  app.set('views', join(projectRoot, 'views'));

  const menu: Page[] = [{ title: 'Welcome', path: '/' }, ...dpc.subsystems.flatMap((s) => s.pages?.menu ?? [])].sort(
    (a, b) => MENU_ORDER.indexOf(a.title) - MENU_ORDER.indexOf(b.title),
  );
  // Before the body parsers: the error page of a body they reject needs the menu too.
  app.use((req, res, next) => {
    res.locals.menu = menu;
    res.locals.path = req.path;
    res.locals.version = softwareVersion;
    const began = performance.now();
    res.once('finish', () => dpc.smas.metrics.http(req.method, routeOf(req), res.statusCode, performance.now() - began));
    next();
  });
  app.use('/static/vendor/uplot', express.static(UPLOT_DIST, { maxAge: '1d' }));
  app.use('/static', express.static(join(projectRoot, 'views', 'static'), { maxAge: '1h' }));
  app.use(express.json({ limit: '1mb' }));
  app.use(express.urlencoded({ extended: false, limit: '1mb' }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'alive', process: dpc.processId });
  });
  app.get('/readyz', (_req, res) => {
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
  app.get('/metrics', requireMetricsToken(dpc.config.smas.metrics.token), async (_req, res) => {
    const m = await dpc.smas.metrics.render();
    res.type(m.contentType).send(m.body);
  });

  app.get('/', (_req, res) => {
    res.render('welcome', {
      title: 'Welcome',
      states: dpc.smas.states(),
      database: describeTarget(dpc.config),
      db: dpc.smas.db(),
      processId: dpc.processId,
    });
  });

  for (const s of dpc.subsystems) {
    if (s.api) app.use(`/api/${s.name}`, s.api);
    if (s.pages) app.use(`/${s.name}`, s.pages.router);
  }

  app.use('/api', (req) => {
    throw coreErrors.notFound(`API route ${req.method} ${req.originalUrl}`);
  });
  app.use((req) => {
    throw coreErrors.notFound(`page ${req.originalUrl}`);
  });
  app.use(errorHandler(dpc));
  return app;
}

/**
 * The route a request matched, as its pattern (`/api/rms/workflows/:id`), for the HTTP
 * metrics: a label per route, not per URL. Static files and requests no route took are one
 * label each, so that a scan of random URLs adds no series.
 */
function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  if (route && typeof route.path === 'string') return `${req.baseUrl}${route.path}`;
  return req.originalUrl.startsWith('/static/') ? '/static' : 'unmatched';
}

function errorHandler(dpc: Dpc): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const error = toDpcError(err);
    // An outage is logged once by SMAS, not again for every request it refuses.
    if (error.status >= 500 && error.code !== coreErrors.dbUnavailable.code) {
      dpc.log.error(`${req.method} ${req.originalUrl} failed: ${messageOf(err)}`, { subsystem: 'server', code: error.code });
    }
    res.status(error.status);
    // /metrics is read by a scraper, which may accept anything: its refusals are JSON too.
    if (req.originalUrl.startsWith('/api/') || req.path === '/metrics' || !req.accepts('html')) res.json({ error: { code: error.code, message: error.message } });
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
