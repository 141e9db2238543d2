import type { Ddl } from '../ddl.js';

/**
 * SMAS's Monitor: time series sampled into the database (the DPCT's Cacti).
 *
 * - `smas_series`: one row per series, a name (`host.load1`) and its labels as canonical
 *   JSON (`{"host":"dpc1"}`, `{}` when none: Oracle would read '' as NULL).
 * - `smas_sample`: the raw samples, narrow, keyed by (series, time) for range reads; the
 *   time index serves the hourly roll-up and retention, which read every series at once.
 * - `smas_rollup`: one row per series and hour (min, max, sum, count), so that a year's
 *   chart reads 8 760 rows a series instead of 525 600.
 * - `ems_alert.cleared`: when the condition an alert raised went away (a disk that has room
 *   again); an alert is open while it is neither cleared nor acknowledged.
 */
export const name = '0012_monitor';

export function up(ddl: Ddl): void {
  ddl.table('smas_series', (c) => {
    c.id();
    c.str('name', 64).notNullable();
    c.str('labels', 400).notNullable();
    c.big('created').notNullable();
    c.unique(['name', 'labels'], 'name_uq');
  });
  ddl.table(
    'smas_sample',
    (c) => {
      c.ref('seriesid', 'smas_series').notNullable();
      c.big('t').notNullable();
      c.real('value').notNullable();
      c.primary(['seriesid', 't']);
      c.index(['t'], 't_ix');
    },
    { partitionBy: 't' },
  );
  ddl.table('smas_rollup', (c) => {
    c.ref('seriesid', 'smas_series').notNullable();
    c.big('t').notNullable();
    c.real('vmin').notNullable();
    c.real('vmax').notNullable();
    c.real('vsum').notNullable();
    c.int('n').notNullable();
    c.primary(['seriesid', 't']);
    c.index(['t'], 't_ix');
  });
  ddl.alter('ems_alert', (c) => {
    c.big('cleared');
  });
}
