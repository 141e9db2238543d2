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


export interface AuditRow {
  id: number;
  created: number;
  username: string;
  action: string;
  target: string | null;
  reason: string | null;
  detail: string | null;
  address: string | null;
}

/**
 * The audit newest first, paged by key (created, id): each filter is served by an index
 * that ends in (created, id) — smas_audit_created_ix, _user_ix, _action_ix.
 */
export const listAudit = defineQuery(
  'smas.listAudit',
  {
    username: 'jdoe' as string | undefined,
    action: 'workflow.pause' as string | undefined,
    from: 1767225600000 as number | undefined,
    to: 1767312000000 as number | undefined,
    beforeCreated: 1767300000000 as number | undefined,
    beforeId: 1200 as number | undefined,
    limit: 50,
  },
  (knex, p) => {
    const q = knex('smas_audit').select('id', 'created', 'username', 'action', 'target', 'reason', 'detail', 'address');
    if (p.username !== undefined) q.where('username', p.username);
    if (p.action !== undefined) q.where('action', p.action);
    if (p.from !== undefined) q.where('created', '>=', p.from);
    if (p.to !== undefined) q.where('created', '<', p.to);
    if (p.beforeCreated !== undefined && p.beforeId !== undefined) {
      const { beforeCreated: c, beforeId: id } = p;
      q.andWhere((w) => w.where('created', '<', c).orWhere((x) => x.where('created', c).andWhere('id', '<', id)));
    }
    return q.orderBy([{ column: 'created', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(p.limit);
  },
);
