import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BULK_SPAN } from '../../subsystems/rms/bulk.js';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { failHeld, jobsOf, operator, startHarness, workflowRow, type Harness } from '../fixtures/rms-harness.js';
import { until } from '../helpers/server.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

const audits = async (action: string) => (await h.knex('smas_audit').where({ action }).orderBy('id')) as { username: string; reason: string; target: string; detail: string }[];
const counts = async (workflowid: number) =>
  Object.fromEntries(((await h.knex('rms_job_count').where({ workflowid }).select('status', 'jobs')) as { status: string; jobs: number }[]).map((r) => [r.status, Number(r.jobs)]));
const statuses = async (workflowid: number) => (await jobsOf(h, workflowid)).map((j) => String(j.status));

describe('bulk actions on a job query', () => {
  test('re-prioritise every READY job a filter matches as one audited action; the claim order follows', async () => {
    const a = await h.rms.start('held', { params: { n: 3 } }, operator);
    const b = await h.rms.start('held', { params: { n: 3 } }, operator);
    const r = await h.rms.ops.bulk.run('priority', { workflowid: b.id, status: ['READY'] }, { username: 'erin', reason: 'b is urgent' }, { priority: 9 });
    expect(r).toMatchObject({ action: 'priority', matched: 3, exact: true, changed: 3, skipped: 0 });
    const claimed = await h.rms.queue.claim(HELD_POOL, 3);
    expect(claimed.map((j) => j.workflowid)).toEqual([b.id, b.id, b.id]);
    const [audit, ...more] = await audits('jobs.bulk-priority');
    expect(more).toEqual([]);
    expect(audit).toMatchObject({ username: 'erin', reason: 'b is urgent', target: '3 job(s) matching a filter' });
    expect(JSON.parse(audit.detail)).toMatchObject({ filter: { workflowid: b.id, status: ['READY'] }, matched: 3, priority: 9 });
    await h.rms.queue.record(claimed, claimed.map((job) => ({ job, status: 'SUCCESS' as const })));
    await h.rms.actions.cancel(a.id, operator);
  });

  test(`cancels in batches of at most ${BULK_SPAN} job ids, keeping the per-step counts, and ends the workflow`, async () => {
    const n = BULK_SPAN + 500;
    const { id } = await h.rms.start('held', { params: { n } }, operator);
    const r = await h.rms.ops.bulk.run('cancel', { workflowid: id }, { username: 'bob', reason: 'wrong day' });
    expect(r).toMatchObject({ matched: n, changed: n, batches: 2 });
    expect(await counts(id)).toMatchObject({ READY: 0, CANCELLED: n });
    expect((await workflowRow(h, id)).status).toBe('CANCELLED');
    expect(await audits('jobs.bulk-cancel')).toHaveLength(1);
    // The mission log entry is written after the action commits, not in its transaction.
    const log = async () => (await h.knex('ems_mission_log').where('message', 'like', 'bulk cancel by bob%')) as { message: string }[];
    await until(async () => (await log()).length > 0, 10_000, 'the mission log entry');
    expect((await log()).map((l) => l.message)).toEqual([`bulk cancel by bob: ${n} job(s) changed of ${n} matching; reason: wrong day`]);
  });

  test('resumes the failed jobs a reason matches across workflows, and never changes a job a process holds', async () => {
    const start = Date.now() - 1;
    const one = await failHeld(h, ['disk full on /scratch/7', 'bad input 1']);
    const two = await failHeld(h, ['disk full on /scratch/9']);
    const held = await h.rms.start('held', { params: { n: 2 } }, operator);
    const claimed = await h.rms.queue.claim(HELD_POOL, 1);
    expect(claimed.map((j) => j.workflowid)).toEqual([held.id]);

    const r = await h.rms.ops.bulk.run('resume', { finishedFrom: start, reason: 'disk full' }, operator);
    expect(r).toMatchObject({ matched: 2, changed: 2 });
    expect(await statuses(one.workflowid)).toEqual(['READY', 'FAILED']);
    expect(await statuses(two.workflowid)).toEqual(['READY']);
    expect((await workflowRow(h, two.workflowid)).status).toBe('RUNNING');
    expect(await counts(one.workflowid)).toMatchObject({ READY: 1, FAILED: 1 });

    // Cancel what runs and waits: the claimed job is not the action's to change.
    const c = await h.rms.ops.bulk.run('cancel', { status: ['READY', 'CLAIMED'], workflowid: held.id }, operator);
    expect(c).toMatchObject({ matched: 1, changed: 1 });
    expect(await statuses(held.id)).toEqual(['CLAIMED', 'CANCELLED']);
    await expect(h.rms.ops.bulk.run('cancel', { status: ['CLAIMED'], workflowid: held.id }, operator)).rejects.toMatchObject({ code: 'DPC_RMS_PARAMS', message: expect.stringMatching(/only WAITING, READY, RETRY_WAIT/) });
    await h.rms.queue.record(claimed, claimed.map((job) => ({ job, status: 'SUCCESS' as const })));
    for (const w of [one.workflowid, two.workflowid]) await h.rms.actions.cancel(w, operator);
  });

  test('retries failed jobs and refuses an action without a reason or a priority out of range, changing nothing', async () => {
    const start = Date.now() - 1;
    const f = await failHeld(h, ['x']);
    await expect(h.rms.ops.bulk.run('retry', { finishedFrom: start }, { username: 'mallory', reason: ' ' })).rejects.toMatchObject({ code: 'DPC_REASON_REQUIRED' });
    await expect(h.rms.ops.bulk.run('priority', { status: ['READY'] }, operator, { priority: 5000 })).rejects.toMatchObject({ code: 'DPC_RMS_PRIORITY' });
    expect(await statuses(f.workflowid)).toEqual(['FAILED']);
    expect(await h.knex('smas_audit').where({ username: 'mallory' })).toHaveLength(0);
    expect(await h.rms.ops.bulk.run('retry', { finishedFrom: start, workflowid: f.workflowid }, operator)).toMatchObject({ changed: 1 });
    expect(await statuses(f.workflowid)).toEqual(['READY']);
    await h.rms.actions.cancel(f.workflowid, operator);
  });
});

describe('change jobs priority on a selection', () => {
  test('changes the waiting ones of the ids given in one audited action, leaves a held one, and the claim order follows', async () => {
    const { id } = await h.rms.start('held', { params: { n: 4 } }, operator);
    const jobs = (await jobsOf(h, id)).map((j) => Number(j.id));
    const [first] = await h.rms.queue.claim(HELD_POOL, 1);
    expect(first.id).toBe(jobs[0]);
    const r = await h.rms.ops.bulk.prioritise([jobs[0], jobs[2], jobs[3]], 20, { username: 'erin', reason: 'these first' });
    expect(r).toEqual({ changed: 2, skipped: [jobs[0]] });
    expect((await h.rms.queue.claim(HELD_POOL, 2)).map((j) => j.id)).toEqual([jobs[2], jobs[3]]);
    expect(JSON.parse((await audits('jobs.priority')).at(-1)!.detail)).toMatchObject({ ids: [jobs[0], jobs[2], jobs[3]], priority: 20, changed: 2 });
    await expect(h.rms.ops.bulk.prioritise([], 1, operator)).rejects.toMatchObject({ code: 'DPC_RMS_PARAMS' });
    await h.rms.actions.cancel(id, operator);
  });
});
