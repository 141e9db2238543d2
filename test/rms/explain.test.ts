import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { jobsOf, operator, startHarness, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

const codes = async (jobid: number) => (await h.rms.ops.explain.why(jobid)).reasons.map((r) => r.code);
const reason = async (jobid: number, code: string) => (await h.rms.ops.explain.why(jobid)).reasons.find((r) => r.code === code);

describe('why is this job not running?', () => {
  test('a WAITING job names its upstream step and how many of its jobs are left; paused, it says so', async () => {
    const { id } = await h.rms.start('held-pair', { params: { n: 2, m: 1 } }, operator);
    const jobs = await jobsOf(h, id);
    const second = jobs.find((j) => j.step === 'second')!;
    const up = await reason(Number(second.id), 'UPSTREAM_NOT_FINISHED');
    expect(up?.text).toBe('it runs after step first is RUNNING: 2 of its 2 job(s) not finished (2 READY)');
    expect(up?.facts).toMatchObject({ steps: [{ step: 'first', status: 'RUNNING', left: 2, total: 2 }] });

    await h.rms.actions.pause(id, operator);
    expect(await codes(Number(jobs[0].id))).toContain('WORKFLOW_PAUSED');
    await h.rms.actions.cancel(id, operator);
    expect(await codes(Number(jobs[0].id))).toEqual(['NOT_WAITING']);
  });

  test('a READY job counts the jobs of higher priority ahead of it and its older ones; no executor here serves its pool', async () => {
    const { id } = await h.rms.start('held', { params: { n: 3 } }, operator);
    const [a, b, c] = (await jobsOf(h, id)).map((j) => Number(j.id));
    await h.rms.actions.setPriority(c, 5, operator);
    const ahead = await reason(b, 'QUEUE_AHEAD');
    expect(ahead?.facts).toMatchObject({ higher: 1, older: 1 });
    expect(ahead?.text).toBe(`1 READY job(s) of higher priority than 0 and 1 older one(s) of its priority and request are ahead of it in pool ${HELD_POOL}`);
    expect(await codes(c)).toEqual(['NO_EXECUTOR_HERE']);
    expect(await codes(a)).toEqual(['NO_EXECUTOR_HERE', 'QUEUE_AHEAD']);
    const [claimed] = await h.rms.queue.claim(HELD_POOL, 1);
    expect(claimed.id).toBe(c);
    expect((await h.rms.ops.explain.why(c)).reasons[0]).toMatchObject({ code: 'NOT_WAITING', text: expect.stringMatching(/^it is CLAIMED: process .* holds it/) });
    await h.rms.queue.record([claimed], [{ job: claimed, status: 'SUCCESS' }]);
    await h.rms.actions.cancel(id, operator);
  });

  test('a drained pool is named with who drained it and why', async () => {
    const { id } = await h.rms.start('held', { params: { n: 1 } }, operator);
    const [job] = await jobsOf(h, id);
    await h.pfs.drain(HELD_POOL, { username: 'frank', reason: 'node maintenance' });
    try {
      expect((await reason(Number(job.id), 'POOL_DRAINED'))?.text).toMatch(new RegExp(`^pool ${HELD_POOL} is DRAINED since .* by frank \\(node maintenance\\)`));
    } finally {
      await h.pfs.open(HELD_POOL, { username: 'frank', reason: 'done' });
    }
    expect(await codes(Number(job.id))).toEqual(['NO_EXECUTOR_HERE']);
    await h.rms.actions.cancel(id, operator);
  });

  test('a request that had more of the pool than another of the same priority waits its fair share', async () => {
    const first = await h.rms.start('held', { params: { n: 3 } }, operator);
    const second = await h.rms.start('held', { params: { n: 3 } }, operator);
    // Two claims each share out one job per request; the third goes to the older request on a tie.
    const claimed = [...(await h.rms.queue.claim(HELD_POOL, 2)), ...(await h.rms.queue.claim(HELD_POOL, 1))];
    expect(claimed.map((j) => j.workflowid).sort()).toEqual([first.id, first.id, second.id].sort());
    const left = (await jobsOf(h, first.id)).find((j) => j.status === 'READY')!;
    const share = await reason(Number(left.id), 'FAIR_SHARE');
    expect(share?.text).toMatch(/^its request \(share \d+\) has had more of pool held than 1 other request\(s\) with jobs of priority 0/);
    const other = (await jobsOf(h, second.id)).find((j) => j.status === 'READY')!;
    expect(await codes(Number(other.id))).toEqual(['NO_EXECUTOR_HERE']);
    await h.rms.queue.record(claimed, claimed.map((job) => ({ job, status: 'SUCCESS' as const })));
    for (const w of [first.id, second.id]) await h.rms.actions.cancel(w, operator);
  });

  test('a job waiting out its retry delay says until when', async () => {
    const { id } = await h.rms.start('held-retry', {}, operator);
    const [job] = await h.rms.queue.claim(HELD_POOL, 1);
    expect(job.workflowid).toBe(id);
    await h.rms.queue.record([job], [{ job, status: 'FAILED', reason: 'input not there yet' }]);
    const [row] = await jobsOf(h, id);
    expect(row.status).toBe('RETRY_WAIT');
    const backoff = await reason(job.id, 'RETRY_BACKOFF');
    expect(backoff?.text).toBe(`attempt 1 of 3 failed (input not there yet); it waits out its retry delay until ${new Date(Number(row.run_after)).toISOString().replace('.000Z', 'Z')}`);
    await h.rms.actions.cancel(id, operator);
  });

  test('a job that does not exist is a 404 error', async () => {
    await expect(h.rms.ops.explain.why(999_999)).rejects.toMatchObject({ code: 'DPC_RMS_JOB_NOT_FOUND' });
  });
});
