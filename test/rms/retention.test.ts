import { basename, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readArchive } from '../../core/archive.js';
import { purgeDeliveredEvents } from '../../subsystems/ems/retention.js';
import { purgeJobLogs } from '../../subsystems/pfs/retention.js';
import { purgeFinishedJobs } from '../../subsystems/rms/retention.js';
import { JOB_ARCHIVE_COLUMNS } from '../../subsystems/rms/sql/retention.js';
import { archive, archivedIds, columnsOf, CUTOFF, ids, insert, job, knex, log, logDir, logStore, ms, t, useRetentionDb, workflow } from '../helpers/retention.js';

useRetentionDb();

describe('retention of finished jobs', () => {
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
    // The workflow's counts stay its history: 7 SUCCESS, though its jobs are archived.
    expect(await snapshot()).toEqual(before);
    expect(before.rms_solution).toHaveLength(2);
    expect(before.rms_job_count).toMatchObject([{ status: 'SUCCESS', jobs: 7 }]);
  });

  it('the archive of rms_job holds every column of the table', async () => {
    expect(JOB_ARCHIVE_COLUMNS.map((c) => c.name).sort()).toEqual(await columnsOf('rms_job'));
  });
});
