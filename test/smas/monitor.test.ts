import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SampleStore } from '../../subsystems/smas/samples.js';
import { systemClock } from '../../core/clock.js';
import type { Harness } from '../fixtures/rms-harness.js';
import { startConsole, type ConsoleUnderTest } from '../helpers/console.js';
import { until } from '../helpers/server.js';

let c: ConsoleUnderTest;
let h: Harness;
const INTERVAL = 3_600_000;

beforeAll(async () => {
  // An interval of an hour: the test takes its samples itself. Every disk is "low", so the sampler raises its alerts.
  c = await startConsole({ env: { DPC_SMAS__MONITOR__INTERVALMS: String(INTERVAL), DPC_SMAS__MONITOR__DISKMINFREEMB: '1000000000000' } });
  h = c.h;
});
afterAll(async () => {
  await c?.close();
});

const get = (path: string) => c.get(path);

const store = () => new SampleStore(h.dpc.db, systemClock);

describe('the Monitor', () => {
  test('samples the host, the database and the queue into their series', async () => {
    const now = Date.now();
    await h.dpc.smas.monitor.sample(now);
    await h.dpc.smas.monitor.sample(now + INTERVAL);
    const latest = await store().latest();
    const names = latest.map((s) => `${s.name}${JSON.stringify(s.labels)}`);
    const host = hostname();
    for (const name of [
      `host.load1{"host":"${host}"}`,
      `host.cpu_percent{"host":"${host}"}`,
      `host.mem_used_mb{"host":"${host}"}`,
      `host.mem_free_mb{"host":"${host}"}`,
      `host.disk_free_mb{"area":"dss","host":"${host}"}`,
      `host.disk_free_mb{"area":"joblog","host":"${host}"}`,
      `db.ping_ms{"host":"${host}"}`,
      `db.pool_used{"host":"${host}"}`,
      'db.size_mb{}',
      'queue.jobs{"state":"READY"}',
      'queue.jobs{"state":"RUNNING"}',
      'queue.ended_per_s{"status":"SUCCESS"}',
    ]) {
      expect(names).toContain(name);
    }
    const size = latest.find((s) => s.name === 'db.size_mb')!;
    expect(size.value).toBeGreaterThan(0);
    expect(size.t).toBe(Math.floor((now + INTERVAL) / INTERVAL) * INTERVAL);
    const rolled = (await h.knex('smas_rollup').count({ n: '*' })) as { n: number }[];
    expect(Number(rolled[0].n)).toBeGreaterThan(0);
  });

  test('raises one alert a disk under its threshold, however many samples see it low', async () => {
    for (let i = 2; i < 5; i++) await h.dpc.smas.monitor.sample(Date.now() + i * INTERVAL);
    await until(async () => (await h.ems.alerts.list({ state: 'OPEN' })).length === 2, 10_000, 'two disk alerts');
    await h.dpc.smas.monitor.sample(Date.now() + 5 * INTERVAL);
    const raised = (await h.knex('ems_outbox').where('topic', 'alert.raised').select('payload')) as { payload: string }[];
    expect(raised.map((r) => (JSON.parse(r.payload) as { dedupe: string }).dedupe).sort()).toEqual([`disk.low ${hostname()} dss`, `disk.low ${hostname()} joblog`]);
  });

  test('its page shows each series latest value in a table, draws no chart without its script, and runs no inline script', async () => {
    const page = await get('/smas/monitor?range=7d');
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.text).toMatch(/<a href="\/smas\/monitor\?range=7d" class="active"/);
    const figure = /<figure class="chart" data-name="db\.size_mb" data-series="(\d+)"[^>]*data-from="(\d+)" data-to="(\d+)">([\s\S]*?)<\/figure>/.exec(page.text);
    expect(figure).not.toBeNull();
    expect(Number(figure![3]) - Number(figure![2])).toBe(7 * 86_400_000);
    expect(figure![4]).toMatch(/<td class="num">\d/);
    expect(page.text).toContain('Disk free (DSS root, job log store)');
    expect(page.text).toMatch(/<td>area=dss host=[^<]+<\/td>/);
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((s) => /src="([^"]+)"/.exec(s[1])?.[1])).toEqual(['/static/vendor/uplot/uPlot.iife.min.js', '/static/monitor.js']);
    expect(scripts.every((s) => s[2].trim() === '')).toBe(true);
    expect(page.text).not.toMatch(/\son[a-z]+="/);
    for (const asset of ['/static/vendor/uplot/uPlot.iife.min.js', '/static/vendor/uplot/uPlot.min.css', '/static/monitor.js']) {
      const res = await get(asset);
      expect(res.status, asset).toBe(200);
    }
  });

  test("its JSON twin gives a range's points of the series asked for, bookmarkable by range or by from and to", async () => {
    const all = (await get('/api/smas/monitor?range=1h')).json();
    const size = all.latest.find((s: { name: string }) => s.name === 'db.size_mb');
    expect(size).toMatchObject({ title: 'Database size', unit: 'MiB', group: 'database' });
    const later = Date.now() + 6 * INTERVAL;
    const one = (await get(`/api/smas/monitor?series=${size.id}&from=${Date.now() - 3_600_000}&to=${later}`)).json();
    expect(one.range).toBeNull();
    expect(one.series.map((s: { id: number }) => s.id)).toEqual([size.id]);
    const points = one.series[0].points as [number, number, number, number][];
    expect(points.length).toBeGreaterThan(0);
    for (const [, min, avg, max] of points) expect(min <= avg && avg <= max).toBe(true);
    const year = (await get(`/api/smas/monitor?range=1y&series=${size.id}`)).json();
    expect(year).toMatchObject({ range: '1y', source: 'hourly' });
  });

  test('refuses a range it does not know, times it cannot read and series that are not ids, naming what is wrong', async () => {
    for (const [query, message] of [
      ['range=2w', /range must be one of 1h, 1d, 7d, 30d, 1y; got "2w"/],
      ['from=yesterday', /from must be Unix milliseconds or an ISO 8601 time; got "yesterday"/],
      ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', /from \(2026-01-02T00:00:00\.000Z\) must be before to/],
      ['series=1,x', /series must be ids separated by commas/],
      ['from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', /a range of at most 732 days/],
    ] as const) {
      const res = await get(`/api/smas/monitor?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json().error.code).toBe('DPC_SMAS_MONITOR_QUERY');
      expect(res.json().error.message).toMatch(message);
    }
    const page = await get('/smas/monitor?range=2w');
    expect(page.status).toBe(400);
    expect(page.text).toContain('DPC_SMAS_MONITOR_QUERY');
  });

  test('prunes through its duty what is past the retention', async () => {
    const s = store();
    const id = await s.seriesId('host.load1', { host: 'retired' });
    const old = Date.now() - 500 * 86_400_000;
    await s.writeMany([
      [id, old, 1],
      [id, old + 60_000, 2],
    ]);
    expect(await h.dpc.smas.monitor.prune()).toBe(2);
    expect(await h.knex('smas_sample').where('seriesid', id).select('t')).toEqual([]);
  });
});
