import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addUser, apiToken, signIn, type Session } from '../helpers/auth.js';
import { startApp, type App } from '../helpers/app.js';

let app: App;
let scientist: Session;
const tokens: Record<string, string> = {};
beforeAll(async () => {
  app = await startApp();
  const s = await addUser(app.dpc.db, app.t.config, 'scientist');
  scientist = await signIn(app.base, s.username, s.password);
  for (const role of ['scientist', 'operator', 'admin'] as const) tokens[role] = await apiToken(app.dpc.db, app.t.config, role);
});
afterAll(async () => {
  await app?.close();
});

function call(role: string, method: string, path: string, body?: unknown) {
  return fetch(app.base + path, {
    method,
    headers: { authorization: `Bearer ${tokens[role]}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('roles', () => {
  test('a scientist reads, and gets 403 in JSON on every operator action', async () => {
    expect((await call('scientist', 'GET', '/api/rms/totals')).status).toBe(200);
    expect((await call('scientist', 'GET', '/api/smas/audit')).status).toBe(200);
    for (const [path, body] of [
      ['/api/rms/workflows', { name: 'demo', reason: 'r' }],
      ['/api/rms/workflows/1/cancel', { reason: 'r' }],
      ['/api/rms/jobs/1/priority', { priority: 5, reason: 'r' }],
      ['/api/pfs/pools/local/drain', { reason: 'r' }],
      ['/api/ems/mission-log', { message: 'm' }],
    ] as const) {
      const res = await call('scientist', 'POST', path, body);
      expect(res.status, path).toBe(403);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('DPC_SMAS_FORBIDDEN');
      expect(error.message).toMatch(/^scientist-\w+ \(scientist\) may not POST \/api\/\S+: it needs the role operator$/);
    }
  });

  test('a scientist signed in gets a 403 page on an operator action of a page', async () => {
    const res = await fetch(`${app.base}/ems/mission-log`, {
      method: 'POST',
      headers: { ...scientist.headers({ accept: 'text/html' }), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ severity: 'INFO', message: 'not mine to write', _csrf: scientist.csrf }).toString(),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('<strong>DPC_SMAS_FORBIDDEN</strong>');
    expect(await app.dpc.db.knex('ems_mission_log').count({ n: '*' }).then(([r]) => Number(r.n))).toBe(0);
  });

  test('a scientist may manage their own API tokens and sign out', async () => {
    const res = await call('scientist', 'POST', '/api/smas/tokens', { label: 'notebook' });
    expect(res.status).toBe(201);
  });

  test('users are managed by admins only; the Users menu entry is shown to them only', async () => {
    expect((await call('operator', 'GET', '/api/smas/users')).status).toBe(403);
    expect((await call('operator', 'POST', '/api/smas/users', { username: 'mallory', role: 'admin', password: 'x'.repeat(12) })).status).toBe(403);
    expect((await call('admin', 'GET', '/api/smas/users')).status).toBe(200);
    const added = await call('admin', 'POST', '/api/smas/users', { username: 'carol', role: 'operator', password: 'carol has a long password' });
    expect(added.status).toBe(201);
    const users = ((await (await call('admin', 'GET', '/api/smas/users')).json()) as { users: Record<string, unknown>[] }).users;
    expect(users.find((u) => u.username === 'carol')).toMatchObject({ role: 'operator', disabled: 0 });
    expect(users.every((u) => !('pw_hash' in u))).toBe(true);
    const menu = async (role: string) => /<nav class="menu">([\s\S]*?)<\/nav>/.exec(await (await call(role, 'GET', '/')).text())![1];
    expect(await menu('admin')).toContain('>Users</a>');
    expect(await menu('operator')).not.toContain('>Users</a>');
    const page = await fetch(`${app.base}/smas/users`, { headers: { ...scientist.headers(), accept: 'text/html' } });
    expect(page.status).toBe(403);
  });
});
