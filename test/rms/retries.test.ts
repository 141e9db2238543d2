import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ended, jobsOf, operator, startHarness, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

describe('retries', () => {
  test('a job whose step has retries waits out a doubling backoff between attempts, then succeeds on its third', async () => {
    const file = join(h.t.dir, 'attempts.txt');
    const s = await h.rms.start('flaky', { params: { file } }, operator);
    const seen: { status: string; attempts: number; run_after: number }[] = [];
    const end = Date.now() + 15_000;
    for (;;) {
      const [job] = await jobsOf(h, s.id);
      const snap = { status: String(job.status), attempts: Number(job.attempts), run_after: Number(job.run_after) };
      const last = seen[seen.length - 1];
      if (!last || last.status !== snap.status || last.attempts !== snap.attempts) seen.push(snap);
      if (['SUCCESS', 'FAILED'].includes(snap.status) || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
    const [job] = await jobsOf(h, s.id);
    expect(job).toMatchObject({ status: 'SUCCESS', reason: null });
    expect(Number(job.attempts)).toBe(3);
    expect(JSON.parse(String(job.result))).toEqual({ attempt: 3 });

    // Each failure puts it in RETRY_WAIT with the attempts used so far.
    const waits = seen.filter((x) => x.status === 'RETRY_WAIT');
    expect(waits.map((w) => w.attempts)).toEqual([1, 2]);
    // The second wait ends at least 2 × 200 ms after the first: the backoff doubled.
    expect(waits[1].run_after - waits[0].run_after).toBeGreaterThanOrEqual(400);

    const times = readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
    expect(times.map(([attempt]) => attempt)).toEqual([1, 2, 3]);
    const gap1 = times[1][1] - times[0][1];
    const gap2 = times[2][1] - times[1][1];
    expect(gap1).toBeGreaterThanOrEqual(200);
    expect(gap2).toBeGreaterThanOrEqual(400);
  });

  test('a job that exhausts its attempts FAILS with its reason; its step and workflow fail and the steps after it never start', async () => {
    const s = await h.rms.start('doomed', {}, operator);
    const wfRow = await ended(h, s.id);
    expect(wfRow.status).toBe('FAILED');
    expect(wfRow.reason).toBe('step doomed failed');
    const jobs = await jobsOf(h, s.id);
    const doomed = jobs.find((j) => j.step === 'doomed')!;
    expect(doomed).toMatchObject({ status: 'FAILED', reason: 'this task always fails' });
    expect(Number(doomed.attempts)).toBe(2);
    expect(doomed.endtime).not.toBeNull();
    expect(jobs.find((j) => j.step === 'fine')?.status).toBe('SUCCESS');
    expect(jobs.find((j) => j.step === 'after')?.status).toBe('WAITING');

    const wf = await h.rms.reads.workflow(s.id);
    const step = (name: string) => wf.steps.find((st) => st.name === name)!;
    expect(step('doomed').status).toBe('FAILED');
    expect(step('doomed').counts.FAILED).toBe(1);
    expect(step('fine').status).toBe('SUCCESS');
    expect(step('after').status).toBe('WAITING');
    expect(step('after').counts.WAITING).toBe(1);

    const failed = await h.rms.reads.failedSince(0);
    expect(failed.map((j) => Number(j.id))).toContain(Number(doomed.id));
  });
});
