import { defineQuery, insertColumns, type InsertColumn } from '../../../core/query.js';

/** The DPCT's row of a run of a job attempt that wrote a log; values in the order of LOG_FILE_COLUMNS. */
export const LOG_FILE_COLUMNS = [
  ['filename', 'text'],
  ['jobid', 'bigint'],
  ['attempt', 'integer'],
  ['segmentid', 'bigint'],
  ['pos', 'bigint'],
  ['subsystem', 'text'],
  ['taskname', 'text'],
  ['workflowid', 'bigint'],
  ['maxbackupnumber', 'integer'],
  ['numberofbackup', 'integer'],
  ['bytes', 'bigint'],
  ['created', 'bigint'],
  ['updated', 'bigint'],
] as const satisfies readonly InsertColumn[];

export const insertLogFiles = defineQuery(
  'pfs.insertLogFiles',
  { rows: [['1/2.1.log', 2, 1, 1, 0, 'pfs', 'aim.calibrate', 1, 3, 0, 120, 1767225600000, 1767225600000]] as (string | number | null)[][] },
  (knex, p, dialect) => insertColumns(knex, dialect, 'pfs_log_file', LOG_FILE_COLUMNS, p.rows),
);

/** Values in the order of EXTENT_COLUMNS. */
export const EXTENT_COLUMNS = [
  ['segmentid', 'bigint'],
  ['jobid', 'bigint'],
  ['attempt', 'integer'],
  ['pos', 'bigint'],
  ['bytes', 'bigint'],
  ['created', 'bigint'],
] as const satisfies readonly InsertColumn[];

export const insertLogExtents = defineQuery(
  'pfs.insertLogExtents',
  { rows: [[1, 2, 1, 0, 120, 1767225600000]] as number[][] },
  (knex, p, dialect) => insertColumns(knex, dialect, 'pfs_log_extent', EXTENT_COLUMNS, p.rows),
);

export const selectLogSegments = defineQuery('pfs.selectLogSegments', { names: ['2026-01-01/host_1_ab-t1-k0-0.seg'] }, (knex, p) =>
  knex('pfs_log_segment').select('id', 'name').whereIn('name', p.names),
);

export const insertLogSegment = defineQuery('pfs.insertLogSegment', { name: '2026-01-01/host_1_ab-t1-k0-0.seg', created: 1767225600000 }, (knex, p) =>
  knex('pfs_log_segment').insert(p).returning('id'),
);

/** A job attempt's extents in pfs_log_extent (see selectInlineExtents for the others). */
export const selectLogExtents = defineQuery('pfs.selectLogExtents', { jobid: 2, attempt: 1 }, (knex, p) =>
  knex('pfs_log_extent as e')
    .join('pfs_log_segment as s', 's.id', 'e.segmentid')
    .select('e.id', 's.name as segment', 'e.pos', 'e.bytes', 'e.created')
    .where('e.jobid', p.jobid)
    .andWhere('e.attempt', p.attempt),
);

/** A job attempt's runs whose whole log is one extent, held in their pfs_log_file row. */
export const selectInlineExtents = defineQuery('pfs.selectInlineExtents', { jobid: 2, attempt: 1 }, (knex, p) =>
  knex('pfs_log_file as f')
    .join('pfs_log_segment as s', 's.id', 'f.segmentid')
    .select('f.id', 's.name as segment', 'f.pos', 'f.bytes', 'f.updated as created')
    .where('f.jobid', p.jobid)
    .andWhere('f.attempt', p.attempt),
);

/** The attempts of a job that wrote a log, with what pfs_log_extent holds of each (a running one's too)… */
export const selectLogAttempts = defineQuery('pfs.selectLogAttempts', { jobid: 2 }, (knex, p) =>
  knex('pfs_log_extent').select('attempt').sum({ bytes: 'bytes' }).min({ created: 'created' }).max({ updated: 'created' }).where('jobid', p.jobid).groupBy('attempt'),
);

/** …and with what their pfs_log_file rows hold in themselves. */
export const selectInlineAttempts = defineQuery('pfs.selectInlineAttempts', { jobid: 2 }, (knex, p) =>
  knex('pfs_log_file')
    .select('attempt')
    .sum({ bytes: 'bytes' })
    .min({ created: 'created' })
    .max({ updated: 'updated' })
    .where('jobid', p.jobid)
    .whereNotNull('segmentid')
    .groupBy('attempt'),
);

/** The DPCT's log-file rows of a job. */
export const selectJobLogFiles = defineQuery('pfs.selectJobLogFiles', { jobid: 2 }, (knex, p) =>
  knex('pfs_log_file')
    .select('id', 'filename', 'jobid', 'attempt', 'subsystem', 'taskname', 'workflowid', 'maxbackupnumber', 'numberofbackup', 'bytes', 'created', 'updated')
    .where('jobid', p.jobid)
    .orderBy('id'),
);

/**
 * The Logs page: log-file rows newest first, paged by key (`before`, the last id of the
 * previous page), of one workflow (pfs_log_file_wf_ix) or one job (pfs_log_file_job_ix).
 */
export const listLogFiles = defineQuery(
  'pfs.listLogFiles',
  { before: 100 as number | null, limit: 50, workflowid: 1 as number | null, jobid: 2 as number | null },
  (knex, p) => {
    const q = knex('pfs_log_file')
      .select('id', 'filename', 'jobid', 'attempt', 'subsystem', 'taskname', 'workflowid', 'maxbackupnumber', 'numberofbackup', 'bytes', 'created', 'updated')
      // One workflow's files in the order of pfs_log_file_wf_ix: by id alone, PostgreSQL walked the
      // primary key back from the newest and filtered out every later workflow's rows (seconds at 40 M).
      .orderBy(p.workflowid !== null ? [{ column: 'workflowid', order: 'desc' }, { column: 'id', order: 'desc' }] : [{ column: 'id', order: 'desc' }])
      .limit(p.limit);
    if (p.before !== null) q.where('id', '<', p.before);
    if (p.workflowid !== null) q.where('workflowid', p.workflowid);
    if (p.jobid !== null) q.where('jobid', p.jobid);
    return q;
  },
);
