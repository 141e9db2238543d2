import { defineQuery } from '../../../core/query.js';

export const insertLogFiles = defineQuery(
  'pfs.insertLogFiles',
  {
    rows: [
      { filename: 'jobs/1/2.log', jobid: 2, subsystem: 'pfs', taskname: 'aim.calibrate', workflowid: 1, maxbackupnumber: 3, numberofbackup: 0, bytes: 120, created: 1767225600000, updated: 1767225600000 },
    ],
  },
  (knex, p) => knex('pfs_log_file').insert(p.rows),
);

