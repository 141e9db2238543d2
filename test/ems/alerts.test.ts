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

test('clearing an alert ends it and publishes alert.cleared once; the same cause raised later is a new alert', async () => {
  const cause = { dedupe: 'dss.disk test-clear', code: 'DPC_TEST_CLEAR', subsystem: 'dss' };
  const raised = await c.h.ems.alerts.raise({ ...cause, severity: 'ERROR', message: 'store disk low' });
  expect(await c.h.ems.alerts.isOpen(cause.dedupe)).toBe(true);
  expect(await c.h.ems.alerts.clear({ ...cause, message: 'store disk has room again' })).toBe(raised);
  expect(await c.h.ems.alerts.isOpen(cause.dedupe)).toBe(false);
  // Nothing open: nothing cleared, nothing published.
  expect(await c.h.ems.alerts.clear({ ...cause, message: 'store disk has room again' })).toBeUndefined();
  const cleared = (await c.h.knex('ems_outbox').where({ topic: 'alert.cleared' }).select('payload')) as { payload: string }[];
  expect(cleared.map((r) => JSON.parse(r.payload)).filter((p) => p.dedupe === cause.dedupe)).toEqual([{ alertid: raised, ...cause, message: 'store disk has room again' }]);
  const [row] = await c.h.knex('ems_alert').where({ id: raised });
  expect(row.cleared).not.toBeNull();
  expect(row.state).toBe('OPEN');

  const again = await c.h.ems.alerts.raise({ ...cause, severity: 'ERROR', message: 'store disk low again' });
  expect(again).not.toBe(raised);
  const payload = JSON.parse((await c.h.knex('ems_outbox').where({ topic: 'alert.raised' }).andWhere('payload', 'like', `%"alertid":${again},%`).first()).payload);
  expect(payload.dedupe).toBe(cause.dedupe);
});

test('an acknowledged alert is not open: clearing it changes nothing, and its cause raises a new one', async () => {
  const cause = { dedupe: 'dss.disk test-acked', code: 'DPC_TEST_ACKED', subsystem: 'dss' };
  const first = await c.h.ems.alerts.raise({ ...cause, severity: 'WARNING', message: 'low' });
  await c.h.knex('ems_alert').where({ id: first }).update({ state: 'ACKED', acked: Date.now(), acked_by: 'alice' });
  expect(await c.h.ems.alerts.isOpen(cause.dedupe)).toBe(false);
  expect(await c.h.ems.alerts.clear({ ...cause, message: 'fine' })).toBeUndefined();
  expect((await c.h.knex('ems_alert').where({ id: first }).first()).cleared).toBeNull();
  expect(await c.h.ems.alerts.raise({ ...cause, severity: 'WARNING', message: 'low' })).not.toBe(first);
});
