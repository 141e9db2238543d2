import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import winston from 'winston';
import { readArchive } from '../../core/archive.js';
import type { Db } from '../../core/db.js';
import { insertedId } from '../../core/query.js';
import { testDb, type TestEnv } from './env.js';
import { systemClock } from '../../core/clock.js';
import { JobLogStore } from '../../subsystems/pfs/logStore.js';

/**
 * A database for the retention tests of RMS, EMS, PFS and core's archive: each test starts
 * from empty tables and its own archive and log folders. The bindings below are live: a test
 * reads the current test's folders.
 */
export const ms = (iso: string) => Date.parse(iso);
export const CUTOFF = ms('2026-03-01T00:00:00Z');

export let t: TestEnv & { db: Db };
export let knex: Knex;
export let archive: string;
export let logDir: string;
export let run = 0;
export const warnings: string[] = [];
/** Keeps the warnings, to check what an operator would read. */
export const log = winston.createLogger({
  level: 'debug',
  transports: [
    new winston.transports.Stream({
      stream: new Writable({
        objectMode: true,
        write(info: { level: string; message: unknown }, _encoding, done) {
          if (info.level === 'warn') warnings.push(String(info.message));
          done();
        },
      }),
    }),
  ],
});

/** Registers the hooks that open the database, empty its tables before each test and close it. */
export function useRetentionDb(): void {
  beforeAll(async () => {
    t = await testDb();
    knex = t.db.knex;
  });
  afterAll(async () => {
    await t?.cleanup();
  });
  beforeEach(emptyTables);
}

async function emptyTables(): Promise<void> {
  for (const table of ['pfs_log_file', 'rms_job', 'rms_job_count', 'rms_step', 'rms_workflow', 'rms_descriptor', 'ems_outbox', 'rms_solution_meta', 'rms_solution', 'rms_config']) {
    await knex(table).delete();
  }
  run++;
  archive = join(t.dir, `archive-${run}`);
  logDir = join(t.dir, `log-${run}`);
  warnings.length = 0;
}

export async function insert(table: string, row: Record<string, unknown>): Promise<number> {
  return insertedId(await knex(table).insert(row).returning('id'));
}

/** A workflow with one step, for jobs to belong to. */
export async function workflow(): Promise<{ workflowid: number; stepid: number }> {
  const descid = await insert('rms_descriptor', { name: `wf${run}`, version: 1, hash: 'h'.repeat(64), descriptor: '{}', created: ms('2026-01-01T00:00:00Z') });
  const workflowid = await insert('rms_workflow', {
    name: `wf${run}`, descid, status: 'RUNNING', trigger_kind: 'MANUAL', created_by: 'test', created: ms('2026-01-01T00:00:00Z'),
  });
  const stepid = await insert('rms_step', { workflowid, name: 'calibrate', tasktype: 'aim.calibrate', status: 'RUNNING', position: 0 });
  await knex('rms_job_count').insert({ workflowid, stepid, status: 'SUCCESS', jobs: 7 });
  return { workflowid, stepid };
}

export async function job(w: { workflowid: number; stepid: number }, status: string, endtime: string | null, extra: Record<string, unknown> = {}): Promise<number> {
  return insert('rms_job', {
    ...w, status, tasktype: 'aim.calibrate', dataspec: '{"day":"2026-01-01"}', run_after: ms('2026-01-01T00:00:00Z'),
    created: ms('2026-01-01T00:00:00Z'), endtime: endtime === null ? null : ms(endtime), ...extra,
  });
}

export async function ids(table: string): Promise<number[]> {
  return (await knex(table).select('id').orderBy('id')).map((r: { id: unknown }) => Number(r.id));
}

export async function archivedIds(files: string[]): Promise<number[]> {
  const all: number[] = [];
  for (const f of files) all.push(...(await readArchive(f)).map((r) => Number(r.id)));
  return all.sort((a, b) => a - b);
}

/** The columns of `table`, lower-case and sorted, to compare with what its archive holds. */
export async function columnsOf(table: string): Promise<string[]> {
  return Object.keys(await knex(table).columnInfo()).map((c) => c.toLowerCase()).sort();
}

/** What purgeJobLogs needs of PFS: the old log folder, the segment store, now. */
export function logStore() {
  return { db: t.db, dir: archive, logDir, store: new JobLogStore(t.db, join(logDir, 'segments'), t.config.pfs, systemClock), segmentAgeMs: 3_600_000, now: Date.now() };
}
