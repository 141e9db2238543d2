import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { isUniqueViolation } from '../../core/db.js';
import { chunks, insertedId, INSERT_ROWS_MAX } from '../../core/query.js';
import {
  bucketRollups,
  bucketSamples,
  databaseBytes,
  deleteOldRollups,
  deleteRollups,
  deleteSamples,
  HOUR_MS,
  insertRollups,
  insertSamples,
  insertSeries,
  latestSamples,
  listSeries,
  oldestSample,
  selectSeries,
  type BucketRow,
} from './sql/monitor.js';

export { HOUR_MS };
export type Labels = Record<string, string>;

/** One value of one series, as a sampler reads it. */
export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

export interface Series {
  id: number;
  name: string;
  labels: Labels;
}

/** A bucket of a series: its start (Unix ms), and the min, mean and max of the samples in it. */
export type Point = [t: number, min: number, avg: number, max: number];

export interface Range {
  from: number;
  to: number;
  /** The width of a bucket, ms. */
  width: number;
  /** `raw`: from the samples; `hourly`: from the hourly roll-ups. */
  source: 'raw' | 'hourly';
  series: (Series & { points: Point[] })[];
}

/** At most this many points a series in a range: a chart's width, and a small answer for a year. */
export const MAX_POINTS = 1000;

const DAY_MS = 86_400_000;

/** The labels as they are stored: JSON with sorted keys, so one series has one text. */
export function labelText(labels: Labels): string {
  return JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

function parseLabels(text: string): Labels {
  return JSON.parse(text) as Labels;
}

/**
 * The Monitor's samples in the database: series made on first use, raw samples, their hourly
 * roll-ups, and the ranges the console reads, downsampled on the server into at most
 * MAX_POINTS buckets (min, mean, max) a series.
 */
export class SampleStore {
  private readonly ids = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** The id of a series, made the first time it is seen (by any process). */
  async seriesId(name: string, labels: Labels): Promise<number> {
    const text = labelText(labels);
    const key = `${name}${text}`;
    const known = this.ids.get(key);
    if (known !== undefined) return known;
    const find = async () => ((await selectSeries(this.db.knex, { name, labels: text })) as { id: number }[])[0];
    let row = await find();
    if (!row) {
      try {
        row = { id: insertedId(await insertSeries(this.db.knex, { name, labels: text, created: this.clock.now() })) };
      } catch (err) {
        // Another process made it first.
        if (!isUniqueViolation(err)) throw err;
        row = await find();
        if (!row) throw err;
      }
    }
    const id = Number(row.id);
    this.ids.set(key, id);
    return id;
  }

  /**
   * Writes the samples of one time, in one transaction. Values that are not finite numbers
   * (a probe that could not read) are left out. A time already written for a series (two
   * processes sampled the same slot as a lease changed hands) keeps the first: false.
   */
  async write(t: number, samples: readonly Sample[]): Promise<boolean> {
    const rows: [number, number, number][] = [];
    for (const s of samples) if (Number.isFinite(s.value)) rows.push([await this.seriesId(s.name, s.labels), t, s.value]);
    if (rows.length === 0) return true;
    try {
      await insertSamples(this.db.knex, { rows });
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  /**
   * Writes many samples, [seriesid, t, value]: a bulk load (tests, the benchmark's year). The
   * statement of PostgreSQL and SQLite is the same for any number of rows, so it takes many
   * at once; Oracle's is Knex's multi-row insert, of at most INSERT_ROWS_MAX.
   */
  async writeMany(rows: readonly [number, number, number][]): Promise<void> {
    for (const part of chunks(rows, this.db.dialect === 'oracle' ? INSERT_ROWS_MAX : 10_000)) await insertSamples(this.db.knex, { rows: part });
  }

  /** Makes the hourly roll-ups of the hours that [from, to) touches again from the raw samples. */
  async rollUp(from: number, to: number): Promise<void> {
    const start = Math.floor(from / HOUR_MS) * HOUR_MS;
    const end = Math.ceil(to / HOUR_MS) * HOUR_MS;
    // A day at a time: a rebuild of a year (a bulk load) stays a series of short transactions.
    for (let a = start; a < end; a += DAY_MS) {
      const b = Math.min(a + DAY_MS, end);
      await this.db.knex.transaction(async (trx) => {
        await deleteRollups(trx, { from: a, to: b });
        await insertRollups(trx, { from: a, to: b });
      });
    }
  }

  /**
   * Deletes raw samples older than `rawBefore` (a day at a time from the oldest) and roll-ups
   * older than `rollupBefore`; returns how many raw samples went.
   */
  async prune(rawBefore: number, rollupBefore: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const [row] = (await oldestSample(this.db.knex, {})) as { t: number | string | null }[];
      if (row?.t === null || row?.t === undefined || Number(row.t) >= rawBefore) break;
      deleted += Number(await deleteSamples(this.db.knex, { before: Math.min(Number(row.t) + DAY_MS, rawBefore) }));
    }
    await deleteOldRollups(this.db.knex, { before: rollupBefore });
    return deleted;
  }

  async series(): Promise<Series[]> {
    return ((await listSeries(this.db.knex, {})) as { id: number; name: string; labels: string }[]).map((r) => ({ id: Number(r.id), name: r.name, labels: parseLabels(r.labels) }));
  }

  /** Each series with its latest sample. */
  async latest(): Promise<(Series & { t: number; value: number })[]> {
    const rows = (await latestSamples(this.db.knex, {})) as { id: number; name: string; labels: string; t: number; value: number }[];
    return rows.map((r) => ({ id: Number(r.id), name: r.name, labels: parseLabels(r.labels), t: Number(r.t), value: Number(r.value) }));
  }

  /**
   * Series `ids` over [from, to), in at most MAX_POINTS buckets a series. Buckets narrower
   * than an hour are made from the raw samples; wider ones, or any range that starts before
   * `rawSince` (raw samples are kept for less long), from the hourly roll-ups, in whole hours
   * (the range widened to them).
   */
  async range(ids: readonly number[], from: number, to: number, rawSince: number): Promise<Range> {
    let width = Math.max(Math.ceil((to - from) / MAX_POINTS), 1);
    const hourly = width >= HOUR_MS || from < rawSince;
    let start = from;
    let end = to;
    if (hourly) {
      // Whole hours: a roll-up holds its hour's samples, whatever part of it the range asked for.
      width = Math.ceil(width / HOUR_MS) * HOUR_MS;
      start = Math.floor(from / HOUR_MS) * HOUR_MS;
      end = Math.ceil(to / HOUR_MS) * HOUR_MS;
      // The hours' alignment may add a bucket: widen by one more hour rather than exceed MAX_POINTS.
      if (Math.ceil((end - start) / width) > MAX_POINTS) width += HOUR_MS;
    }
    const known = new Map((await this.series()).map((s) => [s.id, s]));
    const wanted = ids.filter((id) => known.has(id));
    const points = new Map<number, Point[]>(wanted.map((id) => [id, []]));
    if (wanted.length > 0) {
      const query = hourly ? bucketRollups : bucketSamples;
      const rows = (await query(this.db.knex, { ids: wanted, from: start, to: end, width })) as BucketRow[];
      for (const r of rows) {
        const n = Number(r.n);
        if (n === 0) continue;
        points.get(Number(r.seriesid))?.push([start + Number(r.b) * width, Number(r.vmin), Number(r.vsum) / n, Number(r.vmax)]);
      }
    }
    return { from: start, to: end, width, source: hourly ? 'hourly' : 'raw', series: wanted.map((id) => ({ ...known.get(id)!, points: points.get(id)! })) };
  }

  /** The database's size in bytes. */
  async databaseBytes(): Promise<number> {
    const result = (await databaseBytes(this.db.knex, {})) as unknown;
    const rows = (Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? [])) as { bytes: number | string }[];
    return Number(rows[0]?.bytes ?? NaN);
  }
}
