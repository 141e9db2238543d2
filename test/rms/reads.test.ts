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

describe('the queue as the console reads it', () => {
  test('lists the READY jobs of a pool by priority, then age, page after page, each job once', async () => {
    // Three workflows of three jobs in a pool no executor claims from; priorities 5, 0 and -1, mixed.
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push(...(await jobsOf(h, (await h.rms.start('held', {}, operator)).id)).map((j) => Number(j.id)));
    const priority = new Map(ids.map((id, i) => [id, [5, 0, -1][i % 3]]));
    for (const [id, p] of priority) if (p !== 0) await h.rms.actions.setPriority(id, p, operator);
    const expected = [...ids].sort((a, b) => priority.get(b)! - priority.get(a)! || a - b);

    const seen: number[] = [];
    let after: { afterPriority?: number; afterId?: number } = {};
    for (let page = 0; page < 10; page++) {
      const rows = await h.rms.reads.queue(HELD_POOL, { ...after, limit: 2 });
      if (rows.length === 0) break;
      expect(rows.length).toBeLessThanOrEqual(2);
      seen.push(...rows.map((r) => Number(r.id)));
      const last = rows.at(-1)!;
      after = { afterPriority: Number(last.priority), afterId: Number(last.id) };
    }
    expect(seen).toEqual(expected);
  });
});

describe('workflows as the API reads them', () => {
  test('give their parameters as an object, the same in the list as in the workflow', async () => {
    const started = await h.rms.start('held', { params: { n: 2, note: 'shape' } }, operator);
    const listed = (await h.rms.reads.listWorkflows({ name: 'held' })).find((w) => Number(w.id) === started.id);
    const read = await h.rms.reads.workflow(started.id);
    expect(read.params).toMatchObject({ n: 2, note: 'shape' });
    expect(listed?.params).toEqual(read.params);
  });
});

describe('the jobs of a workflow as the console reads them', () => {
  test('are listed page after page, each once and in order, though workflows created at the same time share a range of ids', async () => {
    // Created together: on PostgreSQL their inserts may take turns, and their ids mix.
    const created = await Promise.all([h.rms.start('held', { params: { n: 1200 } }, operator), h.rms.start('held', { params: { n: 1100 } }, operator)]);
    for (const wf of created) {
      const expected = (await jobsOf(h, wf.id)).map((j) => Number(j.id));
      expect(expected).toHaveLength(wf.id === created[0].id ? 1200 : 1100);
      const seen: number[] = [];
      for (let after = 0; ; ) {
        const rows = await h.rms.reads.jobs(wf.id, { after, limit: 250 });
        if (rows.length === 0) break;
        expect(rows.every((r) => Number(r.workflowid) === wf.id)).toBe(true);
        seen.push(...rows.map((r) => Number(r.id)));
        after = Number(rows.at(-1)!.id);
      }
      expect(seen).toEqual(expected);
    }
  });
});
