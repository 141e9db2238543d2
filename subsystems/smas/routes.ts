import { Router } from 'express';
import type { Config } from '../../config/schema.js';
import { smasErrors } from './errors.js';
import type { SmasService } from './index.js';
import { SERIES, type SeriesGroup } from './monitor.js';
import type { Labels, SampleStore } from './samples.js';

const DAY_MS = 86_400_000;

/** The ranges the Monitor page offers, by their name in the query string. */
export const RANGES: Record<string, number> = { '1h': 3_600_000, '1d': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS, '1y': 365 * DAY_MS };
const DEFAULT_RANGE = '1d';
/** A range longer than this is refused: nothing older is kept by default. */
const MAX_SPAN_MS = 2 * 366 * DAY_MS;
const MAX_SERIES = 100;

type MonitorConfig = Config['smas']['monitor'];

/** A time of the query string: Unix ms, or an ISO 8601 date-time. */
function timeOf(value: unknown, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const text = String(value);
  const t = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(t)) throw smasErrors.monitorQuery(`${what} must be Unix milliseconds or an ISO 8601 time; got ${JSON.stringify(value)}`);
  return t;
}

/** The range a request asks for: `range=1h|1d|7d|30d|1y` back from `to` (default now), or `from` and `to`. */
export function rangeOf(query: Record<string, unknown>, now: number): { name: string | undefined; from: number; to: number } {
  const to = timeOf(query.to, 'to') ?? now;
  let from = timeOf(query.from, 'from');
  let name: string | undefined;
  if (from === undefined) {
    name = query.range === undefined || query.range === '' ? DEFAULT_RANGE : String(query.range);
    const span = RANGES[name];
    if (span === undefined) throw smasErrors.monitorQuery(`range must be one of ${Object.keys(RANGES).join(', ')}; got ${JSON.stringify(query.range)}`);
    from = to - span;
  }
  if (from >= to) throw smasErrors.monitorQuery(`from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
  if (to - from > MAX_SPAN_MS) throw smasErrors.monitorQuery(`a range of at most ${MAX_SPAN_MS / DAY_MS} days; got ${Math.ceil((to - from) / DAY_MS)}`);
  return { name, from, to };
}

function seriesIds(value: unknown): number[] | undefined {
  if (value === undefined || value === '') return undefined;
  const parts = String(value).split(',');
  if (parts.length > MAX_SERIES) throw smasErrors.monitorQuery(`at most ${MAX_SERIES} series at once; got ${parts.length}`);
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isSafeInteger(n) || n < 1) throw smasErrors.monitorQuery(`series must be ids separated by commas; got ${JSON.stringify(value)}`);
    return n;
  });
}

const describe = (name: string) => SERIES[name] ?? { title: name, unit: '', group: 'other' as const };

/** The Monitor's JSON: the series with their latest values, and the asked ones' points over the range. */
async function monitorJson(store: SampleStore, config: MonitorConfig, query: Record<string, unknown>, now: number) {
  const range = rangeOf(query, now);
  const latest = await store.latest();
  const ids = seriesIds(query.series) ?? latest.map((s) => s.id);
  const points = await store.range(ids, range.from, range.to, now - config.rawDays * DAY_MS);
  return {
    range: range.name ?? null,
    from: points.from,
    to: points.to,
    bucketMs: points.width,
    source: points.source,
    intervalMs: config.intervalMs,
    latest: latest.map((s) => ({ ...s, ...describe(s.name) })),
    series: points.series.map((s) => ({ ...s, ...describe(s.name) })),
  };
}

/** GET /api/smas/subsystems: this process's database status and subsystem states; GET /api/smas/monitor: the Monitor's series. */
export function smasApi(processId: string, smas: SmasService, store: SampleStore, config: MonitorConfig): Router {
  const api = Router();
  api.get('/subsystems', async (_req, res) => {
    res.json({ process: processId, database: smas.db(), subsystems: smas.states() });
  });
  api.get('/monitor', async (req, res) => {
    res.json(await monitorJson(store, config, req.query, Date.now()));
  });
  return api;
}

const GROUPS: { group: SeriesGroup | 'other'; title: string }[] = [
  { group: 'host', title: 'Host' },
  { group: 'database', title: 'Database' },
  { group: 'queue', title: 'Queue' },
  { group: 'other', title: 'Other' },
];

const labelsText = (labels: Labels) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/**
 * The Monitor page: for each series a chart over the range (drawn by /static/monitor.js from
 * the JSON twin) above a table of its latest values, which is the page without JavaScript.
 */
export function smasPages(store: SampleStore, config: MonitorConfig): Router {
  const pages = Router();
  pages.get('/monitor', async (req, res) => {
    const now = Date.now();
    const range = rangeOf(req.query, now);
    const latest = await store.latest();
    const byName = new Map<string, typeof latest>();
    for (const s of latest) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    const charts = [...byName.entries()].map(([name, series]) => ({
      name,
      ...describe(name),
      ids: series.map((s) => s.id).join(','),
      rows: series.map((s) => ({ id: s.id, labels: labelsText(s.labels), value: s.value, t: s.t })),
    }));
    res.render('smas/monitor', {
      title: 'Monitor',
      ranges: Object.keys(RANGES),
      range: range.name,
      from: range.from,
      to: range.to,
      intervalMs: config.intervalMs,
      groups: GROUPS.map((g) => ({ ...g, charts: charts.filter((c) => c.group === g.group) })).filter((g) => g.charts.length > 0),
      format: (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3)),
      at: (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 19),
    });
  });
  return pages;
}
