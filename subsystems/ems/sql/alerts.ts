import { defineQuery } from '../../../core/query.js';

// An alert is open while it is neither cleared (its condition went away) nor acknowledged.

/** The open alert of a condition, if any: served by ems_alert_dedupe_ix. */
export const selectOpenAlert = defineQuery('ems.selectOpenAlert', { dedupe: 'disk.low dpc1 dss' }, (knex, p) =>
  knex('ems_alert').select('id').where('dedupe', p.dedupe).whereNull('cleared').andWhereNot('state', 'ACKED').limit(1),
);

export const insertAlert = defineQuery(
  'ems.insertAlert',
  { created: 1767225600000, severity: 'WARNING', code: 'DPC_SMAS_DISK_LOW', subsystem: 'smas', message: 'disk low', dedupe: 'disk.low dpc1 dss' },
  (knex, p) => knex('ems_alert').insert({ ...p, state: 'OPEN', attempts: 0 }),
);

/** Clears the open alerts of a condition; returns how many. */
export const clearAlerts = defineQuery('ems.clearAlerts', { dedupe: 'disk.low dpc1 dss', now: 1767225600000 }, (knex, p) =>
  knex('ems_alert').update({ cleared: p.now }).where('dedupe', p.dedupe).whereNull('cleared').andWhereNot('state', 'ACKED'),
);

/** Open alerts, newest first (served by ems_alert_state_ix). */
export const listOpenAlerts = defineQuery('ems.listOpenAlerts', { limit: 50 }, (knex, p) =>
  knex('ems_alert')
    .select('id', 'created', 'severity', 'code', 'subsystem', 'message', 'dedupe', 'state')
    .whereIn('state', ['OPEN', 'SENT', 'FAILED'])
    .whereNull('cleared')
    .orderBy([{ column: 'created', order: 'desc' }, { column: 'id', order: 'desc' }])
    .limit(p.limit),
);
