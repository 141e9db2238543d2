import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ended, failHeld, jobsOf, operator, workflowRow } from '../fixtures/rms-harness.js';
import { listWorkflows } from '../../subsystems/rms/sql/workflows.js';
import { addUser, signIn, type Session } from '../helpers/auth.js';
import { startConsole, tableHeads, tableRows, type ConsoleUnderTest } from '../helpers/console.js';

let c: ConsoleUnderTest;
let scientist: Session;
beforeAll(async () => {
  c = await startConsole();
  const s = await addUser(c.h.dpc.db, c.h.t.config, 'scientist');
  scientist = await signIn(c.base, s.username, s.password);
});
afterAll(async () => {
  await c?.close();
});
// The held pool's jobs are claimed by hand (failHeld): no test leaves a workflow waiting there, whatever its outcome.
afterEach(async () => {
  const waiting = (await c.h.knex('rms_workflow').select('id').whereIn('name', ['held', 'held-pair']).whereIn('status', ['RUNNING', 'PAUSED'])) as { id: number }[];
  for (const w of waiting) await c.h.rms.actions.cancel(Number(w.id), operator);
});

const unescape = (s: string) => s.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&#34;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&');

/** Submits a page's form as a browser does: form-encoded, with the session's CSRF token, not following the redirect. */
async function submit(path: string, fields: Record<string, string | string[]>, session: Session = c.session) {
  const body = new URLSearchParams({ _csrf: session.csrf });
  for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
  const res = await fetch(c.base + path, {
    method: 'POST',
    headers: { ...session.headers({ accept: 'text/html' }), 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
    redirect: 'manual',
  });
  return { status: res.status, location: res.headers.get('location') ?? '', text: await res.text() };
}

const audits = async (action: string) => (await c.h.knex('smas_audit').where({ action }).orderBy('id')) as { username: string; reason: string | null; target: string | null }[];

/** A `held` workflow: its jobs wait in the held pool, which only the tests claim. */
async function held(n = 2, params: Record<string, unknown> = {}) {
  return (await c.h.rms.start('held', { params: { n, ...params } }, operator)).id;
}

describe('the Workflow Descriptor page', () => {
  test('lists each descriptor with its version, steps and triggers, and its workflows and grid links', async () => {
    const page = await c.get('/rms/descriptors');
    expect(page.status).toBe(200);
    expect(tableHeads(page.text, 'descriptors').slice(0, 7)).toEqual(['NAME', 'VERSION', 'VERSIONS', 'OUTPUT', 'PRIORITY', 'STEPS', 'TRIGGERS']);
    const dag = tableRows(page.text, 'descriptors').find((r) => r[0] === 'dag')!;
    expect(dag.slice(1, 2)).toEqual(['1']);
    expect(dag[5]).toBe('4');
    expect(tableRows(page.text, 'descriptors').find((r) => r[0] === 'on-data')![6]).toBe('data TestData');
    expect(page.text).toContain('href="/rms/workflows?name=dag"');
    expect(page.text).toContain('href="/rms/grid?name=dag"');
  });

  test('its JSON twin gives each descriptor with its versions and triggers', async () => {
    const { descriptors } = (await c.get('/api/rms/descriptors')).json();
    expect(descriptors.find((d: { name: string }) => d.name === 'on-data')).toMatchObject({ version: 1, steps: 1, triggers: [{ kind: 'data', dmtype: 'TestData' }] });
    expect(descriptors.find((d: { name: string }) => d.name === 'dag').versions).toHaveLength(1);
  });

  test('the Trigger form starts a workflow with the parameters typed as key=value lines, audited with its reason', async () => {
    const res = await submit('/rms/descriptors/held/trigger', { params: 'n=3\nlabel=nightly rerun', priority: '7', reason: 'rerun after the disk fix' });
    expect(res.status).toBe(303);
    const id = Number(/^\/rms\/workflows\/(\d+)\?done=/.exec(res.location)?.[1]);
    const wf = await workflowRow(c.h, id);
    expect(JSON.parse(String(wf.params))).toEqual({ n: 3, label: 'nightly rerun' });
    expect(Number(wf.priority)).toBe(7);
    expect((await audits('workflow.manual')).find((a) => a.target === `workflow ${id}`)?.reason).toBe('rerun after the disk fix');
  });

  test('the Backfill form starts one workflow per day', async () => {
    const res = await submit('/rms/backfill', { name: 'simple', from: '2026-01-01', to: '2026-01-03', reason: 'the January gap' });
    expect(res.status).toBe(303);
    expect(res.location).toMatch(/^\/rms\/workflows\?name=simple&done=/);
    const made = (await audits('workflow.backfill')).filter((a) => a.reason === 'the January gap');
    expect(made).toHaveLength(3);
  });
});

describe('workflows Recent and History', () => {
  test('Recent lists the newest first with the DPCT’s columns and jobs done of total from the per-step counts', async () => {
    const a = await held(2);
    const b = await held(3);
    const page = await c.get('/rms/workflows?name=held');
    expect(page.status).toBe(200);
    expect(tableHeads(page.text, 'workflows').slice(0, 3)).toEqual(['ID', 'NAME', 'STATUS']);
    const rows = tableRows(page.text, 'workflows');
    expect(rows.slice(0, 2).map((r) => [r[0], r[1], r[2], r[10]])).toEqual([
      [String(b), 'held', 'RUNNING', '0/3'],
      [String(a), 'held', 'RUNNING', '0/2'],
    ]);
  });

  test('Recent’s JSON twin gives each workflow with its jobs done, failed and in all', async () => {
    const { workflowid } = await failHeld(c.h, ['no space left']);
    const { workflows } = (await c.get(`/api/rms/workflows?name=held&limit=1`)).json();
    expect(workflows.map((w: { id: number; status: string; jobs: unknown }) => [w.id, w.status, w.jobs])).toEqual([[workflowid, 'FAILED', { done: 0, failed: 1, total: 1 }]]);
  });

  test('Recent follows its page live while a shown workflow runs, and not once all have ended', async () => {
    const id = await held(1);
    expect((await c.get('/rms/workflows?name=held&limit=1')).text).toContain('data-live-list="/api/rms/workflows?name=held&amp;limit=1"');
    await c.h.rms.actions.cancel(id, operator);
    expect((await c.get('/rms/workflows?name=held&limit=1')).text).not.toContain('data-live-list');
  });

  test('How many shows the count of the workflows that match, however many are shown', async () => {
    const ids = [await held(1), await held(1), await held(1)];
    for (const id of ids) await c.h.rms.actions.cancel(id, operator);
    const expected = Number((await c.h.knex('rms_workflow').where({ name: 'held', status: 'CANCELLED' }).count({ n: '*' }))[0].n);
    const page = await c.get('/rms/workflows?name=held&status=CANCELLED&limit=2');
    expect(/id="how-many" data-count="(\d+)"/.exec(page.text)?.[1]).toBe(String(expected));
    expect(tableRows(page.text, 'workflows')).toHaveLength(2);
    expect((await c.get('/api/rms/workflows/count?name=held&status=CANCELLED')).json()).toEqual({ count: expected, exact: true });
  });

  test('the Older link pages by the key of the last row, never by an offset', async () => {
    const ids = [await held(1), await held(1), await held(1)];
    const first = await c.get('/rms/workflows?name=held&limit=2');
    const next = unescape(/<a href="([^"]+)" rel="next">/.exec(first.text)?.[1] ?? '');
    expect(next).toBe(`/rms/workflows?name=held&limit=2&before=${ids[1]}`);
    expect(next).not.toMatch(/offset|page=/);
    // The statement behind the page starts at the key: no OFFSET to read past.
    const sql = listWorkflows(c.h.knex, { before: ids[1], limit: 2, name: 'held', status: null, created: null }).toString();
    expect(sql).toMatch(/[`"]id[`"] < /);
    expect(sql).not.toMatch(/offset/i);
    const second = await c.get(next);
    expect(tableRows(second.text, 'workflows')[0][0]).toBe(String(ids[0]));
  });

  test('History shows the workflows created on a day, and none of a day without', async () => {
    const id = await held(1);
    const today = new Date().toISOString().slice(0, 10);
    expect(tableRows((await c.get(`/rms/workflows?day=${today}&name=held`)).text, 'workflows')[0][0]).toBe(String(id));
    const empty = await c.get('/rms/workflows?day=2001-01-01');
    expect(/data-count="(\d+)"/.exec(empty.text)?.[1]).toBe('0');
    expect((await c.get('/rms/workflows?day=yesterday')).status).toBe(400);
  });
});

describe('one workflow', () => {
  test('shows its facts, its graph from the API, per-step counts and its jobs with the DPCT’s columns and log links', async () => {
    const id = await held(3);
    const page = await c.get(`/rms/workflows/${id}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`src="/api/rms/workflows/${id}/graph?format=svg"`);
    expect((await c.get(`/api/rms/workflows/${id}/graph?format=svg`)).type).toMatch(/^image\/svg\+xml/);
    const heads = tableHeads(page.text, 'steps');
    const steps = tableRows(page.text, 'steps');
    expect(steps[0][heads.indexOf('READY')]).toBe('3');
    expect(tableHeads(page.text, 'jobs').slice(1, 7)).toEqual(['ID', 'STATUS', 'SOLUTIONID', 'LOGS', 'DATASPEC', 'TASKTYPE']);
    const jobs = await jobsOf(c.h, id);
    expect(tableRows(page.text, 'jobs').map((r) => r[1])).toEqual(jobs.map((j) => String(j.id)));
    expect(page.text).toContain(`href="/pfs/jobs/${jobs[0].id}/log"`);
    expect(page.text).toContain(`data-live="/api/rms/workflows/${id}"`);
    expect(page.text).toContain('src="/static/workflow-live.js"');
  });

  test('its jobs table filters by status', async () => {
    const id = await held(2);
    const [one] = await jobsOf(c.h, id);
    await c.h.rms.actions.cancelJob(Number(one.id), operator);
    const page = await c.get(`/rms/workflows/${id}?status=CANCELLED`);
    expect(tableRows(page.text, 'jobs').map((r) => [r[1], r[2]])).toEqual([[String(one.id), 'CANCELLED']]);
  });

  test('an action without a reason is refused with a message that asks for one, and changes nothing', async () => {
    const id = await held(1);
    const res = await submit(`/rms/workflows/${id}/pause`, { reason: '  ' });
    expect(res.status).toBe(400);
    expect(unescape(res.text)).toContain('workflow.pause needs a reason');
    expect((await workflowRow(c.h, id)).status).toBe('RUNNING');
  });

  test('an action with a reason changes the workflow, comes back to its page and is audited with that reason', async () => {
    const id = await held(1);
    const res = await submit(`/rms/workflows/${id}/pause`, { reason: 'storage maintenance' });
    expect(res.status).toBe(303);
    expect(res.location).toMatch(new RegExp(`^/rms/workflows/${id}\\?done=`));
    expect((await workflowRow(c.h, id)).status).toBe('PAUSED');
    expect((await audits('workflow.pause')).find((a) => a.target === `workflow ${id}`)).toMatchObject({ username: expect.stringMatching(/^operator-/), reason: 'storage maintenance' });
    const back = await c.get(res.location);
    expect(back.text).toContain('data-done');
  });

  test('Change jobs priority on the selected jobs changes only those', async () => {
    const id = await held(3);
    const jobs = await jobsOf(c.h, id);
    const res = await submit(`/rms/workflows/${id}/jobs`, { action: 'priority', job: [String(jobs[0].id), String(jobs[2].id)], priority: '42', reason: 'urgent calibration' });
    expect(res.status, res.text).toBe(303);
    expect((await jobsOf(c.h, id)).map((j) => Number(j.priority))).toEqual([42, Number(jobs[1].priority), 42]);
    expect((await audits('jobs.priority')).at(-1)?.reason).toBe('urgent calibration');
  });

  test('Change jobs priority on the whole workflow changes every waiting job of it', async () => {
    const id = await held(3);
    const res = await submit(`/rms/workflows/${id}/priority`, { priority: '-5', reason: 'behind the reprocessing' });
    expect(res.status).toBe(303);
    expect((await jobsOf(c.h, id)).map((j) => Number(j.priority))).toEqual([-5, -5, -5]);
    expect((await audits('jobs.bulk-priority')).at(-1)?.reason).toBe('behind the reprocessing');
  });

  test('a job’s Retry form runs a cancelled job again', async () => {
    const id = await held(2);
    const [one] = await jobsOf(c.h, id);
    await c.h.rms.actions.cancelJob(Number(one.id), operator);
    const res = await submit(`/rms/jobs/${one.id}/retry`, { reason: 'cancelled by mistake' });
    expect(res.status).toBe(303);
    expect(res.location).toMatch(new RegExp(`^/rms/jobs/${one.id}\\?done=`));
    expect((await jobsOf(c.h, id))[0].status).toBe('READY');
  });

  test('Resume failed jobs on the page puts the failed jobs back in the queue', async () => {
    const { workflowid, jobids } = await failHeld(c.h, ['disk full', 'disk full']);
    const res = await submit(`/rms/workflows/${workflowid}/resume-failed`, { reason: 'disk cleaned' });
    expect(res.status).toBe(303);
    expect((await jobsOf(c.h, workflowid)).map((j) => [Number(j.id), j.status])).toEqual(jobids.map((id) => [id, 'READY']));
  });

  test('a scientist gets 403 on an action and the workflow stays as it was', async () => {
    const id = await held(1);
    const res = await submit(`/rms/workflows/${id}/cancel`, { reason: 'not mine to cancel' }, scientist);
    expect(res.status).toBe(403);
    expect((await workflowRow(c.h, id)).status).toBe('RUNNING');
  });

  test('HTML in a workflow’s parameters is shown escaped', async () => {
    const id = await held(1, { note: '<script>alert("x")</script>' });
    const page = await c.get(`/rms/workflows/${id}`);
    expect(page.text).not.toContain('<script>alert');
    expect(page.text).toContain('&lt;script&gt;alert(\\&#34;x\\&#34;)&lt;/script&gt;');
  });
});

describe('one job', () => {
  test('says why a job waits on its upstream step, and lists that step', async () => {
    const { id } = await c.h.rms.start('held-pair', { params: { n: 2, m: 1 } }, operator);
    const second = (await jobsOf(c.h, id)).find((j) => j.step === 'second')!;
    const page = await c.get(`/rms/jobs/${second.id}`);
    expect(page.status).toBe(200);
    expect(tableRows(page.text, 'dependencies')).toEqual([['first', 'RUNNING', '0/2', '0']]);
    const why = [...page.text.matchAll(/<li data-why="(\w+)">([\s\S]*?)<\/li>/g)].map((m) => [m[1], unescape(m[2].replace(/<[^>]+>/g, ''))]);
    expect(why.map((w) => w[0])).toContain('UPSTREAM_NOT_FINISHED');
    expect(why.find((w) => w[0] === 'UPSTREAM_NOT_FINISHED')![1]).toMatch(/first/);
  });

  test('links each attempt to its log', async () => {
    const { id } = await c.h.rms.start('doomed', {}, operator);
    await ended(c.h, id);
    const doomed = (await jobsOf(c.h, id)).find((j) => j.step === 'doomed')!;
    const page = await c.get(`/rms/jobs/${doomed.id}`);
    expect(tableRows(page.text, 'attempts').map((r) => r[0])).toEqual(['1', '2']);
    expect(page.text).toContain(`href="/pfs/jobs/${doomed.id}/log?attempt=2"`);
    expect(page.text).not.toContain('id="why"');
  });
});

describe('pools on the Node Monitor', () => {
  test('the Drain form drains a pool, audited with its reason', async () => {
    const res = await fetch(`${c.base}/pfs/nodes`, { headers: c.session.headers() });
    expect(await res.text()).toContain('action="/pfs/pools/local/drain"');
    const drained = await submit('/pfs/pools/spare/drain', { reason: 'node swap' });
    expect(drained.status).toBe(303);
    expect((await c.h.pfs.pools()).find((p) => p.name === 'spare')?.state).toBe('DRAINED');
    expect((await audits('pool.drain')).at(-1)).toMatchObject({ target: 'pool spare', reason: 'node swap' });
  });
});
