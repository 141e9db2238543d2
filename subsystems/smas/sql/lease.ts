import { defineQuery } from '../../../core/query.js';

const example = { name: 'rms.cron', holder: 'host:123:ab12', now: 1767225600000, expires: 1767225610000 };

/** Extends a lease this process holds. */
export const renewLease = defineQuery('smas.renewLease', example, (knex, p) =>
  knex('smas_lease').update({ expires: p.expires }).where({ name: p.name, holder: p.holder }).andWhere('expires', '>=', p.now),
);

/** Takes a lease its holder let lapse (it died, or released it). */
export const takeLease = defineQuery('smas.takeLease', example, (knex, p) =>
  knex('smas_lease')
    .update({ holder: p.holder, expires: p.expires, acquired: p.now })
    .where('name', p.name)
    .andWhere((w) => w.where('expires', '<', p.now).orWhereNull('holder')),
);

/** The first holder of a lease; a unique violation means another process was first. */
export const insertLease = defineQuery('smas.insertLease', example, (knex, p) =>
  knex('smas_lease').insert({ name: p.name, holder: p.holder, expires: p.expires, acquired: p.now }),
);

/** Gives a lease up at once, so another process takes it over without waiting for it to lapse. */
export const releaseLease = defineQuery('smas.releaseLease', { name: 'rms.cron', holder: 'host:123:ab12' }, (knex, p) =>
  knex('smas_lease').update({ holder: null, expires: 0 }).where({ name: p.name, holder: p.holder }),
);

