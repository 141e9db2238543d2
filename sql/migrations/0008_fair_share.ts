import type { Ddl } from '../ddl.js';

/**
 * Fair share of a pool's places between the requests that have READY jobs (docs/queue.md,
 * "Fair share"). Each job carries its share: the request it belongs to, named by the id of
 * the request's first instance (a backfill's days share the first day's; any other instance
 * is a share of its own). A claim finds a pool's shares with READY jobs by skipping through
 * rms_job_share_ix, one descent per share, and takes each share's next jobs from there.
 *
 * rms_share keeps, per pool and share, how much the share has been given: its pass (jobs
 * claimed × 1 000 / weight). Claims go to the shares of the lowest pass.
 *
 * Jobs made before it are each their instance's share: a backfill queued before it is
 * served as many shares, as before.
 */
export const name = '0008_fair_share';

export function up(ddl: Ddl): void {
  ddl.alter('rms_job', (c) => void c.big('shareid'));
  const { knex } = ddl;
  ddl.data(knex('rms_job').update({ shareid: knex.ref('workflowid') }));
  // The claim: READY jobs of a pool and share, highest priority first, then oldest; and the
  // shares of a pool that have READY jobs, one descent each.
  ddl.index('rms_job', 'share_ix', ddl.dialect === 'postgresql' ? ['pool', 'shareid', { column: 'priority', desc: true }, 'id'] : ['status', 'pool', 'shareid', { column: 'priority', desc: true }, 'id'], {
    column: 'status',
    in: ['READY'],
  });
  ddl.table('rms_share', (c) => {
    c.str('pool', 32).notNullable();
    c.big('shareid').notNullable();
    c.primary(['pool', 'shareid']);
    c.big('pass').notNullable().defaultTo(0);
  });
}
