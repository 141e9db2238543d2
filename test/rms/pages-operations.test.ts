import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { failHeld, jobsOf, operator } from '../fixtures/rms-harness.js';
import { addUser, signIn, type Session } from '../helpers/auth.js';
import { startConsole, tableHeads, tableRows, type ConsoleUnderTest } from '../helpers/console.js';

let c: ConsoleUnderTest;
beforeAll(async () => {
  c = await startConsole();
});
afterAll(async () => {
  await c?.close();
});

const unescape = (s: string) => s.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&#34;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&');
const ids = (html: string) => tableRows(html, 'jobs').map((r) => Number(r[1]));
const hrefOf = (html: string, id: string) => unescape(new RegExp(`<a href="([^"]+)"[^>]*id="${id}"`).exec(html)?.[1] ?? '');
const audits = async (action: string) => (await c.h.knex('smas_audit').where({ action }).orderBy('id')) as { username: string; reason: string | null; detail: string }[];
const priorities = async (workflowid: number) => (await jobsOf(c.h, workflowid)).map((j) => Number(j.priority));

/** A form posted as a browser posts it: form-encoded, with the session's cookie and (unless told not to) its `_csrf` field. */
async function post(path: string, fields: Record<string, string | string[]>, o: { session?: Session; csrf?: boolean } = {}) {
  const s = o.session ?? c.session;
  const body = new URLSearchParams();
  if (o.csrf !== false) body.set('_csrf', s.csrf);
  for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
  const res = await fetch(`${c.base}${path}`, { method: 'POST', headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: body.toString(), redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location') ?? '', text: await res.text() };
}

/** The values of the hidden fields (but the CSRF token, which post() adds) of the form `marker` is in or that follows it. */
function hiddenFields(html: string, marker: string): Record<string, string> {
  const at = html.indexOf(marker);
  const start = Math.max(html.lastIndexOf('<form', at), html.lastIndexOf('</form>', at));
  const form = /<form[^>]*>([\s\S]*?)<\/form>/.exec(html.slice(start))?.[1] ?? '';
  return Object.fromEntries([...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].filter((m) => m[1] !== '_csrf').map((m) => [m[1], unescape(m[2])]));
}

describe('the job query page', () => {
  test('shows how many jobs match a filter and the matching rows', async () => {
    const a = await c.h.rms.start('held', { params: { n: 3 } }, operator);
    const b = await c.h.rms.start('held', { params: { n: 2 } }, operator);
    const page = await c.get(`/rms/jobs?workflow=${a.id}&status=READY`);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<p id="match-count" data-count="3" data-exact="true"><strong>3<\/strong> jobs match/);
    expect(ids(page.text)).toEqual((await jobsOf(c.h, a.id)).map((j) => Number(j.id)));
    expect(tableHeads(page.text, 'jobs')).toEqual(['select', 'ID ▲', 'STATUS', 'WORKFLOW', 'STEP', 'TASKTYPE', 'SOLUTIONID', 'DATASPEC', 'PRIORITY', 'ATTEMPTS', 'POOL', 'NODE', 'CREATED (UTC)', 'STARTTIME', 'ENDTIME', 'REASON', 'LOGS']);
    expect(tableRows(page.text, 'jobs')[0].slice(2, 5)).toEqual(['READY', String(a.id), 'p']);
    for (const w of [a.id, b.id]) await c.h.rms.actions.cancel(w, operator);
  });

  test('links to the next page with the key of its last row, and the next page continues from it', async () => {
    const { id } = await c.h.rms.start('held', { params: { n: 5 } }, operator);
    const seen: number[] = [];
    let next = `/rms/jobs?workflow=${id}&sort=-id&limit=2`;
    for (let pages = 0; next && pages < 5; pages++) {
      const page = await c.get(next);
      seen.push(...ids(page.text));
      next = hrefOf(page.text, 'next-page');
      if (next) expect(next).toMatch(new RegExp(`^/rms/jobs\\?workflow=${id}&sort=-id&limit=2&after=${id}%3A\\d+$`));
    }
    expect(seen).toEqual((await jobsOf(c.h, id)).map((j) => Number(j.id)).reverse());
    await c.h.rms.actions.cancel(id, operator);
  });

  test('a bulk re-prioritise with a reason changes every matching job’s priority and writes one audit row with the reason and the filter', async () => {
    const { id } = await c.h.rms.start('held', { params: { n: 3 } }, operator);
    const page = await c.get(`/rms/jobs?workflow=${id}&status=READY`);
    const fields = hiddenFields(page.text, 'id="bulk-form"');
    expect(fields.filter).toBe(`status=READY&workflow=${id}`);
    const done = await post('/rms/jobs/bulk', { filter: fields.filter, action: 'priority', priority: '7', reason: 'the calibration is urgent' });
    expect(done.status).toBe(303);
    expect(done.location).toBe(`/rms/jobs?status=READY&workflow=${id}&done=bulk-priority&matched=3&changed=3&skipped=0`);
    expect(await priorities(id)).toEqual([7, 7, 7]);
    const rows = await audits('jobs.bulk-priority');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ username: expect.stringMatching(/^operator-/), reason: 'the calibration is urgent' });
    expect(JSON.parse(rows[0].detail)).toMatchObject({ filter: { workflowid: id, status: ['READY'] }, matched: 3, priority: 7 });
    expect((await c.get(done.location)).text).toContain('<p class="outcome" id="outcome" role="status">Bulk priority: 3 job(s) changed of 3 matching.</p>');
    await c.h.rms.actions.cancel(id, operator);
  });

  test('a bulk action without a reason is refused with a clear message and changes nothing', async () => {
    const { id } = await c.h.rms.start('held', { params: { n: 2 } }, operator);
    const before = (await audits('jobs.bulk-cancel')).length;
    const refused = await post('/rms/jobs/bulk', { filter: `workflow=${id}`, action: 'cancel', priority: '', reason: ' ' });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('DPC_REASON_REQUIRED</strong>: jobs.bulk-cancel needs a reason');
    expect((await jobsOf(c.h, id)).map((j) => j.status)).toEqual(['READY', 'READY']);
    expect(await audits('jobs.bulk-cancel')).toHaveLength(before);
    await c.h.rms.actions.cancel(id, operator);
  });

  test('a bulk action posted without the CSRF token is refused and changes nothing', async () => {
    const { id } = await c.h.rms.start('held', { params: { n: 2 } }, operator);
    const refused = await post('/rms/jobs/bulk', { filter: `workflow=${id}`, action: 'priority', priority: '9', reason: 'forged' }, { csrf: false });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('DPC_SMAS_CSRF');
    expect(await priorities(id)).toEqual([0, 0]);
    await c.h.rms.actions.cancel(id, operator);
  });

  test('a scientist gets 403 on the bulk action', async () => {
    const { id } = await c.h.rms.start('held', { params: { n: 2 } }, operator);
    const scientist = await addUser(c.h.dpc.db, c.h.t.config, 'scientist');
    const session = await signIn(c.base, scientist.username, scientist.password);
    const refused = await post('/rms/jobs/bulk', { filter: `workflow=${id}`, action: 'priority', priority: '9', reason: 'curious' }, { session });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('DPC_SMAS_FORBIDDEN');
    expect(await priorities(id)).toEqual([0, 0]);
    await c.h.rms.actions.cancel(id, operator);
  });

  test('Change jobs priority changes the checked jobs only', async () => {
    const { id } = await c.h.rms.start('held', { params: { n: 3 } }, operator);
    const jobs = (await jobsOf(c.h, id)).map((j) => String(j.id));
    const done = await post('/rms/jobs/priority', { filter: `workflow=${id}`, ids: [jobs[0], jobs[2]], priority: '-3', reason: 'these can wait' });
    expect(done.status).toBe(303);
    expect(done.location).toBe(`/rms/jobs?workflow=${id}&done=priority&changed=2&skipped=0`);
    expect(await priorities(id)).toEqual([-3, 0, -3]);
    expect((await audits('jobs.priority')).at(-1)).toMatchObject({ reason: 'these can wait' });
    await c.h.rms.actions.cancel(id, operator);
  });

  test('writes HTML in a failure reason as text', async () => {
    const start = Date.now() - 1;
    const f = await failHeld(c.h, ['<script>alert("x")</script> in step 4']);
    for (const path of [`/rms/jobs?workflow=${f.workflowid}`, `/rms/jobs?status=FAILED&finishedFrom=${start}`, '/rms/triage']) {
      const page = await c.get(path);
      expect(page.status, path).toBe(200);
      expect(page.text, path).not.toContain('<script>alert');
      expect(page.text, path).toContain('&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;');
    }
  });
});

describe('the failure triage page', () => {
  test('groups two failures that differ only in a number into one group, and "retry the group" retries them', async () => {
    const f = await failHeld(c.h, ['scratch disk 17 full', 'scratch disk 4 full']);
    const page = await c.get('/rms/triage');
    const group = tableRows(page.text, 'triage').find((r) => r[1] === 'scratch disk &lt;n&gt; full');
    expect(group?.[0]).toBe('2');
    const fields = hiddenFields(page.text, 'data-pattern="scratch disk &lt;n&gt; full"');
    expect(fields).toMatchObject({ pattern: 'scratch disk <n> full', tasktype: 't.noop', node: '' });
    const done = await post('/rms/triage/retry', { ...fields, reason: 'the disk was cleaned' });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/rms/triage?done=triage-retry&matched=2&changed=2&skipped=0');
    expect((await jobsOf(c.h, f.workflowid)).map((j) => j.status)).toEqual(['READY', 'READY']);
    expect((await c.get(done.location)).text).toContain('Retry the group: 2 job(s) changed of 2 matching.');
    await c.h.rms.actions.cancel(f.workflowid, operator);
  });
});

describe('the grid page', () => {
  test('shows a row per workflow and a cell per step with the step’s state as its class', async () => {
    const made = [(await c.h.rms.start('held-pair', { params: { n: 2, m: 1 } }, operator)).id, (await c.h.rms.start('held-pair', { params: { n: 1, m: 1 } }, operator)).id];
    const page = await c.get('/rms/grid?name=held-pair&n=2');
    expect(page.status).toBe(200);
    expect([...page.text.matchAll(/<th class="step" data-step="(\w+)"/g)].map((m) => m[1])).toEqual(['first', 'second']);
    const rows = [...page.text.matchAll(/<tr data-workflow="(\d+)">([\s\S]*?)<\/tr>/g)];
    expect(rows.map((r) => Number(r[1]))).toEqual([made[1], made[0]]);
    for (const [, id, row] of rows) {
      const cells = [...row.matchAll(/<td class="cell ([A-Z_ a-z]+)"><a href="([^"]+)" title="([^"]+)">/g)].map((m) => [m[1], unescape(m[2]), m[3]]);
      expect(cells.map((x) => x.slice(0, 2))).toEqual([
        ['RUNNING', `/rms/jobs?workflow=${id}&step=first`],
        ['WAITING', `/rms/jobs?workflow=${id}&step=second`],
      ]);
      expect(cells[0][2]).toMatch(/^first: RUNNING; \d job\(s\): \d READY$/);
    }
    for (const id of made) await c.h.rms.actions.cancel(id, operator);
  });
});
