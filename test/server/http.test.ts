import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { SUBSYSTEM_NAMES } from '../../core/subsystem.js';
import { describeTarget } from '../../server/db.js';
import { startApp, type App } from '../helpers/app.js';
import { apiToken } from '../helpers/auth.js';
import { readLog } from '../helpers/server.js';

let app: App;
/** An operator's API token: every request is signed in. */
let token: string;
beforeAll(async () => {
  app = await startApp();
  token = await apiToken(app.dpc.db, app.t.config);
});
afterAll(async () => {
  await app?.close();
});

/** Every request as an operator, with an API token. */
const auth = () => ({ authorization: `Bearer ${token}` });

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(app.base + path, { headers: { ...auth(), ...headers }, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) as any };
}

async function post(path: string, body: string, contentType = 'application/json', headers: Record<string, string> = {}) {
  const res = await fetch(app.base + path, { method: 'POST', body, headers: { 'content-type': contentType, ...auth(), ...headers }, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', location: res.headers.get('location'), text, json: () => JSON.parse(text) as any };
}

const postEntry = (entry: unknown) => post('/api/ems/mission-log', JSON.stringify(entry));

/** The console's pages in the DPCT's order. */
const MENU = [
  { title: 'Welcome', path: '/' },
  { title: 'Workflow manager', path: '/rms/workflows' },
  { title: 'Jobs', path: '/rms/jobs' },
  { title: 'Failure triage', path: '/rms/triage' },
  { title: 'PFS', path: '/pfs/nodes' },
  { title: 'Logs', path: '/pfs/logs' },
  { title: 'Configuration tracking', path: '/rms/solutions' },
  { title: 'Mission log', path: '/ems/mission-log' },
  { title: 'Alerts', path: '/ems/alerts' },
  { title: 'Monitor', path: '/smas/monitor' },
  { title: 'Audit', path: '/smas/audit' },
];

function menuOf(html: string): { title: string; path: string; active: boolean }[] {
  const nav = /<nav class="menu">([\s\S]*?)<\/nav>/.exec(html)?.[1] ?? '';
  return [...nav.matchAll(/<a href="([^"]+)"([^>]*)>([^<]+)<\/a>/g)].map((m) => ({ path: m[1], title: m[3], active: m[2].includes('active') }));
}

describe('the Welcome page', () => {
  test('lists the seven subsystems with their state, and the database in use', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
    const table = /<table class="grid" id="subsystems">([\s\S]*?)<\/table>/.exec(page.text)?.[1] ?? '';
    const rows = [...table.matchAll(/<tr><td>(\w+)<\/td><td><span class="state (\w+)">/g)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual(SUBSYSTEM_NAMES.map((n) => [n.toUpperCase(), 'UP']));
    expect(page.text).toContain(`<strong>${describeTarget(app.t.config)}</strong>`);
    expect(page.text).toContain(app.dpc.processId);
  });

  test('has a menu of only the pages that exist, each of which answers', async () => {
    const menu = menuOf((await get('/')).text);
    expect(menu).toEqual(MENU.map((item) => ({ ...item, active: item.path === '/' })));
    for (const item of menu) expect((await get(item.path)).status).toBe(200);
    expect(menuOf((await get('/ems/mission-log')).text).find((i) => i.active)?.title).toBe('Mission log');
  });

  test('shows today’s work at a glance, as its JSON twin /api/smas/overview counts it', async () => {
    const page = await get('/');
    const glance = /<table class="grid dense" id="glance">([\s\S]*?)<\/table>/.exec(page.text)?.[1] ?? '';
    const heads = [...glance.matchAll(/<th>([^<]+)<\/th>/g)].map((m) => m[1]);
    expect(heads).toEqual(['WORKFLOWS RUNNING', 'PAUSED', 'FAILED TODAY', 'SUCCEEDED TODAY', 'QUEUE DEPTH (READY)', 'JOBS RUNNING', 'WAITING', 'RETRY WAIT', 'COORDINATORS UP', 'POOLS OPEN', 'NODES UP']);
    const api = await get('/api/smas/overview');
    expect(api.status).toBe(200);
    expect(api.json()).toMatchObject({
      process: app.dpc.processId,
      work: { workflows: { running: 0, paused: 0, failedToday: 0, succeededToday: 0 }, queueDepth: 0, since: Date.parse(new Date().toISOString().slice(0, 10)) },
      coordinators: { up: 1, total: 1 },
      pools: { open: 1, total: 1, drained: [] },
      nodes: { up: 0, total: 0 },
    });
    expect(api.json().subsystems.map((s: { name: string }) => s.name)).toEqual([...SUBSYSTEM_NAMES]);
  });

  test('serves its stylesheet', async () => {
    const css = await get('/static/dpc.css');
    expect(css.status).toBe(200);
    expect(css.type).toMatch(/^text\/css/);
  });
});

describe('API errors', () => {
  test('an unknown API route is a 404 in JSON', async () => {
    const res = await get('/api/no-such-thing');
    expect(res.status).toBe(404);
    expect(res.type).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ error: { code: 'DPC_NOT_FOUND', message: 'API route GET /api/no-such-thing not found' } });
    expect((await get('/api/ems/no-such-thing', { accept: 'text/html' })).json().error.code).toBe('DPC_NOT_FOUND');
  });

  test('malformed JSON is a 400 DPC_BAD_REQUEST', async () => {
    const res = await post('/api/ems/mission-log', '{"message": "half');
    expect(res.status).toBe(400);
    expect(res.json().error.code).toBe('DPC_BAD_REQUEST');
    expect(res.json().error.message).toMatch(/^the request body is not valid JSON: /);
  });

  test('a body over the limit is a 413 in JSON', async () => {
    const res = await postEntry({ severity: 'INFO', message: 'x'.repeat(1_100_000) });
    expect(res.status).toBe(413);
    expect(res.json().error.code).toBe('DPC_TOO_LARGE');
  });
});

describe('page errors', () => {
  test('an unknown page is a 404 page with the menu, or JSON for a client that takes no HTML', async () => {
    const page = await get('/no-such-page', { accept: 'text/html' });
    expect(page.status).toBe(404);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.text).toContain('<strong>DPC_NOT_FOUND</strong>: page /no-such-page not found');
    expect(menuOf(page.text).map((i) => i.title)).toEqual(MENU.map((i) => i.title));
    expect((await get('/no-such-page', { accept: 'application/json' })).json().error.code).toBe('DPC_NOT_FOUND');
  });

  test('a malformed body sent to a page is a 400 page, not a stack trace', async () => {
    const page = await post('/ems/mission-log', '{bad', 'application/json', { accept: 'text/html' });
    expect(page.status).toBe(400);
    expect(page.text).toContain('<strong>DPC_BAD_REQUEST</strong>');
    expect(page.text).not.toMatch(/ReferenceError|node_modules|at eval/);
    expect(menuOf(page.text).map((i) => i.title)).toEqual(MENU.map((i) => i.title));
  });
});

describe('the mission log', () => {
  beforeEach(async () => {
    await app.dpc.db.knex('ems_mission_log').del();
  });

  test('a valid entry is stored (201) and listed first', async () => {
    expect((await postEntry({ severity: 'INFO', message: 'first' })).status).toBe(201);
    const created = await postEntry({ severity: 'WARNING', message: '  Slurm queue paused for maintenance  ' });
    expect(created.status).toBe(201);
    const { id } = created.json() as { id: number };
    expect(Number.isSafeInteger(id)).toBe(true);

    const list = await get('/api/ems/mission-log');
    expect(list.status).toBe(200);
    const entries = list.json().entries as { id: number; severity: string; subsystem: string; message: string; created: number }[];
    expect(entries.map((e) => e.message)).toEqual(['Slurm queue paused for maintenance', 'first']);
    expect(entries[0]).toMatchObject({ id, severity: 'WARNING', subsystem: 'ems' });
    expect(Math.abs(entries[0].created - Date.now())).toBeLessThan(60_000);
  });

  test('an entry without severity is INFO', async () => {
    expect((await postEntry({ message: 'no severity given' })).status).toBe(201);
    expect((await get('/api/ems/mission-log')).json().entries[0].severity).toBe('INFO');
  });

  test('an empty message is refused with DPC_EMS_LOG_ENTRY', async () => {
    for (const body of [{ severity: 'INFO', message: '' }, { severity: 'INFO', message: '   ' }, { severity: 'INFO' }]) {
      const res = await postEntry(body);
      expect(res.status).toBe(400);
      expect(res.json().error).toEqual({ code: 'DPC_EMS_LOG_ENTRY', message: 'mission log entry rejected: the message is empty' });
    }
    expect((await get('/api/ems/mission-log')).json().entries).toEqual([]);
  });

  test('an unknown severity is refused with DPC_EMS_LOG_ENTRY', async () => {
    const res = await postEntry({ severity: 'LOUD', message: 'x' });
    expect(res.status).toBe(400);
    expect(res.json().error).toEqual({
      code: 'DPC_EMS_LOG_ENTRY',
      message: 'mission log entry rejected: severity must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL; got "LOUD"',
    });
  });

  test('a message over 4000 characters is refused', async () => {
    const res = await postEntry({ severity: 'INFO', message: 'x'.repeat(4001) });
    expect(res.status).toBe(400);
    expect(res.json().error.code).toBe('DPC_EMS_LOG_ENTRY');
    expect((await postEntry({ severity: 'INFO', message: 'é'.repeat(4000) })).status).toBe(201);
  });

  test('pages newest first by key with `before` and `limit`', async () => {
    const ids: number[] = [];
    for (let i = 1; i <= 5; i++) ids.push((await postEntry({ severity: 'INFO', message: `entry ${i}` })).json().id);
    const page = async (query: string) => ((await get(`/api/ems/mission-log?${query}`)).json().entries as { id: number }[]).map((e) => e.id);
    expect(await page('limit=2')).toEqual([ids[4], ids[3]]);
    expect(await page(`limit=2&before=${ids[3]}`)).toEqual([ids[2], ids[1]]);
    expect(await page(`limit=2&before=${ids[1]}`)).toEqual([ids[0]]);
    expect(await page(`limit=2&before=${ids[0]}`)).toEqual([]);
  });

  test('filters by severity, and refuses a severity that does not exist', async () => {
    await postEntry({ severity: 'INFO', message: 'routine' });
    await postEntry({ severity: 'ERROR', message: 'bad' });
    const errors = (await get('/api/ems/mission-log?severity=ERROR')).json().entries as { message: string }[];
    expect(errors.map((e) => e.message)).toEqual(['bad']);
    for (const query of ['severity=LOUD', 'severity=INFO&severity=ERROR']) {
      const res = await get(`/api/ems/mission-log?${query}`);
      expect(res.status).toBe(400);
      expect(res.json().error.code).toBe('DPC_BAD_REQUEST');
    }
  });

  test('refuses a page key that is not a whole number', async () => {
    for (const query of ['before=abc', 'before=-1', 'limit=1.5']) {
      const res = await get(`/api/ems/mission-log?${query}`);
      expect(res.status).toBe(400);
      expect(res.json().error.code).toBe('DPC_BAD_REQUEST');
    }
  });

  test('the page shows the entries escaped, and its form adds one', async () => {
    const added = await post('/ems/mission-log', new URLSearchParams({ severity: 'ERROR', message: '<script>alert(1)</script>' }).toString(), 'application/x-www-form-urlencoded');
    expect(added.status).toBe(303);
    expect(added.location).toBe('/ems/mission-log');
    const page = await get('/ems/mission-log');
    expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.text).not.toContain('<script>alert(1)</script>');
    expect(page.text).toContain('<span class="sev ERROR">ERROR</span>');
  });

  test('the page form refuses an empty message with a 400 page', async () => {
    const res = await post('/ems/mission-log', 'severity=INFO&message=', 'application/x-www-form-urlencoded', { accept: 'text/html' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('<strong>DPC_EMS_LOG_ENTRY</strong>');
  });

  test('a form post with no body is a 400, not a crash', async () => {
    const res = await fetch(`${app.base}/ems/mission-log`, { method: 'POST', headers: { accept: 'text/html', ...auth() }, redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('DPC_EMS_LOG_ENTRY');
  });

  test('the page links to older entries once it is full', async () => {
    const rows = Array.from({ length: 51 }, (_, i) => ({
      created: Date.now(),
      severity: 'INFO',
      subsystem: 'ems',
      message: `bulk ${i}`,
    }));
    await app.dpc.db.knex('ems_mission_log').insert(rows);
    const ids = (await app.dpc.db.knex('ems_mission_log').select('id').orderBy('id', 'desc')).map((r) => Number(r.id));
    const page = await get('/ems/mission-log');
    expect(page.text.match(/<td>bulk \d+<\/td>/g)).toHaveLength(50);
    expect(page.text).toContain(`href="/ems/mission-log?before=${ids[49]}"`);
    const older = await get(`/ems/mission-log?before=${ids[49]}`);
    expect(older.text.match(/<td>bulk \d+<\/td>/g)).toEqual(['<td>bulk 0</td>']);
    expect(older.text).not.toContain('Older entries');
  });
});

describe('an internal error', () => {
  test('is a 500 that tells the client nothing and logs the cause', async () => {
    const knex = app.dpc.db.knex;
    await knex.schema.renameTable('ems_mission_log', 'ems_mission_log_away');
    try {
      const res = await get('/api/ems/mission-log');
      expect(res.status).toBe(500);
      expect(res.json()).toEqual({ error: { code: 'DPC_INTERNAL', message: 'internal error; the server log has the details' } });
    } finally {
      await knex.schema.renameTable('ems_mission_log_away', 'ems_mission_log');
    }
    const logFile = `${app.t.config.log.dir}/dpc.log`;
    const until = Date.now() + 5000;
    let line;
    while (!(line = readLog(logFile).find((l) => l.message.startsWith('GET /api/ems/mission-log failed: '))) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(line).toMatchObject({ level: 'error', subsystem: 'server', code: 'DPC_INTERNAL' });
  });
});

describe('/readyz', () => {
  test('is 503 with the reason once the DPC is stopping, while /healthz stays 200', async () => {
    const other = await startApp();
    try {
      const ready = await fetch(`${other.base}/readyz`);
      expect(ready.status).toBe(200);
      await other.dpc.stop();
      const stopping = await fetch(`${other.base}/readyz`);
      expect(stopping.status).toBe(503);
      expect(await stopping.json()).toMatchObject({ ready: false, reason: 'starting or stopping' });
      expect((await fetch(`${other.base}/healthz`)).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});
