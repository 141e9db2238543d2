import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WORKFLOWS } from '../fixtures/rms-harness.js';
import { addUser, apiToken, signIn, type Session } from '../helpers/auth.js';
import { startApp, type App } from '../helpers/app.js';

const SCRIPT = '<script>alert(1)</script>';
const IMG = '"><img src=x onerror=alert(2)>';

let app: App;
let admin: Session;
let token: string;
beforeAll(async () => {
  app = await startApp({}, { descriptors: [WORKFLOWS] });
  const a = await addUser(app.dpc.db, app.t.config, 'admin');
  admin = await signIn(app.base, a.username, a.password);
  token = await apiToken(app.dpc.db, app.t.config, 'operator');
});
afterAll(async () => {
  await app?.close();
});

async function html(path: string): Promise<string> {
  const res = await fetch(app.base + path, { headers: { ...admin.headers(), accept: 'text/html' } });
  return res.text();
}

/** No markup of the attacker's survives: only its escaped text. */
function expectEscaped(page: string): void {
  expect(page).not.toContain(SCRIPT);
  expect(page).not.toContain('<img src=x');
  expect(page).not.toMatch(/<script/i);
}

describe('HTML injection', () => {
  test("a workflow's parameters, name and reason reach the pages as text", async () => {
    const start = (name: string, params: Record<string, unknown>) =>
      fetch(`${app.base}/api/rms/workflows`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, params, reason: `because ${SCRIPT}` }),
      });
    expect((await start('held', { n: 1, note: IMG, [SCRIPT]: 1 })).status).toBe(201);
    expect((await start(SCRIPT, {})).status).toBe(404);
    const page = await html(`/smas/audit?action=workflow.manual&user=${encodeURIComponent('')}`);
    expect(page).toContain('because &lt;script&gt;alert(1)&lt;/script&gt;');
    expectEscaped(page);
    const filtered = await html(`/smas/audit?action=${encodeURIComponent(IMG)}`);
    expect(filtered).toContain('value="&#34;&gt;&lt;img src=x onerror=alert(2)&gt;"');
    expectEscaped(filtered);
  });

  test('a user name on the sign-in page, a display name on the Users page and an address in a 404 are escaped', async () => {
    const signin = await fetch(`${app.base}/smas/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: IMG, password: 'x', next: `/${SCRIPT}` }).toString(),
    });
    expectEscaped(await signin.text());
    await fetch(`${app.base}/api/smas/users`, {
      method: 'POST',
      headers: { ...admin.headers(), 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'dave', role: 'scientist', displayName: `Dave ${SCRIPT}${IMG}`, password: 'dave has a long password' }),
    });
    const users = await html('/smas/users');
    expect(users).toContain('Dave &lt;script&gt;');
    expectEscaped(users);
    expectEscaped(await html(`/${encodeURIComponent(SCRIPT)}`));
  });

  test('every page carries a CSP that allows no inline script', async () => {
    for (const path of ['/', '/smas/signin', '/smas/audit', '/ems/mission-log']) {
      const res = await fetch(app.base + path, { headers: admin.headers() });
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});
