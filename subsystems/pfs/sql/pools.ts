import { defineQuery } from '../../../core/query.js';

const example = { name: 'local', state: 'DRAINED', changed: 1767225600000, changed_by: 'operator', reason: 'node maintenance' as string | null };

/** Upsert as update-then-insert: the one form that reads the same on all three dialects. */
export const updatePool = defineQuery('pfs.updatePool', example, (knex, p) =>
  knex('pfs_pool').update({ state: p.state, changed: p.changed, changed_by: p.changed_by, reason: p.reason }).where('name', p.name),
);

export const insertPool = defineQuery('pfs.insertPool', example, (knex, p) => knex('pfs_pool').insert(p));

export const listPools = defineQuery('pfs.listPools', {}, (knex) => knex('pfs_pool').select('name', 'state', 'changed', 'changed_by', 'reason').orderBy('name'));
