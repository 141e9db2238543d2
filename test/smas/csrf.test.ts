import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WORKFLOWS } from '../fixtures/rms-harness.js';
import { addUser, apiToken, signIn, type Session } from '../helpers/auth.js';
import { startApp, type App } from '../helpers/app.js';

let app: App;
let session: Session;
let token: string;
let workflowid: number;
beforeAll(async () => {
  app = await startApp({}, { descriptors: [WORKFLOWS] });
  const op = await addUser(app.dpc.db, app.t.config, 'operator');
  session = await signIn(app.base, op.username, op.password);
  token = await apiToken(app.dpc.db, app.t.config, 'operator');
  const started = await fetch(`${app.base}/api/rms/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'held', reason: 'a workflow that stays RUNNING' }),
  });
  workflowid = ((await started.json()) as { id: number }).id;
});
afterAll(async () => {
  await app?.close();
});

const status = async () => ((await (await fetch(`${app.base}/api/rms/workflows/${workflowid}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { status: string }).status;

function cancel(headers: Record<string, string>, fields: Record<string, string> = { reason: 'test' }) {
  return fetch(`${app.base}/api/rms/workflows/${workflowid}/cancel`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
}

describe('cross-site requests', () => {
  test('a form-encoded POST from another site is refused with 403, with the session cookie or an API token, and changes nothing', async () => {
    const cases: Record<string, string>[] = [
      { ...session.headers(), origin: 'https://evil.example' },
      { cookie: session.cookie, referer: 'https://evil.example/page.html' },
      { authorization: `Bearer ${token}`, origin: 'https://evil.example' },
      { ...session.headers(), origin: 'null' },
    ];
    for (const headers of cases) {
      const res = await cancel(headers, { reason: 'clickjacked', _csrf: session.csrf });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('DPC_SMAS_ORIGIN');
    }
    expect(await status()).toBe('RUNNING');
  });

  test("a POST with the session cookie but without this session's CSRF token is refused with 403", async () => {
    const cases: Record<string, string>[] = [{ reason: 'no token' }, { reason: 'wrong token', _csrf: 'x'.repeat(43) }, { reason: 'empty', _csrf: '' }];
    for (const fields of cases) {
      const res = await cancel({ cookie: session.cookie, origin: app.origin }, fields);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'DPC_SMAS_CSRF' });
    }
    const page = await fetch(`${app.base}/ems/mission-log`, {
      method: 'POST',
      headers: { cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: 'severity=INFO&message=hi',
    });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('<strong>DPC_SMAS_CSRF</strong>');
    expect(await status()).toBe('RUNNING');
  });

  test('the same POST from this site with the CSRF token (form field or header) is done, and audited with who and from where', async () => {
    const res = await fetch(`${app.base}/ems/mission-log`, {
      method: 'POST',
      headers: { cookie: session.cookie, origin: app.origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ severity: 'INFO', message: 'from the form', _csrf: session.csrf }).toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    expect((await cancel({ ...session.headers(), origin: app.origin }, { reason: 'done with it' })).status).toBe(200);
    expect(await status()).toBe('CANCELLED');
    const audit = await app.dpc.db.knex('smas_audit').whereIn('action', ['missionlog.add', 'workflow.cancel']).orderBy('id');
    expect(audit.map((a) => [a.action, a.address, a.reason])).toEqual([
      ['missionlog.add', '127.0.0.1', null],
      ['workflow.cancel', '127.0.0.1', 'done with it'],
    ]);
    expect(new Set(audit.map((a) => a.username)).size).toBe(1);
    expect(audit[0].username).not.toBe('console');
  });

  test('a script with an API token needs no CSRF token', async () => {
    const res = await fetch(`${app.base}/api/ems/mission-log`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'from a script' }),
    });
    expect(res.status).toBe(201);
  });

  test("pages let a browser send the console's origin with their forms' POSTs (Referrer-Policy same-origin, not no-referrer, whose Origin is null)", async () => {
    for (const path of ['/smas/signin', '/rms/jobs']) {
      const res = await fetch(app.base + path, { headers: session.headers(), redirect: 'manual' });
      expect(res.headers.get('referrer-policy'), path).toBe('same-origin');
    }
  });
});
