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

describe('jobs that hang or crash', () => {
  test('a hanging job (async or a busy loop) fails with "timed out" while the others of its workflow succeed', async () => {
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

    // The executor goes on: a later workflow runs.
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
