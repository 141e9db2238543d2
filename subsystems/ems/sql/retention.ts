import type { ArchiveColumn } from '../../../core/archive.js';
import { defineQuery } from '../../../core/query.js';

/** Every column of ems_outbox, as its archive holds it (a test checks that none is missing). */
export const EVENT_ARCHIVE_COLUMNS: ArchiveColumn[] = [
  { name: 'id', type: 'int' },
  { name: 'topic', type: 'text' },
  { name: 'payload', type: 'text' },
  { name: 'state', type: 'text' },
  { name: 'created', type: 'int' },
  { name: 'available', type: 'int' },
  { name: 'attempts', type: 'int' },
  { name: 'claim_token', type: 'text' },
  { name: 'claim_until', type: 'int' },
  { name: 'delivered', type: 'int' },
  { name: 'last_error', type: 'text' },
];

/**
 * Delivered events created before a time, oldest first: the next batch retention archives
 * and deletes. An event is due no earlier than it was made (available ≥ created), so the
 * extra `available < before` keeps every row the age allows and lets the scan run on the
 * outbox's (state, available, id) index instead of reading the whole table; an event that
 * was retried past the cutoff simply goes on a later run.
 */
export const selectPurgeableEvents = defineQuery('ems.selectPurgeableEvents', { before: 1767225600000, limit: 500 }, (knex, p) =>
  knex('ems_outbox')
    .select(EVENT_ARCHIVE_COLUMNS.map((c) => c.name))
    .where('state', 'DELIVERED')
    .andWhere('available', '<', p.before)
    .andWhere('created', '<', p.before)
    .orderBy(['available', 'id'])
    .limit(p.limit),
);

/** Deletes events of a batch, re-checking that each is still delivered and old. */
export const deletePurgeableEvents = defineQuery('ems.deletePurgeableEvents', { ids: [1, 2], before: 1767225600000 }, (knex, p) =>
  knex('ems_outbox').delete().whereIn('id', p.ids).andWhere('state', 'DELIVERED').andWhere('created', '<', p.before),
);

/** Which of these events exist: after a delete, the ones it left. */
export const selectExistingEventIds = defineQuery('ems.selectExistingEventIds', { ids: [1, 2] }, (knex, p) =>
  knex('ems_outbox').select('id').whereIn('id', p.ids),
);
