import { defineQuery } from '../../../core/query.js';

/**
 * Claiming is three plain statements rather than one `FOR UPDATE SKIP LOCKED`: it reads
 * the same on all three dialects, and a race between processes only makes one of them
 * claim fewer rows, since the update re-checks that each row is still free.
 */
export const selectDueEvents = defineQuery(
  'ems.selectDueEvents',
  { now: 1767225600000, limit: 100 },
  (knex, p) =>
    knex('ems_outbox')
      .select('id')
      .where('state', 'PENDING')
      .andWhere('available', '<=', p.now)
      .andWhere((w) => w.whereNull('claim_until').orWhere('claim_until', '<', p.now))
      .orderBy('id')
      .limit(p.limit),
);

export const claimEvents = defineQuery(
  'ems.claimEvents',
  { ids: [1, 2], token: '2b1f0c8e-0000-4000-8000-000000000000', now: 1767225600000, until: 1767225660000 },
  (knex, p) =>
    knex('ems_outbox')
      .update({ claim_token: p.token, claim_until: p.until })
      .whereIn('id', p.ids)
      .andWhere('state', 'PENDING')
      .andWhere((w) => w.whereNull('claim_until').orWhere('claim_until', '<', p.now)),
);

export const selectClaimedEvents = defineQuery(
  'ems.selectClaimedEvents',
  { ids: [1, 2], token: '2b1f0c8e-0000-4000-8000-000000000000' },
  (knex, p) =>
    knex('ems_outbox')
      .select('id', 'topic', 'payload', 'attempts')
      .whereIn('id', p.ids)
      .andWhere('claim_token', p.token)
      .orderBy('id'),
);
