import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addUser, sessionCookieOf } from '../helpers/auth.js';
import { startApp, type App } from '../helpers/app.js';

let app: App;
beforeAll(async () => {
  app = await startApp({ DPC_HTTP__BASEPATH: '/dpc' });
});
afterAll(async () => {
  await app?.close();
});

describe('the console under http.basePath, behind a reverse proxy', () => {
  test('every redirect, link, form action and the cookie path lie under the base path', async () => {
    const first = await fetch(`${app.origin}/dpc/ems/mission-log`, { redirect: 'manual' });
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/dpc/smas/signin?next=%2Fems%2Fmission-log');
    const signinPage = await (await fetch(`${app.origin}/dpc/smas/signin`)).text();
    expect(signinPage).toContain('href="/dpc/static/dpc.css"');
    expect(signinPage).toContain('action="/dpc/smas/signin"');

    const u = await addUser(app.dpc.db, app.t.config, 'admin');
    const res = await fetch(`${app.origin}/dpc/smas/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...u, next: '/ems/mission-log' }).toString(),
      redirect: 'manual',
    });
    expect(res.headers.get('location')).toBe('/dpc/ems/mission-log');
    expect(res.headers.getSetCookie()[0]).toContain('; Path=/dpc;');
    const cookie = sessionCookieOf(res)!;
    const page = await (await fetch(`${app.origin}/dpc/ems/mission-log`, { headers: { cookie } })).text();
    const hrefs = [...page.matchAll(/(?:href|action)="([^"]+)"/g)].map((m) => m[1]);
    expect(hrefs.length).toBeGreaterThan(5);
    expect(hrefs.filter((h) => !h.startsWith('/dpc/'))).toEqual([]);
    expect((await fetch(`${app.origin}/dpc/static/dpc.css`)).status).toBe(200);
    expect((await fetch(`${app.origin}/dpc/healthz`)).status).toBe(200);
  });

  test('outside the base path there is nothing', async () => {
    expect((await fetch(`${app.origin}/`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${app.origin}/api/rms/totals`)).status).toBe(404);
  });
});
