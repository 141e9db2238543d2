import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { softwareVersion } from '../../server/paths.js';
import { recordConfig } from '../../subsystems/rms/provenance.js';
import { ended, jobsOf, operator, until } from '../fixtures/rms-harness.js';
import { hasChromium } from '../helpers/browser.js';
import { useBrowserConsole } from '../helpers/browserConsole.js';

/**
 * The console in a real Chromium: what a person does with a mouse and keyboard, on the
 * pages the server renders, under its Content-Security-Policy. Runs on the database the suite
 * runs on (SQLite, and PostgreSQL in CI's second pass): the pages' queries are the same code
 * either way, and the whole file costs a few seconds more there.
 */
describe.skipIf(!hasChromium())('the console in Chromium', () => {
  const bc = useBrowserConsole();
  /** A job of the `logging` workflow that failed its first attempt and succeeded its second, with HTML in its lines. */
  let retried: { workflowid: number; jobid: number };
  let failedWorkflow: number;
  let configs: { a: number; b: number };
  const HTML_LINE = '<b class="injected">bold</b>';

  beforeAll(async () => {
    const { h } = bc.c;
    const logging = await h.rms.start('logging', { params: { jobs: [{ tag: HTML_LINE, lines: 3, until: 2 }] } }, operator);
    const doomed = await h.rms.start('doomed', {}, operator);
    const dag = await h.rms.start('dag', { params: { file: join(h.t.dir, 'dag.txt') } }, operator);
    // A workflow that stays RUNNING: its jobs wait in the held pool, which only tests claim from.
    await h.rms.start('held', { params: { n: 4 } }, operator);
    for (const id of [logging.id, doomed.id, dag.id]) await ended(h, id);
    retried = { workflowid: logging.id, jobid: Number((await jobsOf(h, logging.id))[0].id) };
    failedWorkflow = doomed.id;
    // The failure reaches the mission log through the outbox, after the workflow has ended.
    await until(async () => (await h.knex('ems_mission_log').where({ workflowid: doomed.id })).length > 0, 10_000, 'the mission log entry of the failed workflow');

    const config = h.dpc.config;
    const a = Number((await bc.c.get('/api/rms/configs?limit=1')).json().configs[0].id);
    const b = await recordConfig(h.dpc.db, { ...config, pfs: { ...config.pfs, pollMs: config.pfs.pollMs + 5 } }, softwareVersion, systemClock);
    configs = { a, b };

    for (const e of [
      { severity: 'WARNING', subsystem: 'pfs', message: 'pool local nearly full' },
      { severity: 'ERROR', subsystem: 'rms', message: 'a workflow stopped on a disk quota' },
      { severity: 'INFO', subsystem: 'ems', message: 'the quota report was sent' },
    ] as const) {
      await h.ems.missionLog.append(e);
    }
    await h.ems.alerts.raise({ severity: 'WARNING', code: 'DPC_TEST_DISK', subsystem: 'smas', message: 'disk of the DSS has 3% free', dedupe: 'test-disk' });
    const minute = 60_000;
    for (let i = 5; i >= 0; i--) await h.dpc.smas.monitor.sample(Date.now() - i * minute);
  });

  describe('signing in and out', () => {
    test('an operator who types a user name and password into the sign-in page lands on Welcome', async () => {
      const p = await bc.signedOut();
      const u = await bc.addUser('operator');
      expect(await p.signIn(u.username, u.password)).toBe(200);
      expect(new URL(p.page.url()).pathname).toBe('/');
      expect(await p.page.locator('h1').innerText()).toBe('Welcome');
      expect(await p.page.locator('header .who').innerText()).toContain(u.username);
    });

    test("the header's Sign out button leads back to the sign-in page, and the old session cookie no longer opens a page", async () => {
      const u = await bc.addUser('operator');
      const p = await bc.signedOut();
      await p.signIn(u.username, u.password);
      const [cookie] = (await p.context.cookies()).filter((k) => k.name === 'dpc_session');
      expect(cookie).toBeDefined();
      expect(await p.submit(p.page.getByRole('button', { name: 'Sign out', exact: true }))).toBe(200);
      expect(new URL(p.page.url()).pathname).toBe('/smas/signin');
      expect(await p.page.getByLabel('Password').isVisible()).toBe(true);

      await p.context.addCookies([cookie]);
      expect(await p.open('/pfs/nodes')).toBe(200);
      expect(new URL(p.page.url()).pathname).toBe('/smas/signin');
      expect(await p.page.getByRole('alert').innerText()).toContain('your session has ended');
    });

    test('as many wrong passwords as the lock-out threshold lock the account: the page says so, and the right password is then refused', async () => {
      const threshold = bc.c.h.dpc.config.smas.signin.maxFailures;
      const u = await bc.addUser('operator');
      const p = await bc.signedOut();
      for (let i = 1; i < threshold; i++) {
        expect(await p.signIn(u.username, `wrong password ${i}`)).toBe(401);
        expect(await p.page.getByRole('alert').innerText()).not.toContain('locked');
      }
      expect(await p.signIn(u.username, 'wrong password again')).toBe(423);
      expect(await p.page.getByRole('alert').innerText()).toContain(`the account ${u.username} is locked after ${threshold} wrong passwords`);
      expect(await p.signIn(u.username, u.password)).toBe(423);
      expect(await p.page.getByRole('alert').innerText()).toContain('is locked');
      expect(new URL(p.page.url()).pathname).toBe('/smas/signin');
      expect((await p.context.cookies()).filter((k) => k.name === 'dpc_session')).toEqual([]);
    });
  });

  describe('refusals', () => {
    test("a scientist who submits the Mission log's form, an operator action, gets the 403 page", async () => {
      const p = await bc.signedIn('scientist');
      await p.open('/ems/mission-log');
      await p.page.getByLabel('Message').fill('a scientist writes here');
      expect(await p.submit(p.page.getByRole('button', { name: 'Add to the mission log' }))).toBe(403);
      expect(await p.page.locator('h1').innerText()).toBe('Error');
      expect(await p.page.locator('p.error').innerText()).toContain('DPC_SMAS_FORBIDDEN');
      expect(await p.page.locator('p.error').innerText()).toContain('it needs the role operator');
      expect(await bc.c.h.knex('ems_mission_log').where({ message: 'a scientist writes here' }).select('id')).toEqual([]);
    });

    test('a form posted without its CSRF token is refused with the 403 page and changes nothing', async () => {
      const p = await bc.signedIn('operator');
      await p.open('/ems/mission-log');
      const form = p.page.locator('form[method="post"][action$="/ems/mission-log"]');
      await form.locator('input[name="_csrf"]').evaluate((input) => input.remove());
      await p.page.getByLabel('Message').fill('posted without a token');
      expect(await p.submit(p.page.getByRole('button', { name: 'Add to the mission log' }))).toBe(403);
      expect(await p.page.locator('p.error').innerText()).toContain('DPC_SMAS_CSRF');
      expect(await bc.c.h.knex('ems_mission_log').where({ message: 'posted without a token' }).select('id')).toEqual([]);
    });

    test('a Content-Security-Policy violation on a page is a problem the watcher reports', async () => {
      const p = await bc.signedIn('scientist');
      await p.page.evaluate(() => {
        const script = document.createElement('script');
        script.textContent = 'document.title = "inline ran"';
        document.body.appendChild(script);
      });
      await expect.poll(() => bc.takeProblems().join('\n')).toMatch(/Content Security Policy/);
      expect(await p.page.title()).not.toBe('inline ran');
    });
  });

  describe("a job's log", () => {
    test('the Logs page leads to the first attempt of a job that failed once and then succeeded, with that attempt’s lines', async () => {
      const p = await bc.signedIn('scientist');
      await p.submit(p.page.locator('nav.menu').getByRole('link', { name: 'Logs' }));
      await p.page.getByLabel('Workflow').fill(String(retried.workflowid));
      await p.submit(p.page.getByRole('button', { name: 'Filter' }));
      const files = (await p.rows('logs')).map((r) => r[0]);
      expect(files.sort()).toEqual([`${retried.workflowid}/${retried.jobid}.1.log`, `${retried.workflowid}/${retried.jobid}.2.log`]);
      expect(await p.submit(p.page.getByRole('link', { name: `${retried.workflowid}/${retried.jobid}.1.log` }))).toBe(200);
      expect(await p.page.getByRole('heading', { name: 'Attempt 1' }).isVisible()).toBe(true);
      const text = await p.page.locator('#log-text').textContent();
      expect(text).toContain('attempt 1 line 2');
      expect(text).toContain('attempt 1 fails on purpose');
      expect(text).not.toContain('attempt 2');
    });

    test('a search within a job’s log lists the lines that hold the text', async () => {
      const p = await bc.signedIn('scientist');
      await p.open(`/pfs/jobs/${retried.jobid}/log?attempt=1`);
      await p.page.getByRole('searchbox', { name: 'Find' }).fill('line 1');
      await p.submit(p.page.getByRole('button', { name: 'Find' }));
      const matches = (await p.rows('matches')).map((r) => r[1]);
      // Each line begins with the time it was written.
      expect(matches.map((m) => m.replace(/^\S+ /, ''))).toEqual([`${HTML_LINE} attempt 1 line 1`]);
    });

    test('HTML in a log line shows as text', async () => {
      const p = await bc.signedIn('scientist');
      await p.open(`/pfs/jobs/${retried.jobid}/log?attempt=2`);
      expect(await p.page.locator('#log-text').innerText()).toContain(`${HTML_LINE} attempt 2 line 0`);
      expect(await p.page.locator('.injected').count()).toBe(0);
    });
  });

  test('two configuration instances are diffed by clicking through Configuration tracking', async () => {
    const p = await bc.signedIn('scientist');
    await p.submit(p.page.locator('nav.menu').getByRole('link', { name: 'Configuration tracking' }));
    await p.submit(p.page.getByRole('link', { name: 'Configuration instances' }));
    expect((await p.rows('configs')).map((r) => Number(r[0])).slice(0, 2)).toEqual([configs.b, configs.a]);
    await p.submit(p.page.getByRole('link', { name: `with ${configs.a}` }));
    expect(new URL(p.page.url()).search).toBe(`?a=${configs.a}&b=${configs.b}`);
    const changed = (await p.rows('diff')).filter((r) => r[0] === 'changed').map((r) => r.slice(1));
    const poll = bc.c.h.dpc.config.pfs.pollMs;
    expect(changed).toEqual([['config.pfs.pollMs', String(poll), String(poll + 5)]]);
  });

  describe('Mission log, Node Monitor and Monitor', () => {
    test("the Mission log's text search, typed into its form, shows only the entries that hold the text, at a bookmarkable URL", async () => {
      const p = await bc.signedIn('scientist');
      await p.open('/ems/mission-log');
      await p.page.getByRole('searchbox', { name: 'Text' }).fill('QUOTA');
      await p.submit(p.page.getByRole('button', { name: 'Filter' }));
      expect((await p.rows('mission-log')).map((r) => r[3]).sort()).toEqual(['a workflow stopped on a disk quota', 'the quota report was sent']);
      expect(new URL(p.page.url()).searchParams.get('q')).toBe('QUOTA');
    });

    test("the Mission log's severity, subsystem and workflow filters, chosen in its form, show only the matching entries", async () => {
      const p = await bc.signedIn('scientist');
      await p.open('/ems/mission-log');
      await p.page.getByLabel('Show severity').selectOption('ERROR');
      await p.page.getByLabel('Subsystem').selectOption('rms');
      await p.submit(p.page.getByRole('button', { name: 'Filter' }));
      const rows = await p.rows('mission-log');
      expect(rows.map((r) => r[3])).toContain('a workflow stopped on a disk quota');
      expect(rows.map((r) => r[3])).toContain(`workflow doomed (${failedWorkflow}) FAILED: step doomed failed`);
      expect(new Set(rows.map((r) => `${r[1]} ${r[2]}`))).toEqual(new Set(['ERROR RMS']));

      await p.page.getByLabel('Workflow').fill(String(failedWorkflow));
      await p.submit(p.page.getByRole('button', { name: 'Filter' }));
      const ofWorkflow = await p.rows('mission-log');
      expect(ofWorkflow.length).toBeGreaterThan(0);
      expect(new Set(ofWorkflow.map((r) => r[5]))).toEqual(new Set([String(failedWorkflow)]));
    });

    test('the Node Monitor shows this process as a coordinator UP', async () => {
      const p = await bc.signedIn('scientist');
      await p.submit(p.page.locator('nav.menu').getByRole('link', { name: 'PFS' }));
      const coordinators = (await p.rows('nodes')).filter((r) => r[3] === 'coordinator');
      expect(coordinators.find((r) => r[0] === bc.c.h.dpc.processId)?.[1]).toBe('UP');
    });

    test('the Monitor draws a uPlot chart on a canvas for each of its figures', async () => {
      const p = await bc.signedIn('scientist');
      await p.submit(p.page.locator('nav.menu').getByRole('link', { name: 'Monitor' }));
      const figures = p.page.locator('figure.chart');
      const n = await figures.count();
      expect(n).toBeGreaterThan(3);
      // monitor.js fetches each chart's points and marks its figure when drawn.
      await p.page.locator('figure.chart[data-drawn]').nth(n - 1).waitFor({ state: 'attached' });
      expect(await p.page.locator('figure.chart .plot canvas').count()).toBe(n);
      const points = await figures.evaluateAll((fs) => fs.map((f) => Number((f as HTMLElement).dataset.drawn)));
      expect(points.some((n) => n > 1)).toBe(true);
    });
  });

  describe('screenshots of the main pages, full page, in test-results/screenshots/', () => {
    const pages: [string, () => string][] = [
      ['sign-in', () => '/smas/signin'],
      ['welcome', () => '/'],
      ['node-monitor', () => '/pfs/nodes'],
      ['logs', () => '/pfs/logs'],
      ['job-log', () => `/pfs/jobs/${retried.jobid}/log?attempt=1`],
      ['configuration-tracking', () => '/rms/solutions'],
      ['config-diff', () => `/rms/configs/diff?a=${configs.a}&b=${configs.b}`],
      ['mission-log', () => '/ems/mission-log'],
      ['alerts', () => '/ems/alerts'],
      // The last hour: the samples of this run fill its width.
      ['monitor', () => '/smas/monitor?range=1h'],
      ['audit', () => '/smas/audit'],
      ['users', () => '/smas/users'],
      ['my-account', () => '/smas/account'],
    ];
    test.each(pages)('%s renders for an admin and is saved', async (name, path) => {
      const p = name === 'sign-in' ? await bc.signedOut() : await bc.signedIn('admin');
      expect(await p.open(path())).toBe(200);
      if (name === 'monitor') await p.page.locator('figure.chart[data-drawn]').last().waitFor({ state: 'attached' });
      await p.screenshot(name);
    });
  });
});
