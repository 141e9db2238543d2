import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ended, jobsOf, operator, startHarness, type Harness } from '../fixtures/rms-harness.js';
import { until } from '../helpers/server.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { DPC_PFS__LOCAL__THREADS: '1', DPC_PFS__LOCAL__BATCHESPERTHREAD: '1' } });
});
afterAll(async () => {
  await h?.stop();
});

describe('the dispatcher', () => {
  test('a claimed job waiting in its thread behind a slow one stays CLAIMED; only the job that started is RUNNING', async () => {
    // Jobs of this task type are known to be short, so the next ones go to the thread together.
    expect((await ended(h, (await h.rms.start('sleeps', { params: { ms: Array(40).fill(1) } }, operator)).id)).status).toBe('SUCCESS');
    const s = await h.rms.start('sleeps', { params: { ms: [1500, 1, 1] } }, operator);
    await until(async () => (await jobsOf(h, s.id)).some((j) => j.status === 'RUNNING'), 10_000, 'a job RUNNING');
    // Several writes later, still so.
    await new Promise((r) => setTimeout(r, 300));
    expect((await jobsOf(h, s.id)).map((j) => [j.dataspec, j.status])).toEqual([
      ['{"ms":1500}', 'RUNNING'],
      ['{"ms":1}', 'CLAIMED'],
      ['{"ms":1}', 'CLAIMED'],
    ]);
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
  });
});
