import { defineQuery } from '../../../core/query.js';

export const markDelivered = defineQuery(
  'ems.markDelivered',
  { id: 1, token: '2b1f0c8e-0000-4000-8000-000000000000', now: 1767225600000 },
  (knex, p) =>
    knex('ems_outbox')
      .update({ state: 'DELIVERED', delivered: p.now, claim_token: null, claim_until: null })
      .where({ id: p.id, claim_token: p.token }),
);

/** A failed delivery: due again after `available`, or FAILED for good when attempts ran out. */
export const markUndelivered = defineQuery(
  'ems.markUndelivered',
  { id: 1, token: '2b1f0c8e-0000-4000-8000-000000000000', attempts: 3, available: 1767225601000, error: 'handler failed', failed: false },
  (knex, p) =>
    knex('ems_outbox')
      .update({
        state: p.failed ? 'FAILED' : 'PENDING',
        attempts: p.attempts,
        available: p.available,
        last_error: p.error.slice(0, 2000),
        claim_token: null,
        claim_until: null,
      })
      .where({ id: p.id, claim_token: p.token }),
);

export const countEvents = defineQuery('ems.countEvents', { state: 'PENDING' }, (knex, p) =>
  knex('ems_outbox').count({ n: '*' }).where('state', p.state),
);
