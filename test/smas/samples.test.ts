import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { systemClock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { HOUR_MS, labelText, MAX_POINTS, SampleStore, type Point } from '../../subsystems/smas/samples.js';
import { testDb, type TestEnv } from '../helpers/env.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const START = Date.UTC(2025, 0, 1);

let t: TestEnv & { db: Db };
let store: SampleStore;
beforeAll(async () => {
  t = await testDb();
});
afterAll(async () => {
  await t?.cleanup();
});
beforeEach(async () => {
  for (const table of ['smas_rollup', 'smas_sample', 'smas_series']) await t.db.knex(table).delete();
  store = new SampleStore(t.db, systemClock);
});

/** A sample a minute from START for `days`: minute m of the day has the value m (0 to 1439). */
function minutes(seriesid: number, days: number): [number, number, number][] {
  return Array.from({ length: days * 1440 }, (_, i) => [seriesid, START + i * MINUTE, i % 1440]);
}

/** The buckets as the server must make them, computed here from the samples themselves. */
function expected(rows: [number, number, number][], from: number, to: number, width: number): Point[] {
  const buckets = new Map<number, { min: number; max: number; sum: number; n: number }>();
  for (const [, at, v] of rows) {
    if (at < from || at >= to) continue;
    const b = Math.floor((at - from) / width);
    const k = buckets.get(b) ?? { min: Infinity, max: -Infinity, sum: 0, n: 0 };
    buckets.set(b, { min: Math.min(k.min, v), max: Math.max(k.max, v), sum: k.sum + v, n: k.n + 1 });
  }
  return [...buckets.entries()].sort(([a], [b]) => a - b).map(([b, k]) => [from + b * width, k.min, k.sum / k.n, k.max]);
}

function close(actual: Point[], wanted: Point[]): void {
  expect(actual.length).toBe(wanted.length);
  for (let i = 0; i < wanted.length; i++) {
    expect(actual[i][0]).toBe(wanted[i][0]);
    expect(actual[i][1]).toBe(wanted[i][1]);
    expect(actual[i][2]).toBeCloseTo(wanted[i][2], 6);
    expect(actual[i][3]).toBe(wanted[i][3]);
  }
}

describe('the sample store', () => {
  test('makes a series once per name and labels, whatever the order of the labels', async () => {
    const a = await store.seriesId('host.disk_free_mb', { host: 'h1', area: 'dss' });
    const b = await new SampleStore(t.db, systemClock).seriesId('host.disk_free_mb', { area: 'dss', host: 'h1' });
    expect(b).toBe(a);
    expect(labelText({ b: '2', a: '1' })).toBe('{"a":"1","b":"2"}');
    expect(await store.seriesId('host.disk_free_mb', { host: 'h2', area: 'dss' })).not.toBe(a);
  });

  test('writes the samples of a time, keeps the first of a time written twice, and reads each series latest value', async () => {
    expect(await store.write(START, [{ name: 'db.size_mb', labels: {}, value: 12.5 }, { name: 'queue.jobs', labels: { state: 'READY' }, value: 3 }])).toBe(true);
    expect(await store.write(START + MINUTE, [{ name: 'db.size_mb', labels: {}, value: 13 }, { name: 'host.cpu_percent', labels: {}, value: NaN }])).toBe(true);
    expect(await store.write(START + MINUTE, [{ name: 'db.size_mb', labels: {}, value: 99 }])).toBe(false);
    const latest = await store.latest();
    expect(latest.map((s) => [s.name, s.labels, s.t, s.value])).toEqual([
      ['db.size_mb', {}, START + MINUTE, 13],
      ['queue.jobs', { state: 'READY' }, START, 3],
    ]);
  });

  test('answers a year of samples a minute with at most MAX_POINTS buckets a series, from the hourly roll-ups, each its min, mean and max', async () => {
    const id = await store.seriesId('host.load1', { host: 'h1' });
    const other = await store.seriesId('host.load1', { host: 'h2' });
    const rows = minutes(id, 365);
    await store.writeMany(rows);
    await store.writeMany(minutes(other, 2).map(([, at, v]) => [other, at, v * 2]));
    await store.rollUp(START, START + 365 * DAY);
    const to = START + 365 * DAY;
    const range = await store.range([id, other], START, to, START);
    expect(range.source).toBe('hourly');
    expect(range.width % HOUR_MS).toBe(0);
    expect(range.series.map((s) => s.id)).toEqual([id, other]);
    const points = range.series[0].points;
    expect(points.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(points.length).toBeGreaterThan(MAX_POINTS * 0.9);
    expect(range.to).toBe(to);
    close(points, expected(rows, range.from, to, range.width));
    expect(range.series[1].points.length).toBe(Math.ceil((2 * DAY) / range.width));
  });

  test('answers a day from the raw samples, and a range that starts before the raw samples kept from the roll-ups', async () => {
    const id = await store.seriesId('host.load1', { host: 'h1' });
    const rows = minutes(id, 3);
    await store.writeMany(rows);
    await store.rollUp(START, START + 3 * DAY);
    const from = START + DAY + 17 * MINUTE;
    const raw = await store.range([id], from, from + DAY, START);
    expect(raw.source).toBe('raw');
    expect(raw.from).toBe(from);
    expect(raw.series[0].points.length).toBeLessThanOrEqual(MAX_POINTS);
    close(raw.series[0].points, expected(rows, from, from + DAY, raw.width));

    const hourly = await store.range([id], from, from + DAY, START + 2 * DAY);
    expect(hourly.source).toBe('hourly');
    expect(hourly.width).toBe(HOUR_MS);
    expect([hourly.from, hourly.to]).toEqual([START + DAY, START + 2 * DAY + HOUR_MS]);
    close(hourly.series[0].points, expected(rows, hourly.from, hourly.to, HOUR_MS));
  });

  test('leaves out series it does not know and gives an empty list of points for a range without samples', async () => {
    const id = await store.seriesId('host.load1', { host: 'h1' });
    const range = await store.range([id, 999_999], START, START + HOUR_MS, START);
    expect(range.series).toEqual([{ id, name: 'host.load1', labels: { host: 'h1' }, points: [] }]);
  });

  test('a roll-up made again over the same hours counts each sample once', async () => {
    const id = await store.seriesId('host.load1', { host: 'h1' });
    await store.writeMany(minutes(id, 1));
    await store.rollUp(START, START + DAY);
    await store.rollUp(START + 2 * HOUR_MS, START + 3 * HOUR_MS + 1);
    const rows = (await t.db.knex('smas_rollup').select('t', 'n')) as { t: number; n: number }[];
    expect(rows).toHaveLength(24);
    expect(rows.every((r) => Number(r.n) === 60)).toBe(true);
  });

  test('retention deletes raw samples older than its first cutoff and roll-ups older than its second, and keeps the rest', async () => {
    const id = await store.seriesId('host.load1', { host: 'h1' });
    await store.writeMany(minutes(id, 10));
    await store.rollUp(START, START + 10 * DAY);
    const deleted = await store.prune(START + 6 * DAY, START + 3 * DAY);
    expect(deleted).toBe(6 * 1440);
    const [raw] = (await t.db.knex('smas_sample').min({ t: 't' }).count({ n: '*' })) as { t: number; n: number }[];
    expect([Number(raw.t), Number(raw.n)]).toEqual([START + 6 * DAY, 4 * 1440]);
    const [rolled] = (await t.db.knex('smas_rollup').min({ t: 't' }).count({ n: '*' })) as { t: number; n: number }[];
    expect([Number(rolled.t), Number(rolled.n)]).toEqual([START + 3 * DAY, 7 * 24]);
    expect(await store.prune(START + 6 * DAY, START + 3 * DAY)).toBe(0);
  });
});
