import { afterAll, beforeAll, expect, test } from 'vitest';
import { startConsole, tableRows, type ConsoleUnderTest } from '../helpers/console.js';

let c: ConsoleUnderTest;
beforeAll(async () => {
  c = await startConsole();
});
afterAll(async () => {
  await c?.close();
});

test('the Alerts page lists open alerts newest first, escaped, paged by key, with its JSON twin', async () => {
  const ids: number[] = [];
  for (let i = 0; i < 53; i++) ids.push(await c.h.ems.alerts.raise({ severity: i % 2 ? 'ERROR' : 'WARNING', code: 'DPC_TEST', subsystem: 'dss', message: `alert ${i} <img src=x onerror=alert(1)>` }));
  // One acknowledged: not open, so not shown unless asked for.
  await c.h.knex('ems_alert').where({ id: ids[52] }).update({ state: 'ACKED', acked: Date.now(), acked_by: 'alice' });
  const page = await c.get('/ems/alerts');
  expect(page.status).toBe(200);
  const rows = tableRows(page.text, 'alerts');
  expect(rows).toHaveLength(50);
  expect(rows[0].slice(0, 1)).toEqual([String(ids[51])]);
  expect(rows[0].slice(2, 7)).toEqual(['ERROR', 'DPC_TEST', 'DSS', 'alert 51 &lt;img src=x onerror=alert(1)&gt;', 'OPEN']);
  expect(page.text).not.toContain('<img');
  const older = /<a href="([^"]+)">Older alerts<\/a>/.exec(page.text)?.[1].replaceAll('&amp;', '&');
  expect(older).toBe(`/ems/alerts?state=OPEN&before=${ids[2]}`);
  expect(tableRows((await c.get(older!)).text, 'alerts').map((r) => Number(r[0]))).toEqual([ids[1], ids[0]]);

  const api = async (q: string) => ((await c.get(`/api/ems/alerts?${q}`)).json().alerts as { id: number; state: string }[]).map((a) => a.id);
  expect(await api('limit=2')).toEqual([ids[51], ids[50]]);
  expect(await api(`limit=2&before=${ids[50]}`)).toEqual([ids[49], ids[48]]);
  expect(await api('state=ACKED')).toEqual([ids[52]]);
  expect((await api('state=all&limit=1'))[0]).toBe(ids[52]);
  const bad = await c.get('/api/ems/alerts?state=LOUD');
  expect([bad.status, bad.json().error.code]).toEqual([400, 'DPC_BAD_REQUEST']);
});

test('an alert with a bad code or an empty message is refused, naming what is wrong', async () => {
  await expect(c.h.ems.alerts.raise({ severity: 'ERROR', code: 'bad code!', subsystem: 'dss', message: 'x' })).rejects.toThrow(/^alert rejected: code must be/);
  await expect(c.h.ems.alerts.raise({ severity: 'ERROR', code: 'DPC_X', subsystem: 'dss', message: '  ' })).rejects.toThrow('alert rejected: the message is empty');
});
