import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { purgeInBatches } from '../../core/archive.js';
import { deletePurgeableJobs, JOB_ARCHIVE_COLUMNS, selectPurgeableJobs } from '../../subsystems/rms/sql/retention.js';
import { archive, archivedIds, CUTOFF, ids, job, log, t, useRetentionDb, warnings, workflow } from '../helpers/retention.js';

useRetentionDb();

describe('archiving in batches', () => {
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
});
