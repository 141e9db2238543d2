import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listen } from '../../server/http.js';
import { openAccounts } from '../../subsystems/smas/index.js';
import { addUser, apiToken, signIn } from '../helpers/auth.js';
import { startApp, type App } from '../helpers/app.js';

let app: App;
beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  await app?.close();
});

const get = (token: string, path = '/api/rms/totals') => fetch(app.base + path, { headers: { authorization: `Bearer ${token}` } });

describe('API tokens', () => {
  test('a token made on the My account page works for the API and is shown once, stored only as its SHA-256', async () => {
    const u = await addUser(app.dpc.db, app.t.config, 'operator');
    const s = await signIn(app.base, u.username, u.password);
    const page = await fetch(`${app.base}/smas/account/tokens`, {
      method: 'POST',
      headers: { ...s.headers(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ label: 'nightly report', _csrf: s.csrf }).toString(),
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    const token = /<code id="new-token">([^<]+)<\/code>/.exec(await page.text())![1];
    expect(token).toMatch(/^dpc_[\w-]{43}$/);
    expect((await get(token)).status).toBe(200);
    const rows = await app.dpc.db.knex('smas_token').select('*');
    expect(JSON.stringify(rows)).not.toContain(token.slice(4));
    expect(await (await fetch(`${app.base}/smas/account`, { headers: s.headers() })).text()).not.toContain(token);
    const me = (await (await get(token, '/api/smas/me')).json()) as Record<string, unknown>;
    expect(me).toMatchObject({ username: u.username, role: 'operator', via: 'token' });
  });

  test('a revoked token is refused; a user may not revoke another user’s', async () => {
    const a = await addUser(app.dpc.db, app.t.config, 'operator');
    const b = await addUser(app.dpc.db, app.t.config, 'operator');
    const accounts = openAccounts(app.dpc.db, app.t.config);
    const ta = await accounts.createToken(a.username, 'a', { username: a.username });
    const tb = await accounts.createToken(b.username, 'b', { username: b.username });
    const revoke = (token: string, id: number) => fetch(`${app.base}/api/smas/tokens/${id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect((await revoke(tb.token, ta.id)).status).toBe(404);
    expect((await get(ta.token)).status).toBe(200);
    expect((await revoke(ta.token, ta.id)).status).toBe(200);
    const refused = await get(ta.token);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('the API token is not valid');
    expect((await get(tb.token)).status).toBe(200);
  });

  test('the tokens of a disabled user are refused, and work again once it is enabled', async () => {
    const u = await addUser(app.dpc.db, app.t.config, 'operator');
    const accounts = openAccounts(app.dpc.db, app.t.config);
    const { token } = await accounts.createToken(u.username, 'script', { username: u.username });
    const s = await signIn(app.base, u.username, u.password);
    await accounts.setDisabled(u.username, true, { username: 'admin' });
    expect((await get(token)).status).toBe(401);
    expect((await fetch(`${app.base}/`, { headers: { cookie: s.cookie }, redirect: 'manual' })).status, 'its sessions ended').toBe(303);
    await accounts.setDisabled(u.username, false, { username: 'admin' });
    expect((await get(token)).status).toBe(200);
  });

  test('a malformed Authorization header is refused, never taken for the cookie', async () => {
    for (const authorization of ['Bearer', 'Basic YWRtaW46eA==', 'Bearer dpc_x y']) {
      const res = await fetch(`${app.base}/api/rms/totals`, { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
    }
  });
});

describe('bearerOnly, for an endpoint a machine reads (/metrics)', () => {
  test('takes an API token of a user with the role, and nothing else: no session cookie, no redirect', async () => {
    const metrics = express();
    metrics.get('/metrics', app.dpc.smas.http.bearerOnly('operator'), (_req, res) => void res.type('text/plain').send('up 1\n'));
    const server = await listen(metrics, '127.0.0.1', 0);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    try {
      const u = await addUser(app.dpc.db, app.t.config, 'operator');
      const s = await signIn(app.base, u.username, u.password);
      expect((await fetch(url, { redirect: 'manual' })).status).toBe(401);
      expect((await fetch(url, { headers: { cookie: s.cookie }, redirect: 'manual' })).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: `Bearer ${await apiToken(app.dpc.db, app.t.config, 'scientist')}` } })).status).toBe(403);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${await apiToken(app.dpc.db, app.t.config, 'operator')}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe('up 1\n');
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});
