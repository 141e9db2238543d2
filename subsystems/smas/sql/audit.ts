import { defineQuery } from '../../../core/query.js';

export const insertAudit = defineQuery(
  'smas.insertAudit',
  {
    created: 1767225600000,
    username: 'operator',
    action: 'workflow.pause',
    target: 'workflow 12' as string | null,
    reason: 'disk full on pr3' as string | null,
    detail: null as string | null,
    address: null as string | null,
  },
  (knex, p) => knex('smas_audit').insert(p),
);

/** Newest first, paged by key. */
export const listAudit = defineQuery('smas.listAudit', { before: null as number | null, limit: 50, target: null as string | null }, (knex, p) => {
  const q = knex('smas_audit').select('*').orderBy('id', 'desc').limit(p.limit);
  if (p.before !== null) q.where('id', '<', p.before);
  if (p.target !== null) q.where('target', p.target);
  return q;
});
