import type { Knex } from 'knex';
import type { Dialect } from '../../../core/db.js';
import { insertColumns, type InsertColumn, defineQuery } from '../../../core/query.js';

export interface SeriesRow {
  id: number;
  name: string;
  labels: string;
}

export const selectSeries = defineQuery('smas.selectSeries', { name: 'host.load1', labels: '{"host":"dpc1"}' }, (knex, p) =>
  knex('smas_series').select('id').where({ name: p.name, labels: p.labels }),
);

export const insertSeries = defineQuery('smas.insertSeries', { name: 'host.load1', labels: '{"host":"dpc1"}', created: 1767225600000 }, (knex, p) =>
  knex('smas_series').insert(p).returning('id'),
);

export const listSeries = defineQuery('smas.listSeries', {}, (knex) => knex('smas_series').select('id', 'name', 'labels').orderBy(['name', 'labels']));

const SAMPLE_COLUMNS: InsertColumn[] = [
  ['seriesid', 'bigint'],
  ['t', 'bigint'],
  ['value', 'float8'],
];

/** Samples as [seriesid, t, value]: one statement however many (a sampler's few, or a bulk load's 500). */
export const insertSamples = defineQuery('smas.insertSamples', { rows: [[1, 1767225600000, 0.5]] as [number, number, number][] }, (knex, p, dialect) =>
  insertColumns(knex, dialect, 'smas_sample', SAMPLE_COLUMNS, p.rows),
);

/**
 * The latest sample of each series, by the (seriesid, t) key: one probe a series. The latest
 * time is found per series first, in a derived table: as a condition on the join, PostgreSQL
 * ran the max once per sample of the series (1.9 s for 29 series of 45 days).
 */
export const latestSamples = defineQuery('smas.latestSamples', {}, (knex) =>
  knex
    .from(
      knex('smas_series as s')
        .select('s.id', 's.name', 's.labels', knex('smas_sample as m').max('m.t').where('m.seriesid', knex.ref('s.id')).as('t'))
        .as('l'),
    )
    .join('smas_sample as x', (j) => j.on('x.seriesid', 'l.id').andOn('x.t', 'l.t'))
    .select('l.id', 'l.name', 'l.labels', 'l.t', 'x.value')
    .orderBy(['l.name', 'l.labels']),
);

/**
 * Which bucket of `width` ms from `from` a time falls in: integer division, written per
 * dialect (PostgreSQL divides bigints whole, SQLite whole numbers once cast, Oracle with floor).
 */
function bucket(knex: Knex, dialect: Dialect, column: string, from: number, width: number): Knex.Raw {
  if (dialect === 'postgresql') return knex.raw('(?? - ?::bigint) / ?::bigint', [column, from, width]);
  if (dialect === 'sqlite') return knex.raw('cast((?? - ?) / ? as integer)', [column, from, width]);
  return knex.raw('floor((?? - ?) / ?)', [column, from, width]);
}

export interface BucketRow {
  seriesid: number;
  b: number;
  vmin: number;
  vmax: number;
  vsum: number;
  n: number;
}

const RANGE = { ids: [1, 2], from: 1767225600000, to: 1767312000000, width: 86400 };

/**
 * Some series in [from, to), in buckets of `width` ms: the min, max, sum and count of each,
 * from the raw samples or from the hourly roll-ups (of which it adds up the counts). The
 * bucket is named in a derived table, so that the grouping repeats no bound expression
 * (PostgreSQL would not see `$1` and `$4` as the same).
 */
function buckets(knex: Knex, dialect: Dialect, p: typeof RANGE, table: 'smas_sample' | 'smas_rollup'): Knex.QueryBuilder {
  const raw = table === 'smas_sample';
  const inner = knex(table)
    .select('seriesid', ...(raw ? ['value'] : ['vmin', 'vmax', 'vsum', 'n']), bucket(knex, dialect, 't', p.from, p.width).wrap('', ' as b'))
    .whereIn('seriesid', p.ids)
    .andWhere('t', '>=', p.from)
    .andWhere('t', '<', p.to);
  const q = knex
    .from(inner.as('q'))
    .select('seriesid', 'b')
    .min({ vmin: raw ? 'value' : 'vmin' })
    .max({ vmax: raw ? 'value' : 'vmax' })
    .sum({ vsum: raw ? 'value' : 'vsum' });
  return (raw ? q.count({ n: '*' }) : q.sum({ n: 'n' })).groupBy('seriesid', 'b').orderBy(['seriesid', 'b']);
}

export const bucketSamples = defineQuery('smas.bucketSamples', RANGE, (knex, p, dialect) => buckets(knex, dialect, p, 'smas_sample'));

/** The hourly roll-ups in buckets whose width is a whole number of hours. */
export const bucketRollups = defineQuery('smas.bucketRollups', { ...RANGE, width: 3600000 }, (knex, p, dialect) => buckets(knex, dialect, p, 'smas_rollup'));

export const HOUR_MS = 3_600_000;

/** Removes the roll-ups of the hours in [from, to), before they are made again. */
export const deleteRollups = defineQuery('smas.deleteRollups', { from: 1767225600000, to: 1767232800000 }, (knex, p) =>
  knex('smas_rollup').delete().where('t', '>=', p.from).andWhere('t', '<', p.to),
);

/** Rolls up the raw samples of the hours in [from, to) (whole hours) of every series: one row per series and hour. */
export const insertRollups = defineQuery('smas.insertRollups', { from: 1767225600000, to: 1767232800000 }, (knex, p, dialect) => {
  const hours = knex('smas_sample')
    .select('seriesid', 'value', knex.raw('? + ? * ?', [p.from, bucket(knex, dialect, 't', p.from, HOUR_MS), HOUR_MS]).wrap('', ' as ht'))
    .where('t', '>=', p.from)
    .andWhere('t', '<', p.to);
  const grouped = knex
    .from(hours.as('q'))
    .select('seriesid', 'ht')
    .min({ vmin: 'value' })
    .max({ vmax: 'value' })
    .sum({ vsum: 'value' })
    .count({ n: '*' })
    .groupBy('seriesid', 'ht');
  return knex.into(knex.raw('?? (??, ??, ??, ??, ??, ??)', ['smas_rollup', 'seriesid', 't', 'vmin', 'vmax', 'vsum', 'n'])).insert(grouped);
});

/** The oldest raw sample's time, or null: where retention starts. */
export const oldestSample = defineQuery('smas.oldestSample', {}, (knex) => knex('smas_sample').min({ t: 't' }));

/** Raw samples older than `before` (retention deletes a day at a time, so that no statement holds many rows). */
export const deleteSamples = defineQuery('smas.deleteSamples', { before: 1767225600000 }, (knex, p) => knex('smas_sample').delete().where('t', '<', p.before));

export const deleteOldRollups = defineQuery('smas.deleteOldRollups', { before: 1767225600000 }, (knex, p) => knex('smas_rollup').delete().where('t', '<', p.before));

/**
 * The database's size in bytes: PostgreSQL's of the whole database, SQLite's file (pages ×
 * page size), and on Oracle the segments of the schema DPC owns (a shared instance's other
 * schemas are not DPC's).
 */
export const databaseBytes = defineQuery('smas.databaseBytes', {}, (knex, _p, dialect) => {
  if (dialect === 'postgresql') return knex.raw('select pg_database_size(current_database()) as bytes');
  if (dialect === 'sqlite') return knex.raw('select p.page_count * s.page_size as bytes from pragma_page_count() p, pragma_page_size() s');
  return knex.raw('select coalesce(sum(bytes), 0) as bytes from user_segments');
});
