import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { jobsOf, operator, startHarness, workflowRow, type Harness } from '../fixtures/rms-harness.js';
import { until } from '../helpers/server.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { DPC_RMS__MAXHANDBACKS: '2' } });
});
afterAll(async () => {
  await h?.stop();
});

/** Claims the job, then makes it look held by a process that died: its lease lapsed long ago. */
async function claimAndDie(jobid: number, holder = 'gone:1:dead'): Promise<void> {
  const claimed = await h.rms.queue.claim(HELD_POOL, 10);
  expect(claimed.map((j) => j.id)).toContain(jobid);
  await h.knex('rms_job').whereIn('id', claimed.map((j) => j.id)).update({ claimed_by: holder, lease_until: 1 });
}

describe('the reaper, handing back the jobs of a process that died', () => {
  test('a job whose process died is handed back, READY again with no attempt used; after rms.maxHandbacks deaths it fails instead', async () => {
    const s = await h.rms.start('held', {}, operator);
    const [job] = await jobsOf(h, s.id);
    const id = Number(job.id);
    const row = async () => (await h.knex('rms_job').where({ id }).first()) as { status: string; handbacks: number; attempts: number; reason: string | null };

    await claimAndDie(id);
    await until(async () => (await row()).status === 'READY', 10_000, 'the job handed back');
    expect(await row()).toMatchObject({ handbacks: 1, attempts: 0 });

    await claimAndDie(id);
    await until(async () => (await row()).status === 'FAILED', 10_000, 'the job failed');
    expect(Number((await row()).handbacks)).toBe(2);
    expect((await row()).reason).toMatch(/died 2 times/);
    // Its two siblings shared its fate; the workflow failed with them.
    expect((await workflowRow(h, s.id)).status).toBe('FAILED');
  });

  test('a job whose holder beat in smas_process after its lease lapsed is handed back without counting: the holder is alive, its link only flapped', async () => {
    const s = await h.rms.start('held', {}, operator);
    const [job] = await jobsOf(h, s.id);
    const id = Number(job.id);
    const holder = 'flapping:2:alive';
    await h.knex('smas_process').insert({ id: holder, hostname: 'flapping', pid: 2, version: 'test', started: 1, heartbeat: Date.now() });
    try {
      for (let i = 0; i < 3; i++) {
        await claimAndDie(id, holder);
        await until(async () => ((await h.knex('rms_job').where({ id }).first()) as { status: string }).status === 'READY', 10_000, 'the job handed back');
      }
      expect(await h.knex('rms_job').where({ id }).first()).toMatchObject({ status: 'READY', handbacks: 0, lapsed_by: null });
    } finally {
      await h.knex('smas_process').where({ id: holder }).delete();
      await h.rms.actions.cancel(s.id, operator);
    }
  });
});
