import { defineQuery } from '../../../core/query.js';

const example = { processid: 'host:123:ab12', name: 'rms', state: 'UP', detail: null as string | null, now: 1767225600000 };

/** Upsert as update-then-insert: the one form that reads the same on all three dialects. */
export const updateSubsystemState = defineQuery('smas.updateSubsystemState', example, (knex, p) =>
  knex('smas_subsystem').update({ state: p.state, detail: p.detail, changed: p.now }).where({ processid: p.processid, name: p.name }),
);

export const insertSubsystemState = defineQuery('smas.insertSubsystemState', example, (knex, p) =>
  knex('smas_subsystem').insert({ processid: p.processid, name: p.name, state: p.state, detail: p.detail, changed: p.now }),
);

/** Subsystem states of the processes that beat since `since` (or stopped cleanly since). */
export const listSubsystemStates = defineQuery('smas.listSubsystemStates', { since: 1767225600000 }, (knex, p) =>
  knex('smas_subsystem as s')
    .join('smas_process as p', 'p.id', 's.processid')
    .select('s.processid', 's.name', 's.state', 's.detail', 's.changed', 'p.hostname', 'p.pid', 'p.heartbeat', 'p.stopped')
    .where('p.heartbeat', '>=', p.since)
    .orderBy([{ column: 'p.started', order: 'desc' }, 's.processid', 's.name']),
);
