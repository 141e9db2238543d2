import { defineQuery } from '../../../core/query.js';

export const insertProcess = defineQuery(
  'smas.insertProcess',
  { id: 'host:123:ab12', hostname: 'host', pid: 123, version: '0.1.0', now: 1767225600000 },
  (knex, p) =>
    knex('smas_process').insert({ id: p.id, hostname: p.hostname, pid: p.pid, version: p.version, started: p.now, heartbeat: p.now }),
);

export const beatProcess = defineQuery('smas.beatProcess', { id: 'host:123:ab12', now: 1767225600000 }, (knex, p) =>
  knex('smas_process').update({ heartbeat: p.now }).where('id', p.id),
);

export const stopProcess = defineQuery('smas.stopProcess', { id: 'host:123:ab12', now: 1767225600000 }, (knex, p) =>
  knex('smas_process').update({ stopped: p.now, heartbeat: p.now }).where('id', p.id),
);

/** The processes that beat since `since`, latest beat first (smas_process_beat_ix): the Node Monitor's coordinators. */
export const listProcesses = defineQuery('smas.listProcesses', { since: 1767225600000 }, (knex, p) =>
  knex('smas_process').select('id', 'hostname', 'pid', 'version', 'started', 'heartbeat', 'stopped').where('heartbeat', '>=', p.since).orderBy('heartbeat', 'desc'),
);
