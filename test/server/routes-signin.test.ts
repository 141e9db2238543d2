import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { routesOf, type RouteEntry } from '../../core/api.js';
import { createApp, PUBLIC_PATHS } from '../../server/http.js';
import { startApp, type App } from '../helpers/app.js';

/** A route's path with its parameters filled in. */
const concrete = (path: string) => path.replace(/:(\w+)/g, (_m, name: string) => (name === 'pool' || name === 'name' ? 'local' : '1'));
const isPublic = (path: string) => PUBLIC_PATHS.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));

let app: App;
let routes: RouteEntry[];
beforeAll(async () => {
  app = await startApp();
  routes = routesOf(createApp(app.dpc).router);
});
afterAll(async () => {
  await app?.close();
});

describe('sign-in is required on every route', () => {
  test('the walk finds the routes of every subsystem and the public ones', () => {
    const paths = routes.map((r) => `${r.method} ${r.path}`);
    for (const expected of ['GET /healthz', 'GET /readyz', 'GET /smas/signin', 'POST /smas/signin', 'GET /', 'POST /api/rms/workflows/:id/cancel', 'POST /api/pfs/pools/:name/drain', 'GET /ems/mission-log', 'GET /smas/audit', 'POST /smas/users']) {
      expect(paths).toContain(expected);
    }
    expect(routes.length).toBeGreaterThan(40);
  });

  test('every route but the public ones refuses a request without a session or token: 401 in JSON for the API, a redirect to the sign-in page for a page', async () => {
    const open: string[] = [];
    for (const r of routes.filter((x) => !isPublic(x.path))) {
      const forged: Record<string, string>[] = [{}, { cookie: 'dpc_session=forged-session-token' }, { authorization: 'Bearer dpc_forged-token' }];
      for (const credentials of forged) {
        const res = await fetch(app.base + concrete(r.path), {
          method: r.method,
          headers: { accept: 'text/html', 'content-type': 'application/json', ...credentials },
          body: r.method === 'GET' ? undefined : JSON.stringify({ reason: 'probe', name: 'x', priority: 1 }),
          redirect: 'manual',
        });
        const body = await res.text();
        const refused = r.path.startsWith('/api/')
          ? res.status === 401 && JSON.parse(body).error.code === 'DPC_SMAS_SIGN_IN'
          : res.status === 303 && (res.headers.get('location') ?? '').startsWith('/smas/signin');
        if (!refused) open.push(`${r.method} ${r.path} with ${JSON.stringify(credentials)}: ${res.status}`);
      }
    }
    expect(open).toEqual([]);
  });

  test('the public routes answer without signing in', async () => {
    for (const path of ['/healthz', '/readyz', '/smas/signin', '/static/dpc.css']) {
      expect((await fetch(app.base + path, { redirect: 'manual' })).status, path).toBe(200);
    }
  });
});
