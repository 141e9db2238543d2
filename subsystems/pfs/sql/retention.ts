import type { ArchiveColumn } from '../../../core/archive.js';
import { defineQuery } from '../../../core/query.js';

/** Every column of pfs_log_file, as its archive holds it (a test checks that none is missing). */
export const LOG_FILE_ARCHIVE_COLUMNS: ArchiveColumn[] = [
  { name: 'id', type: 'int' },
  { name: 'filename', type: 'text' },
  { name: 'jobid', type: 'int' },
  { name: 'attempt', type: 'int' },
  { name: 'segmentid', type: 'int' },
  { name: 'pos', type: 'int' },
  { name: 'subsystem', type: 'text' },
  { name: 'taskname', type: 'text' },
  { name: 'workflowid', type: 'int' },
  { name: 'maxbackupnumber', type: 'int' },
  { name: 'numberofbackup', type: 'int' },
  { name: 'bytes', type: 'int' },
  { name: 'created', type: 'int' },
  { name: 'updated', type: 'int' },
];

/**
 * Log files last written before a time, oldest first: the next batch retention archives,
 * moves and deletes. A file is made before it is written (created ≤ updated), so the extra
 * `created < before` keeps every row the age allows and lets Oracle skip the newer monthly
 * partitions.
 */
export const selectPurgeableLogFiles = defineQuery('pfs.selectPurgeableLogFiles', { before: 1767225600000, limit: 500 }, (knex, p) =>
  knex('pfs_log_file')
    .select(LOG_FILE_ARCHIVE_COLUMNS.map((c) => c.name))
    .where('updated', '<', p.before)
    .andWhere('created', '<', p.before)
    .orderBy(['updated', 'id'])
    .limit(p.limit),
);

/** Deletes the rows of log files that were moved to the archive. */
export const deleteLogFiles = defineQuery('pfs.deleteLogFiles', { ids: [1, 2] }, (knex, p) => knex('pfs_log_file').delete().whereIn('id', p.ids));

/** Which of these rows exist: after a delete, the ones it left. */
export const selectExistingLogFileIds = defineQuery('pfs.selectExistingLogFileIds', { ids: [1, 2] }, (knex, p) =>
  knex('pfs_log_file').select('id').whereIn('id', p.ids),
);

/** The extents of these log-file rows' attempts, which go with them. */
export const deleteExtentsOfLogFiles = defineQuery('pfs.deleteExtentsOfLogFiles', { ids: [1, 2] }, (knex, p) =>
  knex('pfs_log_extent')
    .delete()
    .whereIn(['jobid', 'attempt'], knex('pfs_log_file').select('jobid', 'attempt').whereIn('id', p.ids).whereNotNull('attempt')),
);

/** Segments begun before a time, oldest first: no writer writes into them any more (see purgeJobLogs). */
export const selectOldSegments = defineQuery('pfs.selectOldSegments', { before: 1767225600000, limit: 100 }, (knex, p) =>
  knex('pfs_log_segment').select('id', 'name').where('created', '<', p.before).orderBy('created').limit(p.limit),
);

export const deleteExtentsOfSegments = defineQuery('pfs.deleteExtentsOfSegments', { ids: [1, 2] }, (knex, p) =>
  knex('pfs_log_extent').delete().whereIn('segmentid', p.ids),
);

export const deleteSegments = defineQuery('pfs.deleteSegments', { ids: [1, 2] }, (knex, p) => knex('pfs_log_segment').delete().whereIn('id', p.ids));
