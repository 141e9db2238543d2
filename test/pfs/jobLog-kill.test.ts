import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { systemClock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { openDb } from '../../server/db.js';
import { jobLogDir } from '../../subsystems/pfs/index.js';
import { JobLogStore } from '../../subsystems/pfs/logStore.js';
import { testEnv, type TestEnv } from '../helpers/env.js';
import { serverEnv } from '../helpers/runs.js';
import { killChildren, serveDpc, until } from '../helpers/server.js';

/**
 * Lines a finished job wrote are written (write(2)) before its outcome commits: a real
 * server killed with SIGKILL right after jobs ended has every line of every job the
 * database shows finished, read back from the store by another process.
 */
const JOBS = 600;
const LINES = 20;

let t: TestEnv;
let db: Db;
let env: Record<string, string>;

beforeAll(async () => {
  t = await testEnv({ DPC_PFS__LOCAL__THREADS: '2', DPC_PFS__POLLMS: '20', DPC_PFS__JOBLOG__FSYNC: 'none' });
  // One log directory for every server of the test, the test's own.
  env = serverEnv(t, 1, 'test/fixtures/kill-workflows.ts', { DPC_LOG__DIR: t.env.DPC_LOG__DIR });
  db = await openDb(t.config);
});
afterAll(async () => {
  await killChildren();
  await db?.knex.destroy();
  await t?.cleanup();
});

describe('the job log store across kill -9', () => {
  test('a server killed right after jobs ended loses no line of a job the database shows finished (fsync none: write(2) only)', { timeout: 120_000 }, async () => {
    const served = await serveDpc(env);
    const res = await served.api(`${served.url}api/rms/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'killlog', params: { n: JOBS, lines: LINES, sleepMs: 10 }, reason: 'kill -9 of the job log store' }),
    });
    expect(res.status).toBe(201);
    const finished = async () => (await db.knex('rms_job').where({ status: 'SUCCESS' }).select('id', 'logs', 'attempts')) as { id: number; logs: string; attempts: number }[];
    // Killed as soon as some jobs have ended, while others still run and log.
    await until(async () => (await finished()).length >= 50, 60_000, 'jobs SUCCESS');
    served.child.kill('SIGKILL');
    expect((await served.exited).signal).toBe('SIGKILL');

    const done = await finished();
    expect(done.length).toBeGreaterThanOrEqual(50);
    expect(done.length).toBeLessThan(JOBS);
    const store = new JobLogStore(db, jobLogDir(t.config), t.config.pfs, systemClock);
    for (const job of done) {
      const text = (await store.read(await store.extents(Number(job.id), 1))).toString();
      expect(text.split('\n').filter(Boolean).map((l) => l.replace(/^\S+Z /, '')), `job ${job.id}`).toEqual(Array.from({ length: LINES }, (_, i) => `${job.id} line ${i}`));
    }
  });
});
