import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ended, jobsOf, operator } from '../fixtures/rms-harness.js';
import { startConsole, tableHeads, tableRows, type ConsoleUnderTest } from '../helpers/console.js';
import { until } from '../helpers/server.js';

let c: ConsoleUnderTest;
beforeAll(async () => {
  c = await startConsole({ env: { DPC_PFS__JOBLOG__FLUSHMS: '50' } });
});
afterAll(async () => {
  await c?.close();
});

/** Starts the `logging` workflow with these jobs' data specifications (see the task `logs`). */
async function logging(jobs: Record<string, unknown>[]): Promise<{ workflowid: number; jobids: number[] }> {
  const s = await c.h.rms.start('logging', { params: { jobs } }, operator);
  return { workflowid: s.id, jobids: (await jobsOf(c.h, s.id)).map((r) => Number(r.id)) };
}

const unescape = (s: string) => s.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&#34;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&');
const logText = (html: string) => unescape(/<pre class="log" id="log-text"[^>]*>([\s\S]*?)<\/pre>/.exec(html)?.[1] ?? '');
const hrefOf = (html: string, label: string) => unescape(new RegExp(`<a href="([^"]+)">${label}</a>`).exec(html)?.[1] ?? '');

describe('the Node Monitor', () => {
  test('shows the DPCT’s NAME, STATUS, DATE for this process and the local pool, its occupancy and the queue by priority', async () => {
    const page = await c.get('/pfs/nodes');
    expect(page.status).toBe(200);
    expect(tableHeads(page.text, 'nodes').slice(0, 3)).toEqual(['NAME', 'STATUS', 'DATE']);
    const rows = tableRows(page.text, 'nodes');
    const me = rows.find((r) => r[0] === c.h.dpc.processId)!;
    expect(me.slice(1, 2)).toEqual(['UP']);
    expect(me[2]).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(rows.find((r) => r[0] === 'pool local')?.slice(1, 2)).toEqual(['OPEN']);
    expect(tableRows(page.text, 'pools').find((r) => r[0] === 'local')?.slice(0, 5)).toEqual(['local', 'OPEN', '0', '4', '0']);
  });

  test('its JSON twin counts held jobs and READY ones by pool and priority, and shows a drained pool', async () => {
    await c.h.pfs.drain('held', { username: 'alice', reason: 'testing the monitor' });
    const a = await c.h.rms.start('held', { params: { n: 3 }, priority: 5 }, operator);
    const b = await c.h.rms.start('held', { params: { n: 2 }, priority: 1 }, operator);
    const api = (await c.get('/api/pfs/nodes')).json();
    expect(api.queue).toEqual([
      { pool: 'held', priority: 5, ready: 3 },
      { pool: 'held', priority: 1, ready: 2 },
    ]);
    expect(api.pools.find((p: { name: string }) => p.name === 'held')).toEqual({ name: 'held', state: 'DRAINED', running: 0, places: null, ready: 5 });
    expect(api.rows.find((r: { name: string }) => r.name === 'pool held')).toMatchObject({ kind: 'pool', status: 'DRAINED', detail: 'testing the monitor' });
    const page = await c.get('/pfs/nodes');
    expect(tableRows(page.text, 'queue')).toEqual([
      ['held', '5', '3'],
      ['held', '1', '2'],
    ]);
    await c.h.rms.actions.cancel(a.id, operator);
    await c.h.rms.actions.cancel(b.id, operator);
  });
});

describe('the Logs table', () => {
  test('lists log files with the DPCT’s columns newest first, filtered by workflow or job, paged by key', async () => {
    const one = await logging([{ tag: 'a', lines: 1 }, { tag: 'b', lines: 1 }, { tag: 'c', lines: 1, until: 2 }]);
    const two = await logging([{ tag: 'd', lines: 1 }]);
    await ended(c.h, one.workflowid);
    await ended(c.h, two.workflowid);
    const page = await c.get(`/pfs/logs?workflow=${one.workflowid}`);
    expect(tableHeads(page.text, 'logs').slice(0, 8)).toEqual(['FILENAME', 'ID', 'JOBID', 'MAXBACKUPNUMBER', 'NUMBEROFBACKUP', 'SUBSYSTEM', 'TASKNAME', 'WORKFLOWID']);
    const rows = tableRows(page.text, 'logs');
    // The retried job has a file for each attempt, newest first.
    expect(rows.map((r) => r[0]).sort()).toEqual(
      [`${one.workflowid}/${one.jobids[0]}.1.log`, `${one.workflowid}/${one.jobids[1]}.1.log`, `${one.workflowid}/${one.jobids[2]}.1.log`, `${one.workflowid}/${one.jobids[2]}.2.log`].sort(),
    );
    expect(rows.map((r) => Number(r[1]))).toEqual(rows.map((r) => Number(r[1])).sort((x, y) => y - x));
    expect(rows[0].slice(3, 8)).toEqual(['3', '0', 'PFS', 't.logs', String(one.workflowid)]);
    expect(page.text).toContain(`href="/pfs/jobs/${one.jobids[2]}/log?attempt=2"`);

    const api = async (q: string) => ((await c.get(`/api/pfs/logs?${q}`)).json().files as { id: number; jobid: number; filename: string }[]);
    expect((await api(`job=${one.jobids[2]}`)).map((f) => f.filename)).toEqual([`${one.workflowid}/${one.jobids[2]}.2.log`, `${one.workflowid}/${one.jobids[2]}.1.log`]);
    const first = await api(`workflow=${one.workflowid}&limit=3`);
    const rest = await api(`workflow=${one.workflowid}&limit=3&before=${first[2].id}`);
    expect([...first, ...rest].map((f) => f.id)).toEqual(rows.map((r) => Number(r[1])));
    expect((await c.get('/api/pfs/logs?workflow=x')).status).toBe(400);
  });
});

describe('a job’s log page', () => {
  test('shows every attempt, each attempt’s own lines, escaped', async () => {
    const { workflowid, jobids } = await logging([{ tag: '<script>alert("x")</script>', lines: 2, until: 2 }]);
    await ended(c.h, workflowid);
    const page = await c.get(`/pfs/jobs/${jobids[0]}/log?attempt=1`);
    expect(page.status).toBe(200);
    expect(tableRows(page.text, 'attempts').map((r) => r[1])).toEqual([`${workflowid}/${jobids[0]}.1.log`, `${workflowid}/${jobids[0]}.2.log`]);
    expect(page.text).not.toContain('<script>alert');
    expect(page.text).toContain('&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; attempt 1 line 0');
    expect(logText(page.text)).toMatch(/FAILED: Error: attempt 1 fails on purpose/);
    const latest = await c.get(`/pfs/jobs/${jobids[0]}/log`);
    expect(logText(latest.text)).toContain('attempt 2 line 1');
    expect(logText(latest.text)).not.toContain('attempt 1 line');
    // The search shows the lines escaped too.
    const found = await c.get(`/pfs/jobs/${jobids[0]}/log?attempt=2&q=${encodeURIComponent('<script>')}`);
    expect(tableRows(found.text, 'matches').map((r) => unescape(r[1]).replace(/^\S+Z /, ''))).toEqual([0, 1].map((i) => `<script>alert("x")</script> attempt 2 line ${i}`));
    expect(found.text).not.toContain('<script>alert');
  });

  test('pages a large log in byte ranges of whole lines, from the tail back to the start', async () => {
    const { workflowid, jobids } = await logging([{ tag: 'big', lines: 3000, bytes: 60 }]);
    await ended(c.h, workflowid);
    const whole = await (await c.fetch(`${c.base}/api/pfs/jobs/${jobids[0]}/log`)).text();
    expect(whole.length).toBeGreaterThan(200_000);
    const tail = await c.get(`/pfs/jobs/${jobids[0]}/log`);
    const shown = logText(tail.text);
    expect(whole.endsWith(shown)).toBe(true);
    expect(shown.split('\n').filter(Boolean)).toHaveLength(200);
    // Walk back to the start; each part whole lines, meeting the one after it.
    let parts = [shown];
    let href = hrefOf(tail.text, 'Earlier');
    while (href) {
      const part = await c.get(href);
      parts = [logText(part.text), ...parts];
      expect(parts[0].endsWith('\n')).toBe(true);
      expect(Buffer.byteLength(parts[0])).toBeLessThanOrEqual(64 * 1024);
      href = hrefOf(part.text, 'Earlier');
    }
    expect(parts.join('')).toBe(whole);
    const middle = await c.get(`/pfs/jobs/${jobids[0]}/log?offset=100000&length=1000`);
    const bit = logText(middle.text);
    expect(whole.indexOf(bit)).toBeGreaterThan(99_000);
    expect(bit.split('\n').filter(Boolean).every((l) => /big attempt 1 line \d+ x{60}$/.test(l))).toBe(true);
    expect(middle.text).toMatch(new RegExp(`Bytes ${whole.indexOf(bit)}–${whole.indexOf(bit) + Buffer.byteLength(bit)} of ${Buffer.byteLength(whole)}`));
  });

  test('searches on the server, giving each matching line with its byte offset, paged', async () => {
    const { workflowid, jobids } = await logging([{ tag: 'find', lines: 500 }]);
    await ended(c.h, workflowid);
    const whole = await (await c.fetch(`${c.base}/api/pfs/jobs/${jobids[0]}/log`)).text();
    const search = async (q: string) => (await c.get(`/api/pfs/jobs/${jobids[0]}/log/search?${q}`)).json();
    const first = await search('q=LINE 1&limit=30');
    expect(first.matches).toHaveLength(30);
    for (const m of first.matches as { offset: number; line: string }[]) {
      expect(Buffer.from(whole).subarray(m.offset).toString().startsWith(m.line)).toBe(true);
      expect(m.line).toMatch(/find attempt 1 line 1/);
    }
    const all: { line: string }[] = [...first.matches];
    for (let next = first.next; next !== undefined; ) {
      const page = await search(`q=LINE 1&limit=30&from=${next}`);
      all.push(...page.matches);
      next = page.next;
    }
    // line 1, 10–19, 100–199: 111 lines.
    expect(all).toHaveLength(111);
    expect((await c.get(`/api/pfs/jobs/${jobids[0]}/log/search`)).status).toBe(400);
    const page = await c.get(`/pfs/jobs/${jobids[0]}/log?q=line 49`);
    expect(tableRows(page.text, 'matches').map((r) => r[1].replace(/^\S+Z /, ''))).toEqual(['find attempt 1 line 49', ...Array.from({ length: 10 }, (_, i) => `find attempt 1 line ${490 + i}`)]);
  });

  test('follows a running attempt with the static script, and offers a download named by ids', async () => {
    const { workflowid, jobids } = await logging([{ tag: 'live', lines: 1, ms: 1500, during: 3 }]);
    await until(async () => (await jobsOf(c.h, workflowid))[0].status === 'RUNNING', 10_000, 'the job RUNNING');
    const page = await c.get(`/pfs/jobs/${jobids[0]}/log`);
    expect(page.text).toMatch(new RegExp(`<pre class="log" id="log-text" data-follow="/api/pfs/jobs/${jobids[0]}/log\\?attempt=1" data-offset="\\d+">`));
    expect(page.text).toContain('<script src="/static/log-follow.js" defer></script>');
    expect(page.text).not.toMatch(/<script>/);
    const script = await c.get('/static/log-follow.js');
    expect(script.status).toBe(200);
    expect(script.type).toMatch(/javascript/);
    const api = await c.fetch(`${c.base}/api/pfs/jobs/${jobids[0]}/log?attempt=1&offset=0`);
    expect(api.headers.get('x-dpc-log-active')).toBe('1');
    await ended(c.h, workflowid);
    const after = await c.fetch(`${c.base}/api/pfs/jobs/${jobids[0]}/log?attempt=1&offset=0`);
    expect(after.headers.get('x-dpc-log-active')).toBe('0');
    const done = await c.get(`/pfs/jobs/${jobids[0]}/log`);
    expect(done.text).not.toContain('data-follow');
    const download = await c.fetch(`${c.base}${hrefOf(done.text, 'Download')}`);
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="${jobids[0]}.1.log"`);
    expect(await download.text()).toBe(await after.text());
  });

  test('takes ids only: a path or a file name in the request reaches no file', async () => {
    const { workflowid, jobids } = await logging([{ tag: 'safe', lines: 1 }]);
    await ended(c.h, workflowid);
    for (const path of [
      '/pfs/jobs/..%2F..%2F..%2Fetc%2Fpasswd/log',
      '/pfs/jobs/1%2F..%2F..%2Fpasswd/log',
      `/pfs/jobs/${jobids[0]}/log?attempt=..%2F..%2Fetc%2Fpasswd`,
      `/api/pfs/jobs/${jobids[0]}/log?attempt=1/../../x`,
      `/api/pfs/jobs/${jobids[0]}/log/search?q=root&attempt=%2Fetc%2Fpasswd`,
    ]) {
      const res = await c.get(path, { accept: 'text/html' });
      expect(res.status, path).toBe(400);
      expect(res.text).not.toContain('root:');
    }
    for (const path of ['/pfs/jobs/../../etc/passwd/log', `/api/pfs/jobs/${jobids[0]}/../../../../etc/passwd`]) {
      const res = await c.get(path);
      expect(res.status, path).toBe(404);
      expect(res.text).not.toContain('root:');
    }
    // A name where the server takes none is ignored: the job's own log is shown.
    const named = await c.get(`/pfs/jobs/${jobids[0]}/log?file=/etc/passwd&filename=../../etc/passwd&segment=/etc/passwd`);
    expect(logText(named.text)).toMatch(/safe attempt 1 line 0/);
    expect(named.text).not.toContain('root:');
    const download = await c.fetch(`${c.base}/api/pfs/jobs/${jobids[0]}/log?download=1&filename=evil.sh`);
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="${jobids[0]}.1.log"`);
    expect((await c.get('/pfs/jobs/999999/log')).status).toBe(404);
  });
});
