import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseJobFilter } from '../../subsystems/rms/jobQuery.js';
import { failHeld, jobsOf, operator, startHarness, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

const ids = (rows: Record<string, unknown>[]) => rows.map((r) => Number(r.id));

describe('the job query', () => {
  test("pages through a workflow's jobs by id, each once, and counts them from the per-step counts", async () => {
    const { id } = await h.rms.start('held', { params: { n: 7 } }, operator);
    const all = ids(await jobsOf(h, id));
    const seen: number[] = [];
    let after: string | undefined;
    for (let i = 0; i < 5; i++) {
      const page = await h.rms.ops.jobs.page({ workflowid: id }, { after, limit: 3, now: Date.now() });
      expect(page.plan).toBe('workflow');
      seen.push(...ids(page.jobs));
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toEqual(all);
    const back = await h.rms.ops.jobs.page({ workflowid: id }, { sort: '-id', limit: 50, now: Date.now() });
    expect(ids(back.jobs)).toEqual([...all].reverse());
    expect(await h.rms.ops.jobs.count({ workflowid: id, status: ['READY'] }, Date.now())).toEqual({ count: 7, exact: true, plan: 'workflow', from: 'rms_job_count' });
    await h.rms.actions.cancel(id, operator);
  });

  test("reads a large workflow's range in slices of a bounded number of job ids, and finds every job", async () => {
    const { id } = await h.rms.start('held', { params: { n: 5 } }, operator);
    const p = await h.rms.ops.jobs.plan({ workflowid: id });
    const slices = [];
    for await (const s of h.rms.ops.jobs.slices(h.knex, p, 'asc', null, 2, Date.now())) slices.push(s);
    expect(slices.map((s) => s.size)).toEqual([2, 2, 1]);
    const read = [];
    for (const s of slices) read.push(...ids(await h.rms.ops.jobs.read(h.knex, p, s, 'asc', 10, true)));
    expect(read).toEqual(ids(await jobsOf(h, id)));
    await h.rms.actions.cancel(id, operator);
  });

  test('finds failed jobs by a piece of their reason (any case) or by exit code, newest first, over a finished range', async () => {
    const start = Date.now() - 1;
    const { jobids } = await failHeld(h, ['reader: No such file /data/1.arrow', 'prog exited with code 3', 'prog exited with code 30', 'reader: no such file /data/2.arrow']);
    const failed = { status: parseJobFilter({ status: 'failed' }).status, finishedFrom: start };
    const byText = await h.rms.ops.jobs.page({ ...failed, reason: 'NO SUCH FILE' }, { now: Date.now() });
    expect(byText.plan).toBe('finished');
    expect(ids(byText.jobs).sort()).toEqual([jobids[0], jobids[3]].sort());
    // Newest first: by end time, then id.
    const ends = byText.jobs.map((j) => [Number(j.endtime), Number(j.id)]);
    expect([...ends].sort((a, b) => b[0] - a[0] || b[1] - a[1])).toEqual(ends);
    expect(ids((await h.rms.ops.jobs.page({ ...failed, exitCode: 3 }, { now: Date.now() })).jobs)).toEqual([jobids[1]]);
    expect(await h.rms.ops.jobs.count({ ...failed, reason: 'exited' }, Date.now())).toMatchObject({ count: 2, exact: true, from: 'rms_job' });
    // A LIKE wildcard in the text is a character to find, not a wildcard.
    expect((await h.rms.ops.jobs.page({ ...failed, reason: '%' }, { now: Date.now() })).jobs).toEqual([]);
  });

  test('lists the READY jobs of a pool in claim order when sorted by priority', async () => {
    const { id } = await h.rms.start('held', { params: { n: 3 } }, operator);
    const [a, b, c] = ids(await jobsOf(h, id));
    await h.rms.actions.setPriority(c, 5, operator);
    const page = await h.rms.ops.jobs.page({ pool: 'held', workflowid: id }, { sort: 'priority', limit: 2, now: Date.now() });
    expect(page.plan).toBe('queue');
    expect(ids(page.jobs)).toEqual([c, a]);
    const rest = await h.rms.ops.jobs.page({ pool: 'held', workflowid: id }, { sort: 'priority', after: page.next!, limit: 2, now: Date.now() });
    expect(ids(rest.jobs)).toEqual([b]);
    await h.rms.actions.cancel(id, operator);
  });

  test('finds jobs not yet finished over every running workflow, newest first', async () => {
    const one = await h.rms.start('held', { params: { n: 2 } }, operator);
    const two = await h.rms.start('held', { params: { n: 2 } }, operator);
    const page = await h.rms.ops.jobs.page({ status: ['READY'] }, { now: Date.now() });
    expect(page.plan).toBe('running');
    expect(ids(page.jobs)).toEqual([...ids(await jobsOf(h, two.id)), ...ids(await jobsOf(h, one.id))].sort((x, y) => y - x));
    await h.rms.actions.cancel(one.id, operator);
    await h.rms.actions.cancel(two.id, operator);
  });

  test('refuses a filter that would search every job, and bad fields, naming what to give', async () => {
    await expect(h.rms.ops.jobs.page({ status: ['FAILED'] }, { now: Date.now() })).rejects.toMatchObject({ code: 'DPC_RMS_PARAMS', message: expect.stringMatching(/finishedFrom/) });
    await expect(h.rms.ops.jobs.page({ workflowid: 1 }, { sort: 'finished', now: Date.now() })).rejects.toMatchObject({ message: expect.stringMatching(/sorts by id or -id/) });
    expect(() => parseJobFilter({ status: 'READY,DONE' })).toThrow(/DONE is not a job state/);
    expect(() => parseJobFilter({ finishedFrom: 'yesterday' })).toThrow(/finishedFrom must be a time/);
    expect(() => parseJobFilter({ createdFrom: '2026-02-01', createdTo: '2026-01-01' })).toThrow(/createdTo must be after createdFrom/);
    expect(parseJobFilter({ createdFrom: '2026-01-01' }).createdFrom).toBe(Date.UTC(2026, 0, 1));
  });

  test('reads a date-time without an offset, as a datetime-local field sends it, as UTC whatever the server’s time zone', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(parseJobFilter({ finishedFrom: '2026-01-31T12:00', finishedTo: '2026-01-31T12:30:15' })).toEqual({ finishedFrom: Date.UTC(2026, 0, 31, 12), finishedTo: Date.UTC(2026, 0, 31, 12, 30, 15) });
      expect(parseJobFilter({ createdFrom: '2026-01-31T12:00:00+01:00' }).createdFrom).toBe(Date.UTC(2026, 0, 31, 11));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
});
