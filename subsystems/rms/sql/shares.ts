import type { Knex } from 'knex';
import { defineQuery } from '../../../core/query.js';

/** The shares a claim looks at in a pool at most: beyond them, the oldest requests first. */
export const SHARES_MAX = 100;

/** The share rows of a request's first workflow, one per pool its steps use. */
export const insertShares = defineQuery('rms.insertShares', { rows: [{ pool: 'local', shareid: 1, pass: 0 }] }, (knex, p) => knex('rms_share').insert(p.rows));

/** The highest priority of a share's READY jobs in a pool: one descent of rms_job_share_ix. */
function bestPriority(knex: Knex, pool: string, shareid: Knex.Raw | Knex.Ref<string, Record<string, string>>) {
  return knex('rms_job as b').max('b.priority').where('b.status', 'READY').andWhere('b.pool', pool).andWhere('b.shareid', shareid);
}

/**
 * The shares of a pool that have READY jobs, each with its best priority, pass, and what its
 * weight is read from (its first workflow's trigger and workflow). On SQLite and PostgreSQL
 * the shares are found by a recursive skip through rms_job_share_ix: one descent per share,
 * however many jobs each has. Oracle's recursive WITH takes no subquery on itself, so there
 * the queue finds them one by one (`nextShare`) and gives their `ids`; the others ignore them.
 */
export const selectShares = defineQuery(
  'rms.selectShares',
  { pool: 'local', ids: [1, 7] as number[] | null },
  (knex, p, dialect) => {
    const q = knex('rms_workflow as w')
      .select('w.id as shareid', 'w.trigger_kind', 'w.name', 'r.pass')
      .select(bestPriority(knex, p.pool, knex.ref('w.id')).as('best'))
      .leftJoin('rms_share as r', (on) => on.on('r.shareid', 'w.id').andOnVal('r.pool', p.pool));
    if (dialect === 'oracle') return q.whereIn('w.id', p.ids ?? []);
    const next = (after: string | null) =>
      `(select min(j.shareid) from rms_job j where j.status = 'READY' and j.pool = ?${after === null ? '' : ` and j.shareid > ${after}`})`;
    const found = knex.raw(
      `with recursive s (shareid, n) as (select ${next(null)}, 1 union all select ${next('s.shareid')}, s.n + 1 from s where s.shareid is not null and s.n < ?) select shareid from s where shareid is not null`,
      [p.pool, p.pool, SHARES_MAX],
    );
    return q.whereRaw('?? in (?)', ['w.id', found]);
  },
);

/** On Oracle, the next share after `after` with READY jobs in a pool (see `selectShares`). */
export const nextShare = defineQuery('rms.nextShare', { pool: 'local', after: 0 }, (knex, p) =>
  knex('rms_job').min('shareid as shareid').where({ status: 'READY', pool: p.pool }).andWhere('shareid', '>', p.after),
);

/**
 * What shares were given: each share's pass, raised first to the floor (a share that had no
 * READY jobs for a while comes back at most `credit` behind the front), then by its jobs.
 */
export const addSharePass = defineQuery('rms.addSharePass', { pool: 'local', shareid: 1, floor: 0, add: 1000 }, (knex, p) =>
  knex('rms_share')
    .update({ pass: knex.raw('case when ?? < ? then ? else ?? end + ?', ['pass', p.floor, p.floor, 'pass', p.add]) })
    .where({ pool: p.pool, shareid: p.shareid }),
);
