import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { failHeld, jobsOf, operator, type Harness } from '../fixtures/rms-harness.js';
import { startConsole, type ConsoleUnderTest } from '../helpers/console.js';

let c: ConsoleUnderTest;
let h: Harness;
let base: string;
beforeAll(async () => {
  c = await startConsole();
  h = c.h;
  base = `${c.base}/api/rms`;
});
afterAll(async () => {
  await c?.close();
});

const get = async (path: string) => {
  const res = await c.fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
const post = async (path: string, body: unknown) => {
  const res = await c.fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};

describe('the Workflow Manager API', () => {
  test('queries, counts and re-prioritises jobs by a filter in the query string, and asks for a reason', async () => {
    const { id } = await h.rms.start('held', { params: { n: 3 } }, operator);
    const page = await get(`/jobs/query?workflow=${id}&step=p&status=READY&limit=2`);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ plan: 'workflow', sort: 'id', partial: false });
    expect(page.body.jobs).toHaveLength(2);
    expect((await get(`/jobs/query?workflow=${id}&after=${page.body.next}`)).body.jobs).toHaveLength(1);
    expect((await get(`/jobs/count?workflow=${id}`)).body).toEqual({ count: 3, exact: true, plan: 'workflow', from: 'rms_job_count' });

    const refused = await post('/jobs/bulk', { action: 'priority', priority: 4, filter: { workflow: id } });
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'DPC_REASON_REQUIRED' } } });
    const done = await post('/jobs/bulk', { action: 'priority', priority: 4, filter: { workflow: id, status: 'READY' }, reason: 'rush' });
    expect(done).toMatchObject({ status: 200, body: { changed: 3, matched: 3 } });
    expect((await jobsOf(h, id)).map((j) => Number(j.priority))).toEqual([4, 4, 4]);
    const ids = (await jobsOf(h, id)).map((j) => Number(j.id));
    expect((await post('/jobs/priority', { ids: ids.slice(0, 2), priority: 7, reason: 'these two' })).body).toEqual({ changed: 2, skipped: [] });

    expect((await get('/jobs/query?status=FAILED')).body.error).toMatchObject({ code: 'DPC_RMS_PARAMS' });
    expect((await get(`/jobs/query?workflow=${id}&sort=sideways`)).status).toBe(400);
    await h.rms.actions.cancel(id, operator);
  });

  test("answers why a job waits, today's triage, the grid, a graph as JSON or SVG, and a day's workflows", async () => {
    const f = await failHeld(h, ['boom 1']);
    const { id } = await h.rms.start('held', { params: { n: 1 } }, operator);
    const [job] = await jobsOf(h, id);
    const why = await get(`/jobs/${job.id}/why`);
    expect(why.body).toMatchObject({ jobid: Number(job.id), status: 'READY', reasons: [{ code: 'NO_EXECUTOR_HERE' }] });
    const triage = await get('/triage');
    expect(triage.body.groups).toEqual([expect.objectContaining({ pattern: 'boom <n>', count: 1 })]);
    const retried = await post('/triage/retry', { from: triage.body.from, to: triage.body.to, pattern: 'boom <n>', tasktype: 't.noop', reason: 'fixed' });
    expect(retried.body).toMatchObject({ changed: 1 });
    expect((await get('/grid?name=held&n=2')).body.workflows.map((w: { id: number }) => w.id)).toEqual([id, f.workflowid]);
    expect((await get(`/workflows/${id}/graph`)).body.nodes).toHaveLength(1);
    const svg = await c.fetch(`${base}/workflows/${id}/graph?format=svg`);
    expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    const day = new Date().toISOString().slice(0, 10);
    expect((await get(`/workflows?day=${day}&name=held&limit=2`)).body.workflows.map((w: { id: number }) => w.id)).toEqual([id, f.workflowid]);
    expect((await get('/workflows?day=1999-01-01')).body.workflows).toEqual([]);
    for (const w of [id, f.workflowid]) await h.rms.actions.cancel(w, operator);
  });
});
