import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
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

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
type Entry = { id: number; message: string; subsystem: string; severity: string; workflowid: number | null; created: number };
const entries = async (query: string) => (await c.get(`/api/ems/mission-log?${query}`)).json().entries as Entry[];

describe('the mission log’s filters', () => {
  beforeEach(async () => {
    await c.h.knex('ems_mission_log').del();
    const row = (i: number, o: Record<string, unknown>) => ({ created: T0 + i * 60_000, severity: 'INFO', subsystem: 'ems', message: `entry ${i}`, ...o });
    await c.h.knex('ems_mission_log').insert([
      row(0, { subsystem: 'rms', workflowid: 7, message: 'workflow daily (7) ended SUCCESS' }),
      row(1, { subsystem: 'dts', severity: 'ERROR', message: 'Transfer 12 QUARANTINED: checksum mismatch' }),
      row(2, { subsystem: 'rms', workflowid: 8, severity: 'ERROR', message: 'workflow daily (8) FAILED: 100% of step a_b' }),
      row(3, { subsystem: 'pfs', message: 'pool local drained for maintenance' }),
      row(4, { subsystem: 'rms', workflowid: 7, message: 'workflow daily (7) reprocessed' }),
    ]);
  });

  test('filter by subsystem, by workflow and by severity, newest first', async () => {
    expect((await entries('subsystem=rms')).map((e) => e.message)).toEqual(['workflow daily (7) reprocessed', 'workflow daily (8) FAILED: 100% of step a_b', 'workflow daily (7) ended SUCCESS']);
    expect((await entries('workflow=7')).map((e) => e.message)).toEqual(['workflow daily (7) reprocessed', 'workflow daily (7) ended SUCCESS']);
    expect((await entries('severity=ERROR&subsystem=dts')).map((e) => e.message)).toEqual(['Transfer 12 QUARANTINED: checksum mismatch']);
  });

  test('a time range takes from (inclusive) to (exclusive), as UTC times or Unix milliseconds', async () => {
    expect((await entries('from=2026-01-10T12:01&to=2026-01-10T12:03')).map((e) => e.message)).toEqual(['workflow daily (8) FAILED: 100% of step a_b', 'Transfer 12 QUARANTINED: checksum mismatch']);
    expect((await entries(`from=${T0 + 3 * 60_000}`)).map((e) => e.message)).toEqual(['workflow daily (7) reprocessed', 'pool local drained for maintenance']);
    expect(await entries('to=2026-01-10')).toEqual([]);
  });

  test('text search finds words in any case, and takes % and _ literally', async () => {
    expect((await entries('q=quarantined')).map((e) => e.message)).toEqual(['Transfer 12 QUARANTINED: checksum mismatch']);
    expect((await entries('q=100%25 of step a_b')).map((e) => e.message)).toEqual(['workflow daily (8) FAILED: 100% of step a_b']);
    expect(await entries('q=a%25b')).toEqual([]);
    expect(await entries('q=_')).toHaveLength(1);
  });

  test('pages by key under a filter', async () => {
    const first = await entries('subsystem=rms&limit=2');
    expect(first.map((e) => e.message)).toEqual(['workflow daily (7) reprocessed', 'workflow daily (8) FAILED: 100% of step a_b']);
    const second = await entries(`subsystem=rms&limit=2&before=${first[1].id}`);
    expect(second.map((e) => e.message)).toEqual(['workflow daily (7) ended SUCCESS']);
  });

  test('refuses a filter it cannot read, naming it', async () => {
    for (const [query, word] of [['subsystem=xyz', 'subsystem'], ['workflow=abc', 'workflow'], ['from=yesterday', 'from'], ['to=2026-13-45T99:99', 'to'], [`q=${'x'.repeat(201)}`, 'q']] as const) {
      const res = await c.get(`/api/ems/mission-log?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json().error.code).toBe('DPC_BAD_REQUEST');
      expect(res.json().error.message).toMatch(new RegExp(`^${word} `));
    }
  });

  test('the page keeps its filters in the query string, in its form and in its link to older entries', async () => {
    await c.h.knex('ems_mission_log').insert(Array.from({ length: 50 }, (_, i) => ({ created: T0 - (i + 1) * 1000, severity: 'INFO', subsystem: 'rms', message: `more ${i}` })));
    const page = await c.get('/ems/mission-log?subsystem=rms&q=o&from=2026-01-01');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<option value="rms" selected>RMS</option>');
    expect(page.text).toContain('name="q" size="24" placeholder="text in the message" aria-label="Text" value="o"');
    expect(page.text).toContain('name="from" value="2026-01-01T00:00:00"');
    const older = /<a href="([^"]+)">Older entries<\/a>/.exec(page.text)?.[1].replaceAll('&amp;', '&');
    expect(older).toMatch(/^\/ems\/mission-log\?subsystem=rms&from=2026-01-01T00%3A00%3A00&q=o&before=\d+$/);
    const next = await c.get(older!);
    expect(tableRows(next.text, 'mission-log').map((r) => r[3])).toEqual(Array.from({ length: 3 }, (_, i) => `more ${47 + i}`));
  });
});

describe('automatic entries', () => {
  beforeEach(async () => {
    await c.h.knex('ems_mission_log').del();
  });

  const byWorkflow = async (id: number) => (await entries(`workflow=${id}`)).map((e) => [e.severity, e.subsystem, e.message]);

  test('a workflow that succeeds or fails gets one entry, the failure with its reason', async () => {
    const ok = await c.h.rms.start('simple', {}, operator);
    const bad = await c.h.rms.start('doomed', {}, operator);
    expect((await ended(c.h, ok.id)).status).toBe('SUCCESS');
    expect((await ended(c.h, bad.id)).status).toBe('FAILED');
    await until(async () => (await byWorkflow(bad.id)).length > 0 && (await byWorkflow(ok.id)).length > 0, 10_000, 'the entries');
    expect(await byWorkflow(ok.id)).toEqual([['INFO', 'rms', `workflow simple (${ok.id}) ended SUCCESS`]]);
    const failed = await byWorkflow(bad.id);
    expect(failed).toHaveLength(1);
    expect(failed[0].slice(0, 2)).toEqual(['ERROR', 'rms']);
    expect(failed[0][2]).toMatch(new RegExp(`^workflow doomed \\(${bad.id}\\) FAILED: `));
  });

  test('an alert raised is an entry, and a raised alert still open is not raised again', async () => {
    const first = await c.h.ems.alerts.raise({ severity: 'CRITICAL', code: 'DPC_DSS_DISK', subsystem: 'dss', message: 'store disk below 1 GiB', dedupe: 'dss.disk' });
    const again = await c.h.ems.alerts.raise({ severity: 'CRITICAL', code: 'DPC_DSS_DISK', subsystem: 'dss', message: 'store disk below 1 GiB', dedupe: 'dss.disk' });
    expect(again).toBe(first);
    await until(async () => (await entries('subsystem=dss')).length > 0, 10_000, 'the alert’s entry');
    await c.h.ems.bus.idle();
    expect((await entries('subsystem=dss')).map((e) => [e.severity, e.message])).toEqual([['CRITICAL', `alert DPC_DSS_DISK (${first}): store disk below 1 GiB`]]);
  });

  test('an alert cleared is an entry too', async () => {
    const cause = { dedupe: 'dts.link', code: 'DPC_DTS_LINK', subsystem: 'dts' };
    const id = await c.h.ems.alerts.raise({ ...cause, severity: 'ERROR', message: 'link to the archive down' });
    await c.h.ems.alerts.clear({ ...cause, message: 'link to the archive up again' });
    await until(async () => (await entries('subsystem=dts')).length === 2, 10_000, 'the alert’s two entries');
    // Two events, delivered in either order: the entries are compared as a set.
    expect((await entries('subsystem=dts')).map((e) => `${e.severity} ${e.message}`).sort()).toEqual([
      `ERROR alert DPC_DTS_LINK (${id}): link to the archive down`,
      `INFO alert DPC_DTS_LINK (${id}) cleared: link to the archive up again`,
    ]);
  });

  test('an event delivered twice makes one entry', async () => {
    const s = await c.h.rms.start('simple', {}, operator);
    await ended(c.h, s.id);
    await until(async () => (await byWorkflow(s.id)).length > 0, 10_000, 'the entry');
    const [event] = await c.h.knex('ems_outbox').where({ topic: 'workflow.finished' }).andWhere('payload', 'like', `%"workflowid":${s.id},%`);
    // Marked delivered just after its handler wrote the entry.
    await until(async () => (await c.h.knex('ems_outbox').where({ id: event.id }).first()).state === 'DELIVERED', 10_000, 'the first delivery');
    // As if its first delivery had been cut off before it was marked: the outbox delivers it again.
    await c.h.knex('ems_outbox').where({ id: event.id }).update({ state: 'PENDING', available: 0, delivered: null });
    c.h.ems.bus.kick();
    await until(async () => (await c.h.knex('ems_outbox').where({ id: event.id }).first()).state === 'DELIVERED', 10_000, 'the second delivery');
    expect(await byWorkflow(s.id)).toEqual([['INFO', 'rms', `workflow simple (${s.id}) ended SUCCESS`]]);
  });
});
