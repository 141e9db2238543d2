import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { diffConfigs, flattenConfig } from '../../subsystems/rms/tracking.js';
import { recordConfig } from '../../subsystems/rms/provenance.js';
import { operator } from '../fixtures/rms-harness.js';
import { startConsole, tableHeads, tableRows, type ConsoleUnderTest } from '../helpers/console.js';

let c: ConsoleUnderTest;
beforeAll(async () => {
  c = await startConsole();
});
afterAll(async () => {
  await c?.close();
});

const solutionOf = async (workflowid: number) => Number((await c.h.knex('rms_workflow').where({ id: workflowid }).first()).solutionid);

describe('flattening and diffing configurations', () => {
  test('a configuration becomes dotted keys with JSON leaves, lists by index, empty ones kept', () => {
    expect(Object.fromEntries(flattenConfig({ db: { port: 5432, host: 'h' }, list: ['a', { b: null }], none: {}, empty: [] }))).toEqual({
      'db.port': '5432',
      'db.host': '"h"',
      'list[0]': '"a"',
      'list[1].b': 'null',
      none: '{}',
      empty: '[]',
    });
  });

  test('two flat configurations differ by keys added, removed and changed', () => {
    const d = diffConfigs(flattenConfig({ a: 1, b: { c: 2, d: 3 } }), flattenConfig({ a: 1, b: { c: 4 }, e: true }));
    expect(d).toEqual({ added: [{ key: 'e', b: 'true' }], removed: [{ key: 'b.d', a: '3' }], changed: [{ key: 'b.c', a: '2', b: '4' }], same: 1 });
  });
});

describe('Configuration Tracking', () => {
  test('lists solutions newest first with their metadata, both ways, and their configuration instance', async () => {
    const first = await c.h.rms.start('simple', {}, operator);
    const input = await solutionOf(first.id);
    const second = await c.h.rms.start('simple', { params: { inputSolutions: [{ id: input, dmtype: 'TestSolution' }] } }, operator);
    const output = await solutionOf(second.id);

    const list = await c.get('/rms/solutions?dmtype=TestSolution');
    expect(list.status).toBe(200);
    const rows = tableRows(list.text, 'solutions');
    expect(rows.slice(0, 2).map((r) => Number(r[0]))).toEqual([output, input]);
    expect(rows[0].slice(1, 2)).toEqual(['TestSolution']);
    const api = (await c.get('/api/rms/solutions?dmtype=TestSolution&limit=1')).json().solutions;
    expect(api.map((s: { id: number }) => s.id)).toEqual([output]);
    expect((await c.get(`/api/rms/solutions?dmtype=TestSolution&limit=1&before=${output}`)).json().solutions[0].id).toBe(input);
    expect((await c.get('/api/rms/solutions?dmtype=NoSuchType')).json().solutions).toEqual([]);

    const page = await c.get(`/rms/solutions/${output}`);
    expect(tableHeads(page.text, 'inputs')).toEqual(['ID', 'INPUTSOLUTIONID', 'OUTPUTSOLUTIONID', 'INPUTDMTYPE', 'OUTPUTDMTYPE', 'GENERATIONTIME (UTC)', 'AUTOMATICALLYGENERATED']);
    expect(tableRows(page.text, 'inputs').map((r) => r.slice(1, 5))).toEqual([[String(input), String(output), 'TestSolution', 'TestSolution']]);
    expect(tableRows((await c.get(`/rms/solutions/${input}`)).text, 'outputs').map((r) => r.slice(1, 3))).toEqual([[String(input), String(output)]]);
    const meta = (await c.get(`/api/rms/solutions/${output}/metadata`)).json();
    expect(meta.inputs).toMatchObject([{ inputsolutionid: input, outputsolutionid: output, inputdmtype: 'TestSolution', automaticallygenerated: 0 }]);
    expect(page.text).toContain(`href="/rms/configs/${meta.config.id}"`);
    const lookup = await c.get(`/rms/solutions?id=${output}`);
    expect([lookup.status, lookup.headers.get('location')]).toEqual([303, `/rms/solutions/${output}`]);
    expect((await c.get('/rms/solutions/999999', { accept: 'text/html' })).status).toBe(404);
  });

  test('diffs two configuration instances key by key, secrets masked as stored', async () => {
    const config = c.h.dpc.config;
    const changed = {
      ...config,
      pfs: { ...config.pfs, pollMs: config.pfs.pollMs + 1 },
      db: { ...config.db, postgresql: { ...config.db.postgresql, password: 'hunter2-secret' } },
      extra: { note: '<b>new</b>' },
    } as typeof config;
    const a = Number((await c.get('/api/rms/configs?limit=1')).json().configs[0].id);
    const b = await recordConfig(c.h.dpc.db, changed, '9.9.9', systemClock);
    const diff = (await c.get(`/api/rms/configs/diff?a=${a}&b=${b}`)).json();
    expect(diff.a.id).toBe(a);
    expect(diff.changed).toEqual(
      expect.arrayContaining([
        { key: 'version', a: expect.any(String), b: '"9.9.9"' },
        { key: 'config.pfs.pollMs', a: String(config.pfs.pollMs), b: String(config.pfs.pollMs + 1) },
        { key: 'config.db.postgresql.password', a: expect.any(String), b: '"****"' },
      ]),
    );
    expect(diff.added).toEqual([{ key: 'config.extra.note', b: '"<b>new</b>"' }]);
    expect(diff.removed).toEqual([]);
    const page = await c.get(`/rms/configs/diff?a=${a}&b=${b}`);
    expect(page.status).toBe(200);
    expect(tableRows(page.text, 'diff').find((r) => r[1] === 'config.pfs.pollMs')).toEqual(['changed', 'config.pfs.pollMs', String(config.pfs.pollMs), String(config.pfs.pollMs + 1)]);
    expect(page.text).toContain('&#34;&lt;b&gt;new&lt;/b&gt;&#34;');
    for (const text of [page.text, JSON.stringify(diff), (await c.get(`/rms/configs/${b}`)).text]) expect(text).not.toContain('hunter2');
    const list = await c.get('/rms/configs');
    expect(list.text).toContain(`href="/rms/configs/diff?a=${a}&amp;b=${b}"`);
    for (const q of ['a=1', 'a=x&b=1', `a=${a}&b=999999`]) expect((await c.get(`/api/rms/configs/diff?${q}`)).status).toBeGreaterThanOrEqual(400);
  });
});
