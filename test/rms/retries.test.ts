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

  test('a job that exhausts its attempts FAILS with its reason; its step and instance fail and the steps after it never start', async () => {
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

describe('jobs that hang or crash', () => {
  test('a hanging job (async or a busy loop) fails with "timed out" while the others of its instance succeed', async () => {
    const s = await h.rms.start('timeouts', {}, operator);
    expect((await ended(h, s.id)).status).toBe('FAILED');
    const jobs = await jobsOf(h, s.id);
    for (const step of ['hang', 'busy']) {
      const job = jobs.find((j) => j.step === step)!;
      expect(job.status, step).toBe('FAILED');
      expect(String(job.reason), step).toMatch(/timed out after 300 ms/);
    }
    const ok = jobs.filter((j) => j.step === 'ok');
    expect(ok).toHaveLength(3);
    expect(ok.every((j) => j.status === 'SUCCESS')).toBe(true);
  });

  test('a task that ends its worker thread fails only its own job', async () => {
    const s = await h.rms.start('crashing', {}, operator);
    expect((await ended(h, s.id)).status).toBe('FAILED');
    const jobs = await jobsOf(h, s.id);
    const crashed = jobs.find((j) => j.step === 'crash')!;
    expect(crashed.status).toBe('FAILED');
    expect(String(crashed.reason)).toMatch(/worker thread crashed/);
    expect(jobs.filter((j) => j.step === 'ok').map((j) => j.status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);

    // The executor goes on: a later instance runs.
    const next = await h.rms.start('simple', {}, operator);
    expect((await ended(h, next.id)).status).toBe('SUCCESS');
  });
});

describe('external programs', () => {
  test('a program that exits 3 fails its job with "exited with code 3", its CPU time and peak memory recorded', async () => {
    const s = await h.rms.start('program-fail', {}, operator);
    expect((await ended(h, s.id)).status).toBe('FAILED');
    const [job] = await jobsOf(h, s.id);
    expect(job.status).toBe('FAILED');
    expect(job.reason).toBe('/bin/sh exited with code 3');
    expect(job.cpu_ms).not.toBeNull();
    expect(Number(job.cpu_ms)).toBeGreaterThanOrEqual(0);
    expect(Number(job.peak_mem_mb)).toBeGreaterThan(0);
    expect(Number(job.wall_ms)).toBeGreaterThanOrEqual(0);
  });

  test('a program that exits 0 succeeds, with the job-spec file as its last argument and its output in the job log', async () => {
    const s = await h.rms.start('program-ok', { params: { hello: 'world' } }, operator);
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
    const [job] = await jobsOf(h, s.id);
    expect(job.status).toBe('SUCCESS');
    expect(Number(job.peak_mem_mb)).toBeGreaterThan(0);
    expect(job.logs).toBe(`${s.id}/${Number(job.id)}.1.log`);
    const store = h.pfs.jobLogs;
    const printed = /spec is (\S+job-spec\.json)/.exec((await store.read(await store.extents(Number(job.id), 1))).toString());
    expect(printed).not.toBeNull();
    const spec = JSON.parse(readFileSync(printed![1], 'utf8')) as { jobid: number; params: unknown; attempt: number };
    expect(spec).toMatchObject({ jobid: Number(job.id), params: { hello: 'world' }, attempt: 1 });
  });
});
