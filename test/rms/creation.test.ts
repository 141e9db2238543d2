import { statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { openDb } from '../../server/db.js';
import { projectRoot } from '../../server/paths.js';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { operator, startHarness, type Harness } from '../fixtures/rms-harness.js';
import { testDialect, testEnv } from '../helpers/env.js';
import { killChildren, serveDpc, until } from '../helpers/server.js';
import type { Knex } from 'knex';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});
afterEach(async () => {
  await killChildren();
});

type Row = Record<string, unknown>;

/** A workflow as its creation left it: its range, and per step its jobs by state beside its counts. */
async function made(knex: Knex, id: number) {
  const [wf] = (await knex('rms_workflow').where({ id })) as Row[];
  const jobs = (await knex('rms_job').where({ workflowid: id }).select('id', 'stepid', 'status', 'dataspec').orderBy('id')) as Row[];
  const steps = (await knex('rms_step').where({ workflowid: id }).orderBy('position')) as Row[];
  const counts = (await knex('rms_job_count').where({ workflowid: id }).andWhere('jobs', '>', 0)) as Row[];
  const byStep = steps.map((s) => ({
    name: s.name,
    status: s.status,
    jobs: Object.fromEntries([...new Set(jobs.filter((j) => j.stepid === s.id).map((j) => j.status))].map((st) => [st, jobs.filter((j) => j.stepid === s.id && j.status === st).length])),
    counts: Object.fromEntries(counts.filter((c) => Number(c.stepid) === Number(s.id)).map((c) => [c.status, Number(c.jobs)])),
  }));
  const ids = jobs.map((j) => Number(j.id));
  return { wf, jobs, byStep, ids, range: [Number(wf.first_jobid), Number(wf.last_jobid)] as [number, number] };
}

describe('creating a workflow in bulk', () => {
  test('makes every job of each step, READY in the step that starts and WAITING after it, its counts equal to its jobs, and its range from its first job to its last', async () => {
    const { id } = await h.rms.start('held-pair', { params: { n: 25_000, m: 700 } }, operator);
    const m = await made(h.knex, id);
    expect(m.byStep).toEqual([
      { name: 'first', status: 'RUNNING', jobs: { READY: 25_000 }, counts: { READY: 25_000 } },
      { name: 'second', status: 'WAITING', jobs: { WAITING: 700 }, counts: { WAITING: 700 } },
    ]);
    expect(m.range).toEqual([m.ids[0], m.ids.at(-1)]);
    expect(JSON.parse(String(m.jobs.at(-1)!.dataspec))).toEqual({ i: 699, quote: 'a "quoted" \\ text' });
  });

  test('two workflows created at once each get all their jobs and counts; their ranges hold them, and the workflow tells apart any that interleave', async () => {
    const [a, b] = await Promise.all([h.rms.start('held-pair', { params: { n: 30_000, m: 5 } }, operator), h.rms.start('held-pair', { params: { n: 20_000, m: 3 } }, operator)]);
    for (const [wf, n, k] of [[a, 30_000, 5], [b, 20_000, 3]] as const) {
      const m = await made(h.knex, wf.id);
      expect(m.byStep.map((s) => [s.jobs, s.counts])).toEqual([[{ READY: n }, { READY: n }], [{ WAITING: k }, { WAITING: k }]]);
      expect(m.ids[0]).toBeGreaterThanOrEqual(m.range[0]);
      expect(m.ids.at(-1)).toBeLessThanOrEqual(m.range[1]);
      const inRange = (await h.knex('rms_job').whereBetween('id', m.range).andWhere('workflowid', wf.id).count({ n: '*' })) as { n: number | string }[];
      expect(Number(inRange[0].n)).toBe(n + k);
    }
  });

  test(
    testDialect === 'sqlite'
      ? "a claim of another workflow's jobs made during a large creation completes, after it (SQLite's one writer), with that workflow's jobs"
      : "a claim of another workflow's jobs completes while a large creation's transaction is still open",
    { timeout: 60_000 },
    async () => {
      // Ahead of the jobs earlier tests left READY in the pool.
      const other = await h.rms.start('held', { params: { n: 20 }, priority: 10 }, operator);
      const creating = h.rms.start('held', { params: { n: 400_000 } }, operator);
      if (testDialect === 'postgresql') {
        // The creation is under way: its insert of jobs runs in another session.
        await until(async () => {
          const r = await h.knex.raw(`select count(*) as n from pg_stat_activity where state = 'active' and query like 'with made as (insert into "rms_job"%'`);
          return Number((r as { rows: { n: string }[] }).rows[0].n) > 0;
        }, 20_000, 'the creation under way');
      }
      const claimed = await h.rms.queue.claim(HELD_POOL, 5);
      // Nothing of the creation was committed when the claim came back.
      const open = testDialect === 'postgresql' ? Number(((await h.knex('rms_workflow').where('id', '>', other.id).count({ n: '*' })) as { n: string }[])[0].n) : null;
      const created = await creating;
      expect(claimed.map((j) => j.workflowid)).toEqual([other.id, other.id, other.id, other.id, other.id]);
      if (open !== null) expect(open).toBe(0);
      expect(created.jobs).toBe(400_000);
    },
  );
});

describe('a creation killed midway', () => {
  test('a kill -9 of dpc serve during the creation of a large workflow leaves nothing of it: no workflow, step, job or count, and the next process runs on', { timeout: 120_000 }, async () => {
    const t = await testEnv({ DPC_RMS__DEMO: 'false' });
    try {
      const configFile = join(t.dir, 'creation-config.json');
      writeFileSync(configFile, JSON.stringify({ rms: { descriptors: [resolve(projectRoot, 'test/fixtures/rms-workflows.ts')], demo: false } }));
      const env = { ...t.env, DPC_CONFIG: configFile };
      const db = await openDb(t.config);
      try {
        const served = await serveDpc(env);
        const post = (n: number) =>
          served.api(`${served.url}api/rms/workflows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'held', params: { n }, reason: 'kill during creation' }) });
        const small = (await (await post(10)).json()) as { id: number };
        const before = await totals(db.knex);
        void post(600_000).catch(() => undefined);
        // Caught in the act: PostgreSQL shows the insert running; SQLite's WAL grows with the open transaction.
        await until(async () => {
          if (testDialect === 'postgresql') {
            const r = await db.knex.raw(`select count(*) as n from pg_stat_activity where state = 'active' and query like 'with made as (insert into "rms_job"%'`);
            return Number((r as { rows: { n: string }[] }).rows[0].n) > 0;
          }
          const wal = `${t.config.db.sqlite.path}-wal`;
          try {
            return statSync(wal).size > 16 * 1024 * 1024;
          } catch {
            return false;
          }
        }, 30_000, 'the creation under way');
        served.child.kill('SIGKILL');
        await served.exited;
        const again = await serveDpc(env);
        expect(await totals(db.knex)).toEqual(before);
        // The next process creates and counts as before.
        const next = (await (await again.api(`${again.url}api/rms/workflows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'held', params: { n: 7 }, reason: 'after the kill' }) })).json()) as { id: number };
        expect(next.id).toBeGreaterThan(small.id);
        expect(await totals(db.knex)).toEqual({ workflows: before.workflows + 1, steps: before.steps + 1, jobs: before.jobs + 7, counted: before.counted + 7 });
        await again.stop();
      } finally {
        await db.knex.destroy();
      }
    } finally {
      await t.cleanup();
    }
  });
});

async function totals(knex: Knex) {
  const n = async (q: Knex.QueryBuilder) => Number(((await q) as { n: number | string }[])[0].n);
  return {
    workflows: await n(knex('rms_workflow').count({ n: '*' })),
    steps: await n(knex('rms_step').count({ n: '*' })),
    jobs: await n(knex('rms_job').count({ n: '*' })),
    counted: Number(((await knex('rms_job_count').sum({ n: 'jobs' })) as { n: number | string | null }[])[0].n ?? 0),
  };
}
