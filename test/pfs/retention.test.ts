import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readArchive } from '../../core/archive.js';
import { purgeJobLogs } from '../../subsystems/pfs/retention.js';
import { LOG_FILE_ARCHIVE_COLUMNS } from '../../subsystems/pfs/sql/retention.js';
import { purgeFinishedJobs } from '../../subsystems/rms/retention.js';
import { archive, columnsOf, CUTOFF, ids, insert, job, log, logDir, logStore, ms, run, t, useRetentionDb, warnings, workflow } from '../helpers/retention.js';

useRetentionDb();

describe('retention of job logs', () => {
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

  it('the archive of pfs_log_file holds every column of the table', async () => {
    expect(LOG_FILE_ARCHIVE_COLUMNS.map((c) => c.name).sort()).toEqual(await columnsOf('pfs_log_file'));
  });
});
