import { defineQuery } from '../../../core/query.js';

export interface LogEntryRow {
  id: number;
  created: number;
  severity: string;
  subsystem: string;
  message: string;
  username: string | null;
  workflowid: number | null;
  jobid: number | null;
  nodeid: number | null;
  transferid: number | null;
}

export const insertLogEntry = defineQuery(
  'ems.insertLogEntry',
  {
    created: 1767225600000,
    severity: 'INFO',
    subsystem: 'ems',
    message: 'note',
    username: 'operator' as string | null,
    workflowid: null as number | null,
    jobid: null as number | null,
    nodeid: null as number | null,
    transferid: null as number | null,
  },
  (knex, p) => knex('ems_mission_log').insert(p).returning('id'),
);

/** Newest first, paged by key: `before` is the last id of the previous page. */
export const listLogEntries = defineQuery(
  'ems.listLogEntries',
  { before: null as number | null, limit: 50, severity: null as string | null },
  (knex, p) => {
    const q = knex('ems_mission_log').select('*').orderBy('id', 'desc').limit(p.limit);
    if (p.before !== null) q.where('id', '<', p.before);
    if (p.severity !== null) q.where('severity', p.severity);
    return q;
  },
);
