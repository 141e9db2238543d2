import { afterAll, beforeAll, expect, test } from 'vitest';
import { ended, operator } from '../fixtures/rms-harness.js';
import { startConsole, tableRows, type ConsoleUnderTest } from '../helpers/console.js';
import { until } from '../helpers/server.js';

let c: ConsoleUnderTest;
beforeAll(async () => {
  c = await startConsole();
});
afterAll(async () => {
  await c?.close();
});

test('the Welcome page counts the workflows running, those failed today and the jobs queued, from the per-step counts', async () => {
  const bad = await c.h.rms.start('doomed', {}, operator);
  expect((await ended(c.h, bad.id)).status).toBe('FAILED');
  await c.h.pfs.drain('held', { username: 'alice', reason: 'keep the jobs queued' });
  const queued = await c.h.rms.start('held', { params: { n: 4 } }, operator);
  const slow = await c.h.rms.start('slow', {}, operator);
  await until(async () => (await c.get('/api/smas/overview')).json().work.jobs.RUNNING === 2, 10_000, 'the slow jobs running');
  const api = (await c.get('/api/smas/overview')).json();
  expect(api.work.workflows).toEqual({ running: 2, paused: 0, failedToday: 1, succeededToday: 0 });
  expect(api.work.queueDepth).toBe(4);
  expect(api.pools).toEqual({ open: 1, total: 2, drained: ['held'] });
  const [row] = tableRows((await c.get('/')).text, 'glance');
  expect(row.slice(0, 6)).toEqual(['2', '0', '1', '0', '4', '2']);
  expect(row[9]).toBe('1 of 2 (drained: held)');
  await c.h.rms.actions.cancel(queued.id, operator);
  await c.h.rms.actions.cancel(slow.id, operator);
});
