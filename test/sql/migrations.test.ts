import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Db } from '../../core/db.js';
import { openDb } from '../../server/db.js';
import { compileMigrations } from '../../sql/migrate.js';
import { countInStatus } from '../../subsystems/rms/sql/jobCounts.js';
import { selectShares } from '../../subsystems/rms/sql/shares.js';
import { claimJobs, listQueue, moveJobs, renewJobLeases, selectDueRetries, selectToHandBack } from '../../subsystems/rms/sql/jobs.js';
import type { Query } from '../../core/query.js';
import { testDialect, testEnv, type TestEnv } from '../helpers/env.js';

let t: TestEnv;
let db: Db;
beforeAll(async () => {
  t = await testEnv();
  db = await openDb(t.config);
  if (testDialect === 'postgresql') await db.knex.raw('create schema if not exists ??', [t.config.db.postgresql.schema]);
});
afterAll(async () => {
  await db?.knex.destroy();
  await t?.cleanup();
});

/** Runs the statements of the named migrations, as `migrate` does, without its ledger. */
async function run(names: string[]): Promise<void> {
  for (const m of compileMigrations(db.dialect).filter((c) => names.includes(c.name))) {
    for (const statement of m.statements) await db.knex.raw(statement);
  }
}

describe('migration 0004 (job ranges)', () => {
  test('gives each workflow made before it the first and the last id of its jobs, and none to a workflow without jobs', async () => {
    await run(['0001_schema', '0002_run_management', '0003_job_indexes']);
    const { knex } = db;
    // The schema as 0003 left it, in the words before 0010.
    await knex('rms_workflow_def').insert({ id: 1, name: 'daily', version: 1, hash: 'h', definition: '{}', created: 1 });
    for (const id of [1, 2, 3]) {
      await knex('rms_workflow').insert({ id, name: 'daily', defid: 1, status: 'RUNNING', runid: `run-${id}`, trigger_kind: 'MANUAL', priority: 0, created_by: 'test', created: 1 });
    }
    for (const id of [1, 2]) await knex('rms_step').insert({ id, workflowid: id, name: 'only', tasktype: 't.noop', status: 'RUNNING', position: 0 });
    // Two workflows whose jobs were made at the same time: their ids interleave.
    const job = (workflowid: number) => ({ workflowid, stepid: workflowid, status: 'READY', priority: 0, tasktype: 't.noop', run_after: 1, created: 1 });
    await knex('rms_job').insert([job(1), job(2), job(1), job(2), job(1)]);

    await run(['0004_job_ranges']);
    const rows = await knex('rms_workflow').select('id', 'first_jobid', 'last_jobid').orderBy('id');
    const ids = async (workflowid: number) => (await knex('rms_job').where({ workflowid }).orderBy('id').pluck('id')).map(Number);
    const [one, two] = [await ids(1), await ids(2)];
    expect(rows.map((r) => [Number(r.id), r.first_jobid === null ? null : Number(r.first_jobid), r.last_jobid === null ? null : Number(r.last_jobid)])).toEqual([
      [1, one[0], one.at(-1)],
      [2, two[0], two.at(-1)],
      [3, null, null],
    ]);
  });
});

describe('migration 0008 (fair share)', () => {
  // 0005 has statements on PostgreSQL only.
  beforeAll(() => run(['0005_queue_indexes', '0006_job_claims', '0008_fair_share']));

  test('makes each job made before it a share of its own workflow', async () => {
    const jobs = await db.knex('rms_job').select('workflowid', 'shareid');
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs.map((j) => Number(j.shareid))).toEqual(jobs.map((j) => Number(j.workflowid)));
  });
});

describe('migration 0010 (words)', () => {
  beforeAll(async () => {
    await db.knex('rms_job').where({ id: (await db.knex('rms_job').min({ id: 'id' }))[0].id }).update({ reclaims: 2 });
    await run(['0007_job_log_store', '0009_job_creation', '0010_words']);
  });

  test("keeps the descriptors, the workflows' references to them and the jobs' hand-back counts under their new names", async () => {
    const { knex } = db;
    expect(await knex.schema.hasTable('rms_workflow_def')).toBe(false);
    expect((await knex('rms_descriptor').select('id', 'name', 'descriptor')).map((d) => [Number(d.id), d.name, d.descriptor])).toEqual([[1, 'daily', '{}']]);
    expect((await knex('rms_workflow').orderBy('id').pluck('descid')).map(Number)).toEqual([1, 1, 1]);
    expect((await knex('rms_job').orderBy('id').pluck('handbacks')).map(Number)).toEqual([2, 0, 0, 0, 0]);
  });

  test('keeps the keys of the renamed table: a second version of a name and hash is refused, a workflow must name a descriptor', async () => {
    const { knex } = db;
    await expect(knex('rms_descriptor').insert({ name: 'daily', version: 2, hash: 'h', descriptor: '{}', created: 2 })).rejects.toThrow();
    await expect(knex('rms_descriptor').insert({ name: 'daily', version: 1, hash: 'other', descriptor: '{}', created: 2 })).rejects.toThrow();
    // Numbered by its sequence, renamed with it on PostgreSQL.
    await knex('rms_descriptor').insert({ name: 'daily', version: 2, hash: 'h2', descriptor: '{}', created: 2 });
    expect((await knex('rms_descriptor').where({ name: 'daily' }).orderBy('version').pluck('version')).map(Number)).toEqual([1, 2]);
    await expect(knex('rms_workflow').insert({ name: 'daily', descid: 99, status: 'RUNNING', runid: 'run-x', trigger_kind: 'MANUAL', priority: 0, created_by: 'test', created: 1 })).rejects.toThrow();
  });
});

/** The plan PostgreSQL makes for a query with its example parameters, sequential scans ruled out. */
async function plan<P>(query: Query<P>, params: Partial<P> = {}): Promise<string> {
  const sql = query(db.knex, { ...query.example, ...params }).toQuery();
  const began = Date.now();
  for (;;) {
    const found = await db.knex.transaction(async (trx) => {
      // An index made just after an update of the table (0008 fills shareid, then indexes it)
      // is not used by a transaction whose snapshot is older than the index (pg_index.indcheckxmin):
      // while any other transaction on the server is that old, the plan goes elsewhere.
      const unusable = (await trx.raw(
        `select count(*)::int as n from pg_index where indrelid = 'rms_job'::regclass and indcheckxmin
           and xmin::text::bigint >= txid_snapshot_xmin(txid_current_snapshot()) % 4294967296`,
      )) as { rows: { n: number }[] };
      if (unusable.rows[0].n > 0 && Date.now() - began < 30_000) return undefined;
      await trx.raw('set local enable_seqscan = off');
      const result = (await trx.raw(`explain ${sql}`)) as { rows: { 'QUERY PLAN': string }[] };
      return result.rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Today's queries, on the schema migrated step by step above.
describe.skipIf(testDialect !== 'postgresql')('migrations 0005 and 0008 (queue indexes, fair share)', () => {
  test('answers the console queue from the index of READY jobs', async () => {
    expect(await plan(listQueue)).toContain('rms_job_ready_ix');
    expect(await plan(listQueue, { afterPriority: 5, afterId: 10 })).toContain('rms_job_ready_ix');
  });

  test('finds the jobs a process holds in the index of CLAIMED and RUNNING jobs: lapsed leases, renewals, ends', async () => {
    expect(await plan(selectToHandBack)).toContain('rms_job_held_ix');
    expect(await plan(renewJobLeases)).toContain('rms_job_held_ix');
    expect(await plan(moveJobs, { from: 'CLAIMED', to: 'SUCCESS', perJob: {} })).toContain('rms_job_held_ix');
  });

  test('finds waiting jobs, and jobs due a retry, in the index of jobs that wait', async () => {
    expect(await plan(selectDueRetries)).toContain('rms_job_waiting_ix');
    expect(await plan(countInStatus, { status: 'WAITING' })).toContain('rms_job_waiting_ix');
  });

  test('counts every state a job passes through from an index', async () => {
    for (const status of ['WAITING', 'READY', 'CLAIMED', 'RUNNING', 'RETRY_WAIT']) expect(await plan(countInStatus, { status }), status).toMatch(/rms_job_(ready|held|waiting|share)_ix/);
  });

  test("answers each share's part of a claim, and the search for a pool's shares, from the index of READY jobs by share", async () => {
    // On a table of a few rows the planner may read a leg through rms_job_ready_ix, as cheap there: an index of READY jobs either way.
    const claim = await plan(claimJobs);
    expect(claim).toContain('rms_job_share_ix');
    expect(claim).not.toMatch(/Seq Scan on rms_job\b/);
    expect(await plan(claimJobs, { legs: [{ shareid: 1, limit: 100, priority: null, above: 3 }] })).toContain('rms_job_share_ix');
    const shares = await plan(selectShares);
    expect(shares).toContain('rms_job_share_ix');
    expect(shares).not.toMatch(/Seq Scan on rms_job\b/);
  });
});
