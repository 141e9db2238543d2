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

