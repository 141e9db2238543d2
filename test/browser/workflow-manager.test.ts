import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ended, failHeld, jobsOf, operator } from '../fixtures/rms-harness.js';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { hasChromium } from '../helpers/browser.js';
import { useBrowserConsole } from '../helpers/browserConsole.js';

/**
 * The Workflow Manager in a real Chromium: an operator follows a workflow, resumes and
 * retries failed jobs, re-prioritises queued ones and asks why a job waits, with clicks and
 * typing on the pages the server renders. The jobs of the held pool stand still until a test
 * claims them through the harness's queue: what "the jobs finish beside the page" is.
 */
describe.skipIf(!hasChromium())('the Workflow Manager in Chromium', () => {
  const bc = useBrowserConsole();
  /** A `dag` workflow that has ended: its graph and grid have every step. */
  let dag: number;

  beforeAll(async () => {
    const { h } = bc.c;
    dag = (await h.rms.start('dag', { params: { file: join(h.t.dir, 'dag.txt') } }, operator)).id;
    const doomed = (await h.rms.start('doomed', {}, operator)).id;
    for (const id of [dag, doomed]) await ended(h, id);
  });
  // A test claims the held pool's jobs by hand: none may find another test's jobs waiting there.
  afterEach(async () => {
    const { h } = bc.c;
    const waiting = (await h.knex('rms_workflow').select('id').whereIn('name', ['held', 'held-pair']).whereIn('status', ['RUNNING', 'PAUSED'])) as { id: number }[];
    for (const w of waiting) await h.rms.actions.cancel(Number(w.id), operator);
  });

  const start = async (name: 'held' | 'held-pair', params: Record<string, unknown>) => (await bc.c.h.rms.start(name, { params }, operator)).id;
  const jobIds = async (workflowid: number) => (await jobsOf(bc.c.h, workflowid)).map((j) => Number(j.id));
  /** Claims `n` jobs of the held pool and records them SUCCESS, as a process that ran them would. */
  async function finishHeld(n: number): Promise<number[]> {
    const { queue } = bc.c.h.rms;
    const claimed = await queue.claim(HELD_POOL, n);
    await queue.record(claimed, claimed.map((job) => ({ job, status: 'SUCCESS' as const })));
    return claimed.map((j) => j.id);
  }
  const jobRow = async (id: number) => (await bc.c.h.knex('rms_job').where({ id }).first()) as { status: string; priority: number; attempts: number };
  const audits = async (action: string, reason: string) => (await bc.c.h.knex('smas_audit').where({ action, reason })) as { username: string }[];

  test("a running workflow's page updates its status and counts as its jobs finish, without reloading, and stops following once it has ended", async () => {
    const id = await start('held', { n: 3 });
    const p = await bc.signedIn('operator');
    await p.open(`/rms/workflows/${id}`);
    await p.page.evaluate(() => ((window as unknown as { marker: string }).marker = 'the same document'));
    const wf = p.page.locator('#workflow');
    expect(await wf.getAttribute('data-live-state')).toBe('polling');
    const success = p.page.locator('#steps tr[data-step="total"] [data-count="SUCCESS"]');
    expect(await success.innerText()).toBe('0');

    await finishHeld(1);
    await p.page.locator('#steps tr[data-step="total"] [data-count="SUCCESS"][data-updated]').waitFor();
    expect(await success.innerText()).toBe('1');
    expect(await p.page.locator('#facts [data-field="status"]').innerText()).toBe('RUNNING');

    await finishHeld(2);
    await p.page.locator('#workflow[data-live-state="stopped"]').waitFor({ state: 'attached' });
    expect(await success.innerText()).toBe('3');
    expect(await p.page.locator('#facts [data-field="status"][data-updated]').innerText()).toBe('SUCCESS');
    expect(await p.page.locator('#live-state').innerText()).toContain('has ended SUCCESS');
    expect(await p.page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('the same document');
  });

  test('Resume failed jobs, with a reason typed in, makes the failed jobs of a workflow READY again and audits the reason', async () => {
    const { workflowid, jobids } = await failHeld(bc.c.h, ['disk full on /scratch', 'disk full on /scratch']);
    const p = await bc.signedIn('operator');
    await p.open(`/rms/workflows/${workflowid}`);
    expect(await p.page.locator('#facts [data-field="status"]').innerText()).toBe('FAILED');
    const form = p.page.locator('form[data-action="resume-failed"]');
    await form.getByLabel('Reason').fill('the scratch disk has room again');
    expect(await p.submit(form.getByRole('button', { name: 'Resume failed jobs' }))).toBe(200);
    expect(await p.page.locator('p.done').innerText()).toBe(`workflow ${workflowid}: 2 failed job(s) resumed`);
    expect(await p.page.locator('#facts [data-field="status"]').innerText()).toBe('RUNNING');
    expect((await Promise.all(jobids.map(jobRow))).map((j) => j.status)).toEqual(['READY', 'READY']);
    expect(await audits('workflow.resume-failed', 'the scratch disk has room again')).toMatchObject([{ username: p.user!.username }]);
  });

  test("raising a READY job's priority on its page makes the queue claim it before an older job", async () => {
    const [older, later] = await jobIds(await start('held', { n: 2 }));
    expect((await jobRow(later)).priority).toBe((await jobRow(older)).priority);
    const p = await bc.signedIn('operator');
    await p.open(`/rms/jobs/${later}`);
    const form = p.page.locator('form[data-action="priority"]');
    await form.getByLabel('New priority').fill('40');
    await form.getByLabel('Reason').fill('the calibration needs it first');
    expect(await p.submit(form.getByRole('button', { name: 'Change priority' }))).toBe(200);
    expect(await p.page.locator('p.done').innerText()).toBe(`job ${later}: priority done`);
    expect(await finishHeld(1)).toEqual([later]);
  });

  test('the bulk form of a filtered job query gives every matching job the new priority in one audited action', async () => {
    const chosen = await start('held', { n: 3 });
    const other = await start('held', { n: 1 });
    const p = await bc.signedIn('operator');
    await p.open('/rms/jobs');
    await p.page.locator('#job-filter').getByLabel('READY', { exact: true }).check();
    await p.page.locator('#job-filter').getByLabel('Workflow').fill(String(chosen));
    await p.submit(p.page.getByRole('button', { name: 'Filter' }));
    expect(await p.page.locator('#match-count').innerText()).toMatch(/^3 jobs match/);
    const bulk = p.page.locator('#bulk-form');
    await bulk.getByLabel('Action').selectOption('priority');
    await bulk.getByLabel('New priority').fill('25');
    await bulk.getByLabel('Reason').fill('the night shift first');
    expect(await p.submit(bulk.getByRole('button', { name: 'Apply to the matching jobs' }))).toBe(200);
    expect(await p.page.locator('#outcome').innerText()).toBe('Bulk priority: 3 job(s) changed of 3 matching.');
    expect((await Promise.all((await jobIds(chosen)).map(jobRow))).map((j) => j.priority)).toEqual([25, 25, 25]);
    expect((await jobRow((await jobIds(other))[0])).priority).not.toBe(25);
    expect(await audits('jobs.bulk-priority', 'the night shift first')).toHaveLength(1);
  });

  test('Retry the group on the triage page retries both failures whose reasons differ only in a number', async () => {
    const { jobids } = await failHeld(bc.c.h, ['quota of project 17 exceeded', 'quota of project 2048 exceeded']);
    const p = await bc.signedIn('operator');
    await p.open('/rms/triage');
    const group = p.page.locator('tr.triage-group', { hasText: 'exceeded' }).filter({ hasText: 'quota of project' });
    expect(await group.count()).toBe(1);
    expect(await group.locator('td').first().innerText()).toBe('2');
    await group.getByLabel('Reason for retrying the group').fill('the quota was raised');
    expect(await p.submit(group.getByRole('button', { name: 'Retry the group' }))).toBe(200);
    expect(await p.page.locator('#outcome').innerText()).toBe('Retry the group: 2 job(s) changed of 2 matching.');
    expect((await Promise.all(jobids.map(jobRow))).map((j) => j.status)).toEqual(['READY', 'READY']);
  });

  describe('why a job waits', () => {
    test('a WAITING job reached from its workflow’s jobs table says it runs after its upstream step', async () => {
      const id = await start('held-pair', { n: 1, m: 1 });
      const [, second] = await jobIds(id);
      const p = await bc.signedIn('scientist');
      await p.open(`/rms/workflows/${id}`);
      expect(await p.submit(p.page.locator('#jobs').getByRole('link', { name: String(second), exact: true }))).toBe(200);
      expect(new URL(p.page.url()).pathname).toBe(`/rms/jobs/${second}`);
      const why = p.page.locator('#why li[data-why="UPSTREAM_NOT_FINISHED"]');
      expect(await why.innerText()).toContain('it runs after');
      expect(await why.innerText()).toContain('first');
    });

    test('a READY job of a paused workflow says its workflow is PAUSED', async () => {
      const id = await start('held', { n: 1 });
      await bc.c.h.rms.actions.pause(id, { username: 'alice', reason: 'the archive is read-only' });
      const p = await bc.signedIn('scientist');
      await p.open(`/rms/jobs/${(await jobIds(id))[0]}`);
      expect(await p.page.locator('#why li[data-why="WORKFLOW_PAUSED"]').innerText()).toContain(`(${id}) is PAUSED (the archive is read-only)`);
    });

    test('a READY job of a drained pool says the pool is DRAINED', async () => {
      const { h } = bc.c;
      const id = await start('held', { n: 1 });
      await h.pfs.drain(HELD_POOL, { username: 'alice', reason: 'the node is serviced' });
      try {
        const p = await bc.signedIn('scientist');
        await p.open(`/rms/jobs/${(await jobIds(id))[0]}`);
        expect(await p.page.locator('#why li[data-why="POOL_DRAINED"]').innerText()).toContain(`pool ${HELD_POOL} is DRAINED`);
      } finally {
        await h.pfs.open(HELD_POOL, { username: 'alice', reason: 'serviced' });
      }
    });
  });

  test("a scientist who clicks Pause on a workflow's page gets the 403 page and the workflow runs on", async () => {
    const id = await start('held', { n: 1 });
    const p = await bc.signedIn('scientist');
    await p.open(`/rms/workflows/${id}`);
    const form = p.page.locator('form[data-action="pause"]');
    await form.getByLabel('Reason').fill('a scientist tries');
    expect(await p.submit(form.getByRole('button', { name: 'Pause' }))).toBe(403);
    expect(await p.page.locator('h1').innerText()).toBe('Error');
    expect(await p.page.locator('p.error').innerText()).toContain('DPC_SMAS_FORBIDDEN');
    expect((await bc.c.h.knex('rms_workflow').where({ id }).first()).status).toBe('RUNNING');
  });

  describe('screenshots of the Workflow Manager, full page, in test-results/screenshots/', () => {
    const pages: [string, () => Promise<string>][] = [
      ['rms-descriptors', async () => '/rms/descriptors'],
      ['rms-workflows', async () => '/rms/workflows'],
      ['rms-workflow', async () => `/rms/workflows/${dag}`],
      ['rms-job-why', async () => `/rms/jobs/${(await jobIds(await start('held-pair', { n: 2, m: 2 })))[3]}`],
      ['rms-jobs-bulk', async () => `/rms/jobs?workflow=${dag}`],
      ['rms-triage', async () => '/rms/triage'],
      ['rms-grid', async () => '/rms/grid?name=dag'],
    ];
    test.each(pages)('%s renders for an operator no wider than the window, and is saved', async (name, path) => {
      const p = await bc.signedIn('operator');
      expect(await p.open(await path())).toBe(200);
      if (name === 'rms-workflow') await p.page.waitForFunction(() => (document.getElementById('graph') as HTMLImageElement | null)?.complete === true);
      await p.screenshot(name);
      // Dense tables of one line a row, as the DPCT's: none pushes the page past the window's width.
      expect(await p.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    });
  });
});
