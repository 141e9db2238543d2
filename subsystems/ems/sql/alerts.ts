import { newestFirst } from '../../../core/keyset.js';
import { defineQuery } from '../../../core/query.js';

export interface AlertRow {
  id: number;
  created: number;
  severity: string;
  code: string;
  subsystem: string;
  message: string;
  dedupe: string | null;
  state: string;
  attempts: number;
  sent: number | null;
  acked: number | null;
  acked_by: string | null;
  cleared: number | null;
  workflowid: number | null;
  jobid: number | null;
  nodeid: number | null;
  transferid: number | null;
}

export const insertAlert = defineQuery(
  'ems.insertAlert',
  {
    created: 1767225600000,
    severity: 'ERROR',
    code: 'DPC_DSS_DISK',
    subsystem: 'dss',
    message: 'disk of the store below 5 GiB',
    dedupe: 'dss.disk' as string | null,
    workflowid: null as number | null,
    jobid: null as number | null,
    nodeid: null as number | null,
    transferid: null as number | null,
  },
  (knex, p) => knex('ems_alert').insert({ ...p, state: 'OPEN', attempts: 0 }).returning('id'),
);

/** States in which an alert is not yet acknowledged. */
export const UNACKED = ['OPEN', 'SENT', 'FAILED'] as const;

// An alert is open while it is neither acknowledged nor cleared (its condition went away).

/** The open alert of the same cause: a repeat raises nothing new (ems_alert_dedupe_ix). */
export const selectOpenAlert = defineQuery('ems.selectOpenAlert', { dedupe: 'dss.disk' }, (knex, p) =>
  knex('ems_alert').select('id').where('dedupe', p.dedupe).whereIn('state', [...UNACKED]).whereNull('cleared'),
);

export const clearAlert = defineQuery('ems.clearAlert', { id: 1, now: 1767225600000 }, (knex, p) =>
  knex('ems_alert').update({ cleared: p.now }).where('id', p.id).whereNull('cleared'),
);

export const selectAlertKey = defineQuery('ems.selectAlertKey', { id: 1 }, (knex, p) => knex('ems_alert').select('id', 'created').where('id', p.id));

/** Newest first by (created, id), paged by key; in one state on ems_alert_open_ix, in all on ems_alert_created_ix. */
export const listAlerts = defineQuery(
  'ems.listAlerts',
  { after: { created: 1767225600000, id: 40 } as { created: number; id: number } | null, limit: 50, state: 'OPEN' as string | null },
  (knex, p) => {
    const q = newestFirst(knex('ems_alert').select('*'), p.limit, p.after);
    if (p.state !== null) q.where('state', p.state);
    return q;
  },
);
