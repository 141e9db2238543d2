import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { ended, jobsOf, operator, startHarness, until, workflowRow, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

const audits = async (action: string) => (await h.knex('smas_audit').where({ action }).orderBy('id')) as { username: string; reason: string | null; target: string | null; detail: string | null }[];
const statusOf = async (jobid: number) => String((await h.knex('rms_job').where({ id: jobid }).first()).status);
const runningJobs = async () => Number(/(\d+) job\(s\) running/.exec((await h.pfsSubsystem.health()).detail ?? '')?.[1] ?? -1);

describe('cancelling', () => {
  test('cancelling a running job stops it and leaves it CANCELLED; cancelling the workflow stops the rest', async () => {
    const s = await h.rms.start('slow', {}, operator);
    await until(async () => (await jobsOf(h, s.id)).every((j) => j.status === 'RUNNING'), 15_000, 'both jobs running');
    const [first, second] = await jobsOf(h, s.id);

    await h.rms.actions.cancelJob(Number(first.id), { username: 'bob', reason: 'wrong input' });
    expect(await statusOf(Number(first.id))).toBe('CANCELLED');
    expect((await h.knex('rms_job').where({ id: first.id }).first()).reason).toBe('cancelled by bob');
    await until(async () => (await runningJobs()) === 1, 10_000, 'the cancelled job stopped on its executor');
    expect(await statusOf(Number(second.id))).toBe('RUNNING');
    expect((await workflowRow(h, s.id)).status).toBe('RUNNING');

    await h.rms.actions.cancel(s.id, { username: 'bob', reason: 'not needed' });
    const wf = await workflowRow(h, s.id);
    expect(wf.status).toBe('CANCELLED');
    expect(wf.reason).toBe('cancelled by bob: not needed');
    expect(await statusOf(Number(second.id))).toBe('CANCELLED');
    await until(async () => (await runningJobs()) === 0, 10_000, 'no job running');
    // The stopped job's late outcome does not overwrite its state.
    await new Promise((r) => setTimeout(r, 200));
    expect((await jobsOf(h, s.id)).map((j) => j.status)).toEqual(['CANCELLED', 'CANCELLED']);
    const read = await h.rms.reads.workflow(s.id);
    expect(read.counts.CANCELLED).toBe(2);
    expect(read.steps[0].status).toBe('CANCELLED');

    const cancelAudit = (await audits('workflow.cancel')).at(-1)!;
    expect(cancelAudit).toMatchObject({ username: 'bob', reason: 'not needed', target: `workflow ${s.id}` });
    expect((await audits('job.cancel')).at(-1)).toMatchObject({ username: 'bob', reason: 'wrong input', target: `job ${first.id}` });
  });

  test('a finished workflow cannot be cancelled (DPC_RMS_STATE)', async () => {
    const s = await h.rms.start('simple', {}, operator);
    await ended(h, s.id);
    await expect(h.rms.actions.cancel(s.id, operator)).rejects.toMatchObject({ code: 'DPC_RMS_STATE' });
  });
});

describe('running failed jobs again', () => {
  test('resume-failed re-runs only the FAILED jobs; those that succeeded keep their end time', async () => {
    const flag = join(h.t.dir, 'flag-resume');
    const s = await h.rms.start('mixed', { params: { flag } }, operator);
    expect((await ended(h, s.id)).status).toBe('FAILED');
    const before = await jobsOf(h, s.id);
    const work = before.filter((j) => j.step === 'work');
    expect(work.map((j) => j.status)).toEqual(['SUCCESS', 'FAILED', 'SUCCESS']);

    writeFileSync(flag, 'now it may succeed');
    expect(await h.rms.actions.resumeFailed(s.id, { username: 'carol', reason: 'input fixed' })).toBe(1);
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
    const after = await jobsOf(h, s.id);
    for (const j of before.filter((x) => x.status === 'SUCCESS')) {
      const now = after.find((x) => x.id === j.id)!;
      expect(Number(now.endtime)).toBe(Number(j.endtime));
      expect(Number(now.attempts)).toBe(1);
    }
    const rerun = after.find((x) => x.id === work[1].id)!;
    expect(rerun.status).toBe('SUCCESS');
    expect(Number(rerun.endtime)).toBeGreaterThanOrEqual(Number(work[1].endtime));
    expect(after.find((x) => x.step === 'after')?.status).toBe('SUCCESS');
    expect((await audits('workflow.resume-failed')).at(-1)).toMatchObject({ username: 'carol', reason: 'input fixed' });
  });

  test('retrying one failed job runs it again and the workflow can end SUCCESS', async () => {
    const flag = join(h.t.dir, 'flag-retry');
    const s = await h.rms.start('mixed', { params: { flag } }, operator);
    expect((await ended(h, s.id)).status).toBe('FAILED');
    const failed = (await jobsOf(h, s.id)).find((j) => j.status === 'FAILED')!;
    writeFileSync(flag, '');
    await h.rms.actions.retryJob(Number(failed.id), { username: 'dave', reason: 'one more time' });
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
    expect(await statusOf(Number(failed.id))).toBe('SUCCESS');
    expect((await audits('job.retry')).at(-1)).toMatchObject({ username: 'dave', reason: 'one more time', target: `job ${failed.id}` });
  });

  test('retrying a job that succeeded is refused (DPC_RMS_STATE)', async () => {
    const s = await h.rms.start('simple', {}, operator);
    await ended(h, s.id);
    const [job] = await jobsOf(h, s.id);
    await expect(h.rms.actions.retryJob(Number(job.id), operator)).rejects.toMatchObject({ code: 'DPC_RMS_STATE' });
  });
});

describe('priority, pause and resume (a pool only the test claims from)', () => {
  test('a changed priority takes effect at the next claim', async () => {
    const s = await h.rms.start('held', {}, operator);
    const jobs = await jobsOf(h, s.id);
    expect(jobs.map((j) => j.status)).toEqual(['READY', 'READY', 'READY']);
    await h.rms.actions.setPriority(Number(jobs[2].id), 50, { username: 'erin', reason: 'urgent' });

    const [first] = await h.rms.queue.claim(HELD_POOL, 1);
    expect(first.id).toBe(Number(jobs[2].id));
    expect(first.priority).toBe(50);
    const [second] = await h.rms.queue.claim(HELD_POOL, 1);
    expect(second.id).toBe(Number(jobs[0].id));
    expect((await audits('job.priority')).at(-1)).toMatchObject({ username: 'erin', reason: 'urgent', target: `job ${jobs[2].id}` });
    expect(JSON.parse(String((await audits('job.priority')).at(-1)!.detail))).toEqual({ from: 0, to: 50 });

    // A claimed job's priority can no longer change.
    await expect(h.rms.actions.setPriority(first.id, 1, operator)).rejects.toMatchObject({ code: 'DPC_RMS_STATE' });
    await expect(h.rms.actions.setPriority(Number(jobs[1].id), 5000, operator)).rejects.toMatchObject({ code: 'DPC_RMS_PRIORITY' });
    await h.rms.actions.cancel(s.id, operator);
  });

  test('a paused workflow has nothing to claim; resumed, its jobs are claimed and it finishes', async () => {
    const s = await h.rms.start('held', {}, operator);
    await h.rms.actions.pause(s.id, { username: 'frank', reason: 'maintenance' });
    expect((await workflowRow(h, s.id)).status).toBe('PAUSED');
    expect((await jobsOf(h, s.id)).map((j) => j.status)).toEqual(['WAITING', 'WAITING', 'WAITING']);
    expect(await h.rms.queue.claim(HELD_POOL, 10)).toEqual([]);

    await h.rms.actions.resume(s.id, { username: 'frank', reason: 'maintenance over' });
    expect((await workflowRow(h, s.id)).status).toBe('RUNNING');
    const claimed = await h.rms.queue.claim(HELD_POOL, 10);
    expect(claimed.map((j) => j.workflowid)).toEqual([s.id, s.id, s.id]);
    await h.rms.queue.record(claimed, claimed.map((job) => ({ job, status: 'SUCCESS' as const })));
    const wf = await workflowRow(h, s.id);
    expect(wf.status).toBe('SUCCESS');
    expect((await audits('workflow.pause')).at(-1)).toMatchObject({ username: 'frank', reason: 'maintenance' });
    expect((await audits('workflow.resume')).at(-1)).toMatchObject({ username: 'frank', reason: 'maintenance over' });
  });

  test('recording an outcome twice changes nothing the second time', async () => {
    const s = await h.rms.start('held', {}, operator);
    const claimed = await h.rms.queue.claim(HELD_POOL, 3);
    const failed = claimed.map((job) => ({ job, status: 'FAILED' as const, reason: 'first' }));
    await h.rms.queue.record(claimed, failed);
    await h.rms.queue.record([], claimed.map((job) => ({ job, status: 'SUCCESS' as const })));
    expect((await jobsOf(h, s.id)).map((j) => [j.status, j.reason])).toEqual([['FAILED', 'first'], ['FAILED', 'first'], ['FAILED', 'first']]);
    expect((await workflowRow(h, s.id)).status).toBe('FAILED');
  });
});

describe('every action is audited and needs a reason', () => {
  test('an action without a reason is refused with DPC_REASON_REQUIRED and changes nothing', async () => {
    const s = await h.rms.start('held', {}, operator);
    for (const reason of [undefined, '', '   ']) {
      await expect(h.rms.actions.pause(s.id, { username: 'mallory', reason })).rejects.toMatchObject({ code: 'DPC_REASON_REQUIRED' });
      await expect(h.rms.actions.cancel(s.id, { username: 'mallory', reason })).rejects.toMatchObject({ code: 'DPC_REASON_REQUIRED' });
    }
    const [job] = await jobsOf(h, s.id);
    await expect(h.rms.actions.cancelJob(Number(job.id), { username: 'mallory' })).rejects.toMatchObject({ code: 'DPC_REASON_REQUIRED' });
    await expect(h.rms.actions.resumeFailed(s.id, { username: 'mallory' })).rejects.toMatchObject({ code: 'DPC_REASON_REQUIRED' });
    await expect(h.rms.actions.setPriority(Number(job.id), 7, { username: 'mallory', reason: ' ' })).rejects.toMatchObject({ code: 'DPC_REASON_REQUIRED' });
    expect(Number((await h.knex('rms_job').where({ id: job.id }).first()).priority)).toBe(0);
    expect((await workflowRow(h, s.id)).status).toBe('RUNNING');
    expect(await h.knex('smas_audit').where({ username: 'mallory' })).toHaveLength(0);
    await h.rms.actions.cancel(s.id, operator);
  });

  test('an action on a workflow or job that does not exist is refused as not found', async () => {
    await expect(h.rms.actions.pause(999_999, operator)).rejects.toMatchObject({ code: 'DPC_RMS_WORKFLOW_NOT_FOUND' });
    await expect(h.rms.actions.cancelJob(999_999, operator)).rejects.toMatchObject({ code: 'DPC_RMS_JOB_NOT_FOUND' });
  });
});
