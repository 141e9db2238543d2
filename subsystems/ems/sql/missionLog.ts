import { containsPattern, newestFirst } from '../../../core/keyset.js';
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
  eventid: number | null;
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
    eventid: null as number | null,
  },
  (knex, p) => knex('ems_mission_log').insert(p).returning('id'),
);

/** Where a page of the mission log begins: the entry it follows (its time and id). */
export const selectLogEntryKey = defineQuery('ems.selectLogEntryKey', { id: 1 }, (knex, p) => knex('ems_mission_log').select('id', 'created').where('id', p.id));

export interface LogFilter {
  severity: string | null;
  subsystem: string | null;
  workflowid: number | null;
  /** Unix ms: from (inclusive), to (exclusive). */
  from: number | null;
  to: number | null;
  /** Found anywhere in the message, whatever its case. */
  text: string | null;
}

/**
 * Newest first by (created, id), paged by key: `after` is the last entry of the previous
 * page. Each filter has an index led by its column, then (created, id) (migration 0014).
 */
export const listLogEntries = defineQuery(
  'ems.listLogEntries',
  {
    after: { created: 1767225600000, id: 40 },
    limit: 50,
    severity: 'ERROR',
    subsystem: 'rms',
    workflowid: 12,
    from: 1767139200000,
    to: 1767225600001,
    text: '50%_done',
  } as LogFilter & { after: { created: number; id: number } | null; limit: number },
  (knex, p) => {
    const q = newestFirst(knex('ems_mission_log').select('*'), p.limit, p.after);
    if (p.severity !== null) q.where('severity', p.severity);
    if (p.subsystem !== null) q.where('subsystem', p.subsystem);
    if (p.workflowid !== null) q.where('workflowid', p.workflowid);
    if (p.from !== null) q.where('created', '>=', p.from);
    if (p.to !== null) q.where('created', '<', p.to);
    if (p.text !== null) q.where(knex.raw('lower(??) like ? escape ?', ['message', containsPattern(p.text), '\\']));
    return q;
  },
);
