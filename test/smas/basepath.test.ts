import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RmsService } from '../../subsystems/rms/index.js';
import { WORKFLOWS } from '../fixtures/rms-harness.js';
import { addUser, sessionCookieOf, signIn } from '../helpers/auth.js';
import { startApp, type App } from '../helpers/app.js';
import { until } from '../helpers/server.js';

let app: App;
beforeAll(async () => {
  app = await startApp({ DPC_HTTP__BASEPATH: '/dpc' }, { descriptors: [WORKFLOWS] });
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

  test('every page of the console links, posts and loads its assets under the base path, and its forms come back under it', async () => {
    const u = await addUser(app.dpc.db, app.t.config, 'operator');
    const session = await signIn(app.base, u.username, u.password);
    const rms = app.dpc.subsystems.find((s) => s.name === 'rms')!.service as RmsService;
    const started = await rms.start('held', { params: { n: 1 } }, { username: u.username, reason: 'base path test' });
    const [job] = await rms.reads.jobs(started.id, { limit: 1 });
    const pages = ['/', '/rms/descriptors', '/rms/workflows', `/rms/workflows/${started.id}`, `/rms/jobs/${String(job.id)}`, '/rms/solutions', '/rms/configs', '/pfs/nodes', '/pfs/logs', '/ems/alerts', '/ems/mission-log', '/smas/audit'];
    for (const path of pages) {
      const res = await fetch(`${app.base}${path}`, { headers: session.headers() });
      expect(res.status, path).toBe(200);
      const urls = [...(await res.text()).matchAll(/\s(?:href|action|src|data-live|data-live-list)="([^"]+)"/g)].map((m) => m[1]);
      expect(urls.filter((h) => !h.startsWith('/dpc/')), path).toEqual([]);
    }
    const post = (action: 'drain' | 'open') =>
      fetch(`${app.base}/pfs/pools/local/${action}`, {
        method: 'POST',
        headers: { ...session.headers({ accept: 'text/html' }), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: session.csrf, reason: 'base path test' }).toString(),
        redirect: 'manual',
      });
    expect((await post('drain')).headers.get('location')).toMatch(/^\/dpc\/pfs\/nodes\?done=/);
    // Open again: the next test's workflow runs in this pool.
    expect((await post('open')).headers.get('location')).toMatch(/^\/dpc\/pfs\/nodes\?done=/);
    await rms.actions.cancel(started.id, { username: u.username, reason: 'base path test' });
  });

  test("every page's links, forms and assets lie under the base path", async () => {
    const u = await addUser(app.dpc.db, app.t.config, 'admin');
    const session = await signIn(app.base, u.username, u.password);
    const started = await fetch(`${app.base}/api/rms/workflows`, {
      method: 'POST',
      headers: session.headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ name: 'logging', params: { jobs: [{ lines: 2, until: 2 }] }, reason: 'a job log, a solution and a mission log entry to link to' }),
    });
    const workflowid = ((await started.json()) as { id: number }).id;
    const knex = app.dpc.db.knex;
    await until(async () => (await knex('ems_mission_log').where({ workflowid })).length > 0, 15_000, 'the workflow ended');
    const { id: jobid } = await knex('rms_job').where({ workflowid }).first('id');
    const { solutionid } = await knex('rms_workflow').where({ id: workflowid }).first('solutionid');
    const { id: configid } = await knex('rms_config').first('id');
    const pages = ['/', '/pfs/nodes', '/pfs/logs', `/pfs/logs?workflow=${workflowid}`, `/pfs/jobs/${jobid}/log?attempt=1`, `/pfs/jobs/${jobid}/log?q=line`, '/rms/solutions', `/rms/solutions/${solutionid}`, '/rms/configs', `/rms/configs/${configid}`, `/rms/configs/diff?a=${configid}&b=${configid}`, '/ems/mission-log', '/ems/alerts', '/smas/monitor', '/smas/audit', '/smas/users', '/smas/account'];
    const outside: string[] = [];
    for (const path of pages) {
      const res = await fetch(app.base + path, { headers: { cookie: session.cookie }, redirect: 'manual' });
      expect(res.status, path).toBe(200);
      const html = await res.text();
      for (const m of html.matchAll(/(?:href|action|src|data-follow|data-api)="([^"]+)"/g)) if (!m[1].startsWith('/dpc/')) outside.push(`${path}: ${m[1]}`);
    }
    expect(outside).toEqual([]);
    const lookup = await fetch(`${app.base}/rms/solutions?id=${solutionid}`, { headers: { cookie: session.cookie }, redirect: 'manual' });
    expect(lookup.headers.get('location')).toBe(`/dpc/rms/solutions/${solutionid}`);
  });

  test('outside the base path there is nothing', async () => {
    expect((await fetch(`${app.origin}/`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${app.origin}/api/rms/totals`)).status).toBe(404);
  });
});
