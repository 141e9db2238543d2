import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import winston from 'winston';
import { purgeInBatches, readArchive } from '../../core/archive.js';
import type { Db } from '../../core/db.js';
import { insertedId } from '../../core/query.js';
import { purgeDeliveredEvents } from '../../subsystems/ems/retention.js';
import { EVENT_ARCHIVE_COLUMNS } from '../../subsystems/ems/sql/retention.js';
import { systemClock } from '../../core/clock.js';
import { JobLogStore } from '../../subsystems/pfs/logStore.js';
import { purgeJobLogs } from '../../subsystems/pfs/retention.js';
import { LOG_FILE_ARCHIVE_COLUMNS } from '../../subsystems/pfs/sql/retention.js';
import { purgeFinishedJobs } from '../../subsystems/rms/retention.js';
import { deletePurgeableJobs, JOB_ARCHIVE_COLUMNS, selectPurgeableJobs } from '../../subsystems/rms/sql/retention.js';
import { testDb, type TestEnv } from '../helpers/env.js';

const ms = (iso: string) => Date.parse(iso);
const CUTOFF = ms('2026-03-01T00:00:00Z');

let t: TestEnv & { db: Db };
let knex: Knex;
let archive: string;
let logDir: string;
let run = 0;
const warnings: string[] = [];
/** Keeps the warnings, to check what an operator would read. */
const log = winston.createLogger({
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

beforeAll(async () => {
  t = await testDb();
  knex = t.db.knex;
});
afterAll(async () => {
  await t?.cleanup();
});

/** Every test starts from empty tables and its own archive and log folders. */
beforeEach(async () => {
  for (const table of ['pfs_log_file', 'rms_job', 'rms_job_count', 'rms_step', 'rms_workflow', 'rms_workflow_def', 'ems_outbox', 'rms_solution_meta', 'rms_solution', 'rms_config']) {
    await knex(table).delete();
  }
  run++;
  archive = join(t.dir, `archive-${run}`);
  logDir = join(t.dir, `log-${run}`);
  warnings.length = 0;
});

/** What purgeJobLogs needs of PFS: the old log folder, the segment store, now. */
function logStore() {
  return { db: t.db, dir: archive, logDir, store: new JobLogStore(t.db, join(logDir, 'segments'), t.config.pfs, systemClock), segmentAgeMs: 3_600_000, now: Date.now() };
}

async function insert(table: string, row: Record<string, unknown>): Promise<number> {
  return insertedId(await knex(table).insert(row).returning('id'));
}

/** A workflow instance with one step, for jobs to belong to. */
async function workflow(): Promise<{ workflowid: number; stepid: number }> {
  const defid = await insert('rms_workflow_def', { name: `wf${run}`, version: 1, hash: 'h'.repeat(64), definition: '{}', created: ms('2026-01-01T00:00:00Z') });
  const workflowid = await insert('rms_workflow', {
    name: `wf${run}`, defid, status: 'RUNNING', trigger_kind: 'MANUAL', created_by: 'test', created: ms('2026-01-01T00:00:00Z'),
  });
  const stepid = await insert('rms_step', { workflowid, name: 'calibrate', tasktype: 'aim.calibrate', status: 'RUNNING', position: 0 });
  await knex('rms_job_count').insert({ workflowid, stepid, status: 'SUCCESS', jobs: 7 });
  return { workflowid, stepid };
}

async function job(w: { workflowid: number; stepid: number }, status: string, endtime: string | null, extra: Record<string, unknown> = {}): Promise<number> {
  return insert('rms_job', {
    ...w, status, tasktype: 'aim.calibrate', dataspec: '{"day":"2026-01-01"}', run_after: ms('2026-01-01T00:00:00Z'),
    created: ms('2026-01-01T00:00:00Z'), endtime: endtime === null ? null : ms(endtime), ...extra,
  });
}

async function ids(table: string): Promise<number[]> {
  return (await knex(table).select('id').orderBy('id')).map((r: { id: unknown }) => Number(r.id));
}

async function archivedIds(files: string[]): Promise<number[]> {
  const all: number[] = [];
  for (const f of files) all.push(...(await readArchive(f)).map((r) => Number(r.id)));
  return all.sort((a, b) => a - b);
}

describe('retention', () => {
  it('finished jobs older than the cutoff are archived to one Arrow file per month and purged', async () => {
    const w = await workflow();
    const jan1 = await job(w, 'SUCCESS', '2026-01-15T10:00:00Z', { result: '{"rows":42}', wall_ms: 1234, reason: null });
    const jan2 = await job(w, 'FAILED', '2026-01-31T23:59:59Z', { reason: 'exit code 3' });
    const feb = await job(w, 'CANCELLED', '2026-02-01T00:00:00Z');

    const { archived, files } = await purgeFinishedJobs({ db: t.db, dir: archive, before: CUTOFF, batchSize: 100, log });

    expect(archived).toBe(3);
    expect(files).toEqual([
      join(archive, 'rms_job', '2026-01', `rms_job-2026-01-${jan1}-${jan2}.arrow`),
      join(archive, 'rms_job', '2026-02', `rms_job-2026-02-${feb}-${feb}.arrow`),
    ]);
    // An Arrow IPC file, as scientists' tools open it: magic at both ends.
    const bytes = readFileSync(files[0]);
    expect(bytes.subarray(0, 6).toString()).toBe('ARROW1');
    expect(bytes.subarray(bytes.length - 6).toString()).toBe('ARROW1');

    const january = await readArchive(files[0]);
    expect(january.map((r) => Number(r.id))).toEqual([jan1, jan2]);
    expect(january[0]).toMatchObject({
      id: BigInt(jan1), workflowid: BigInt(w.workflowid), status: 'SUCCESS', tasktype: 'aim.calibrate', dataspec: '{"day":"2026-01-01"}',
      result: '{"rows":42}', wall_ms: 1234n, reason: null, endtime: BigInt(ms('2026-01-15T10:00:00Z')), pool: 'local',
    });
    expect(january[1]).toMatchObject({ status: 'FAILED', reason: 'exit code 3' });
    expect(await archivedIds(files.slice(1))).toEqual([feb]);
    expect(await ids('rms_job')).toEqual([]);
  });

  it('jobs newer than the cutoff, or not finished, stay', async () => {
    const w = await workflow();
    const old = await job(w, 'SUCCESS', '2026-02-28T23:59:59Z');
    const stay = [
      await job(w, 'SUCCESS', '2026-03-01T00:00:00Z'), // at the cutoff: not older
      await job(w, 'FAILED', '2026-03-20T00:00:00Z'),
      await job(w, 'RUNNING', null),
      await job(w, 'READY', null),
      await job(w, 'WAITING', null),
      await job(w, 'RETRY_WAIT', '2026-01-10T00:00:00Z'), // an old attempt's end, but the job goes on
    ];

    const { archived, files } = await purgeFinishedJobs({ db: t.db, dir: archive, before: CUTOFF, batchSize: 100, log });

    expect(archived).toBe(1);
    expect(await archivedIds(files)).toEqual([old]);
    expect(await ids('rms_job')).toEqual(stay);
  });

  it('purges in batches of at most batchSize rows, one file per month per batch, oldest first', async () => {
    const w = await workflow();
    const made: number[] = [];
    for (let day = 1; day <= 7; day++) made.push(await job(w, 'SUCCESS', `2026-01-${String(day).padStart(2, '0')}T12:00:00Z`));
    const { archived, files } = await purgeFinishedJobs({ db: t.db, dir: archive, before: CUTOFF, batchSize: 3, log, pauseMs: 1 });

    expect(archived).toBe(7);
    expect(files.map((f) => basename(f))).toEqual([
      `rms_job-2026-01-${made[0]}-${made[2]}.arrow`,
      `rms_job-2026-01-${made[3]}-${made[5]}.arrow`,
      `rms_job-2026-01-${made[6]}-${made[6]}.arrow`,
    ]);
    for (const f of files) expect((await readArchive(f)).length).toBeLessThanOrEqual(3);
    expect(await archivedIds(files)).toEqual(made);
    expect(await ids('rms_job')).toEqual([]);
  });

  it('a job with a log file row stays until PFS purged its log', async () => {
    const w = await workflow();
    const logged = await job(w, 'SUCCESS', '2026-01-05T00:00:00Z');
    const plain = await job(w, 'SUCCESS', '2026-01-06T00:00:00Z');
    await insert('pfs_log_file', {
      filename: `jobs/${w.workflowid}/${logged}.log`, jobid: logged, subsystem: 'pfs', taskname: 'aim.calibrate', workflowid: w.workflowid,
      maxbackupnumber: 3, numberofbackup: 0, bytes: 10, created: ms('2026-01-05T00:00:00Z'), updated: ms('2026-01-05T00:00:00Z'),
    });

    const first = await purgeFinishedJobs({ db: t.db, dir: archive, before: CUTOFF, batchSize: 100, log });
    expect(await archivedIds(first.files)).toEqual([plain]);
    expect(await ids('rms_job')).toEqual([logged]);

    await purgeJobLogs({ ...logStore(), before: CUTOFF, batchSize: 100, log });
    const second = await purgeFinishedJobs({ db: t.db, dir: archive, before: CUTOFF, batchSize: 100, log });
    expect(await archivedIds(second.files)).toEqual([logged]);
    expect(await ids('rms_job')).toEqual([]);
  });

  it('a job that changed while its batch was purged stays, and its archive file is written again without it', async () => {
    const w = await workflow();
    const a = await job(w, 'FAILED', '2026-01-05T00:00:00Z');
    const b = await job(w, 'FAILED', '2026-01-06T00:00:00Z');
    const c = await job(w, 'FAILED', '2026-01-07T00:00:00Z');

    const { archived, files } = await purgeInBatches<Record<string, unknown> & { id: unknown }>({
      db: t.db, dir: archive, table: 'rms_job', timeColumn: 'endtime', columns: JOB_ARCHIVE_COLUMNS, batchSize: 10, log,
      select: (k, limit) => selectPurgeableJobs(k, { before: CUTOFF, limit }),
      async remove(trx, jobIds) {
        // An operator resumes job c between the select and the delete.
        await trx('rms_job').update({ status: 'READY' }).where('id', c);
        return Number(await deletePurgeableJobs(trx, { ids: jobIds, before: CUTOFF }));
      },
      remaining: (trx) => trx('rms_job').select('id'),
    });

    expect(archived).toBe(2);
    expect(files).toEqual([join(archive, 'rms_job', '2026-01', `rms_job-2026-01-${a}-${b}.arrow`)]);
    expect(await archivedIds(files)).toEqual([a, b]);
    expect(existsSync(join(archive, 'rms_job', '2026-01', `rms_job-2026-01-${a}-${c}.arrow`))).toBe(false);
    expect(await ids('rms_job')).toEqual([c]);
    expect(warnings.join('\n')).toMatch(/1 row\(s\) of rms_job changed while being purged/);
  });

  it('delivered events are archived and purged; pending and failed ones stay', async () => {
    const event = (state: string, created: string, extra: Record<string, unknown> = {}) =>
      insert('ems_outbox', { topic: 'dataset.updated', payload: '{"datasetid":1}', state, created: ms(created), available: ms(created), attempts: 1, ...extra });
    const dec = await event('DELIVERED', '2025-12-31T23:00:00Z', { delivered: ms('2025-12-31T23:00:01Z') });
    const jan = await event('DELIVERED', '2026-01-02T00:00:00Z', { delivered: ms('2026-01-02T00:00:01Z') });
    const stay = [
      await event('PENDING', '2026-01-03T00:00:00Z'),
      await event('FAILED', '2026-01-04T00:00:00Z', { last_error: 'handler failed', attempts: 5 }),
      await event('DELIVERED', '2026-03-02T00:00:00Z'),
    ];

    const { archived, files } = await purgeDeliveredEvents({ db: t.db, dir: archive, before: CUTOFF, batchSize: 100, log });

    expect(archived).toBe(2);
    expect(files).toEqual([
      join(archive, 'ems_outbox', '2025-12', `ems_outbox-2025-12-${dec}-${dec}.arrow`),
      join(archive, 'ems_outbox', '2026-01', `ems_outbox-2026-01-${jan}-${jan}.arrow`),
    ]);
    expect((await readArchive(files[0]))[0]).toMatchObject({
      id: BigInt(dec), topic: 'dataset.updated', payload: '{"datasetid":1}', state: 'DELIVERED', delivered: BigInt(ms('2025-12-31T23:00:01Z')), last_error: null,
    });
    expect(await archivedIds(files)).toEqual([dec, jan]);
    expect(await ids('ems_outbox')).toEqual(stay);
  });

  it('job log files move to the archive with their rows', async () => {
    const w = await workflow();
    const oldJob = await job(w, 'SUCCESS', '2026-01-05T00:00:00Z');
    const newJob = await job(w, 'SUCCESS', '2026-03-05T00:00:00Z');
    const oldName = `jobs/${w.workflowid}/${oldJob}.log`;
    const newName = `jobs/${w.workflowid}/${newJob}.log`;
    const write = (name: string, text: string) => {
      mkdirSync(dirname(join(logDir, name)), { recursive: true });
      writeFileSync(join(logDir, name), text);
    };
    write(oldName, 'current\n');
    write(`${oldName}.1`, 'backup 1\n');
    write(`${oldName}.2`, 'backup 2\n');
    write(newName, 'new\n');
    const logRow = (jobid: number, filename: string, updated: string) =>
      insert('pfs_log_file', {
        filename, jobid, subsystem: 'pfs', taskname: 'aim.calibrate', workflowid: w.workflowid, maxbackupnumber: 3, numberofbackup: 2,
        bytes: 26, created: ms('2026-01-05T00:00:00Z'), updated: ms(updated),
      });
    const oldRow = await logRow(oldJob, oldName, '2026-01-31T12:00:00Z');
    const newRow = await logRow(newJob, newName, '2026-03-05T00:00:00Z');
    // A row whose log was never written (a silent job) goes too.
    const silentJob = await job(w, 'SUCCESS', '2026-02-02T00:00:00Z');
    const silentRow = await logRow(silentJob, `jobs/${w.workflowid}/${silentJob}.log`, '2026-02-02T00:00:00Z');

    const { archived, files, moved } = await purgeJobLogs({ ...logStore(), before: CUTOFF, batchSize: 100, log });

    expect(archived).toBe(2);
    expect(moved).toBe(3);
    expect(files).toEqual([
      join(archive, 'pfs_log_file', '2026-01', `pfs_log_file-2026-01-${oldRow}-${oldRow}.arrow`),
      join(archive, 'pfs_log_file', '2026-02', `pfs_log_file-2026-02-${silentRow}-${silentRow}.arrow`),
    ]);
    expect((await readArchive(files[0]))[0]).toMatchObject({ id: BigInt(oldRow), filename: oldName, jobid: BigInt(oldJob), numberofbackup: 2n });
    const month = join(archive, 'pfs_log', '2026-01');
    expect(readFileSync(join(month, oldName), 'utf8')).toBe('current\n');
    expect(readFileSync(join(month, `${oldName}.1`), 'utf8')).toBe('backup 1\n');
    expect(readFileSync(join(month, `${oldName}.2`), 'utf8')).toBe('backup 2\n');
    for (const suffix of ['', '.1', '.2']) expect(existsSync(join(logDir, oldName + suffix))).toBe(false);
    expect(readFileSync(join(logDir, newName), 'utf8')).toBe('new\n');
    expect(await ids('pfs_log_file')).toEqual([newRow]);

    // Now the jobs whose logs went can go too; the one whose log stays, stays.
    await purgeFinishedJobs({ db: t.db, dir: archive, before: CUTOFF, batchSize: 100, log });
    expect(await ids('rms_job')).toEqual([newJob]);
  });

  it('a log file row naming a file outside the log folder goes, and the file is left where it is', async () => {
    const outside = join(t.dir, `outside-${run}.log`);
    writeFileSync(outside, 'keep me\n');
    await insert('pfs_log_file', {
      filename: `../${basename(outside)}`, subsystem: 'pfs', maxbackupnumber: 0, numberofbackup: 0, bytes: 8,
      created: ms('2026-01-05T00:00:00Z'), updated: ms('2026-01-05T00:00:00Z'),
    });
    const { archived, moved } = await purgeJobLogs({ ...logStore(), before: CUTOFF, batchSize: 100, log });
    expect([archived, moved]).toEqual([1, 0]);
    expect(readFileSync(outside, 'utf8')).toBe('keep me\n');
    expect(warnings.join('\n')).toMatch(/outside/);
  });

  it('solutions and provenance rows are untouched', async () => {
    const configid = await insert('rms_config', { hash: 'c'.repeat(64), sw_version: '1.0.0', content: '{}', created: ms('2025-06-01T00:00:00Z') });
    const solution = (dmtype: string) =>
      insert('rms_solution', { dmtype, sw_version: '1.0.0', configid, generationtime: ms('2025-06-01T00:00:00Z'), automaticallygenerated: 1 });
    const input = await solution('aim.raw');
    const output = await solution('aim.calibration');
    await insert('rms_solution_meta', {
      inputsolutionid: input, outputsolutionid: output, inputdmtype: 'aim.raw', outputdmtype: 'aim.calibration', generationtime: ms('2025-06-01T00:00:00Z'),
    });
    const w = await workflow();
    await knex('rms_workflow').update({ status: 'SUCCESS', solutionid: output, configid, endtime: ms('2025-06-02T00:00:00Z') }).where('id', w.workflowid);
    await job(w, 'SUCCESS', '2025-06-01T12:00:00Z', { solutionid: output });
    const snapshot = async () => ({
      rms_config: await knex('rms_config').select().orderBy('id'),
      rms_solution: await knex('rms_solution').select().orderBy('id'),
      rms_solution_meta: await knex('rms_solution_meta').select().orderBy('id'),
      rms_workflow: await knex('rms_workflow').select().orderBy('id'),
      rms_step: await knex('rms_step').select().orderBy('id'),
      rms_job_count: await knex('rms_job_count').select().orderBy('stepid'),
    });
    const before = await snapshot();
    const far = ms('2030-01-01T00:00:00Z');

    await purgeJobLogs({ ...logStore(), before: far, batchSize: 100, log });
    await purgeFinishedJobs({ db: t.db, dir: archive, before: far, batchSize: 100, log });
    await purgeDeliveredEvents({ db: t.db, dir: archive, before: far, batchSize: 100, log });

    expect(await ids('rms_job')).toEqual([]);
    // The instance's counts stay its history: 7 SUCCESS, though its jobs are archived.
    expect(await snapshot()).toEqual(before);
    expect(before.rms_solution).toHaveLength(2);
    expect(before.rms_job_count).toMatchObject([{ status: 'SUCCESS', jobs: 7 }]);
  });

  it('the archives hold every column of their tables', async () => {
    for (const [table, columns] of [
      ['rms_job', JOB_ARCHIVE_COLUMNS],
      ['ems_outbox', EVENT_ARCHIVE_COLUMNS],
      ['pfs_log_file', LOG_FILE_ARCHIVE_COLUMNS],
    ] as const) {
      const actual = Object.keys(await knex(table).columnInfo()).map((c) => c.toLowerCase());
      expect(columns.map((c) => c.name).sort(), table).toEqual(actual.sort());
    }
  });
});
