import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { advance } from '../../subsystems/rms/bookkeeping.js';
import { JobWork, type JobRef } from '../../subsystems/rms/work.js';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { jobsOf, operator, startHarness, workflowRow, type Harness } from '../fixtures/rms-harness.js';
import { testDialect } from '../helpers/env.js';

let h: Harness;
beforeAll(async () => {
  // No lease renewal during the test: it updates every job this process holds, and one
  // caught between the test's two open transactions would wait on the first while holding
  // the job the second needs (a wait PostgreSQL cannot see as a deadlock: the test would hang).
  h = await startHarness({ env: { DPC_RMS__JOBLEASEMS: '600000' } });
});
afterAll(async () => {
  await h?.stop();
});

// SQLite has one writer: its transactions never overlap, so there is no race to lose there.
describe.skipIf(testDialect === 'sqlite')('advancing workflows', () => {
  test("two transactions ending a step's last jobs from different states at once: the later one ends the step and the workflow", async () => {
    const s = await h.rms.start('held', {}, operator);
    const jobs = await h.rms.queue.claim(HELD_POOL, 10);
    expect(jobs).toHaveLength(3);
    const [first, running, claimed] = jobs;
    await h.rms.queue.record([running], [{ job: first, status: 'SUCCESS' }]);
    const ref = (j: JobRef): JobRef => ({ id: j.id, workflowid: j.workflowid, stepid: j.stepid });
    const bus = h.ems.bus;

    // Each transaction counts its own state down to zero and cannot see the other's change.
    const t1 = await h.knex.transaction();
    const t2 = await h.knex.transaction();
    try {
      const w1 = new JobWork(t1);
      const w2 = new JobWork(t2);
      expect(await w1.move([ref(running)], 'RUNNING', 'SUCCESS', { endtime: Date.now(), lease_until: null })).toBe(1);
      expect(await w2.move([ref(claimed)], 'CLAIMED', 'FAILED', { endtime: Date.now(), lease_until: null, reason: 'failed for the test' })).toBe(1);
      expect(await advance(w1, bus, Date.now())).toEqual([]);
      const second = advance(w2, bus, Date.now());
      // While the first is open, the second must wait for it, not decide from what it can see.
      const before = await Promise.race([second.then(() => 'decided'), new Promise((r) => setTimeout(() => r('waiting'), 500))]);
      await t1.commit();
      expect(before).toBe('waiting');
      expect(await second).toEqual([{ workflowid: s.id, name: 'held', status: 'FAILED' }]);
      await t2.commit();
    } finally {
      if (!t1.isCompleted()) await t1.rollback();
      if (!t2.isCompleted()) await t2.rollback();
    }
    expect((await workflowRow(h, s.id)).status).toBe('FAILED');
    expect((await jobsOf(h, s.id)).map((j) => j.status).sort()).toEqual(['FAILED', 'SUCCESS', 'SUCCESS']);
  });
});
