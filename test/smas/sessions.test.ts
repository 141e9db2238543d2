import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addUser, csrfOf, sessionCookieOf, signIn } from '../helpers/auth.js';
import { movableClock, startApp, type App } from '../helpers/app.js';

const IDLE_MS = 30 * 60_000;
const ABSOLUTE_MS = 8 * 3600_000;
const clock = movableClock();
let app: App;
let alice: { username: string; password: string };
beforeAll(async () => {
  app = await startApp({ DPC_SMAS__SESSION__IDLEMS: String(IDLE_MS), DPC_SMAS__SESSION__ABSOLUTEMS: String(ABSOLUTE_MS), DPC_HTTP__TRUSTPROXY: 'loopback' }, { clock });
  alice = await addUser(app.dpc.db, app.t.config, 'operator');
});
afterAll(async () => {
  await app?.close();
});

const page = (path: string, cookie?: string, headers: Record<string, string> = {}) =>
  fetch(app.base + path, { headers: { ...(cookie ? { cookie } : {}), ...headers }, redirect: 'manual' });

function form(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(app.base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
}

async function audited(action: string): Promise<{ username: string; address: string | null; target: string | null }[]> {
  return app.dpc.db.knex('smas_audit').select('username', 'address', 'target').where({ action }).orderBy('id');
}

describe('signing in', () => {
  test('the sign-in page is a plain form, and a page asked for without a session redirects to it with next', async () => {
    const res = await page('/ems/mission-log?severity=ERROR');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/smas/signin?next=${encodeURIComponent('/ems/mission-log?severity=ERROR')}`);
    const html = await (await page('/smas/signin?next=%2Fems%2Fmission-log')).text();
    expect(html).toContain('<form method="post" action="/smas/signin" class="signin">');
    expect(html).toContain('<input type="hidden" name="next" value="/ems/mission-log">');
    expect(html).not.toMatch(/<script/);
    expect(html).not.toContain('<nav class="menu">\n    \n      <a');
  });

  test('a right password opens a session: an HttpOnly, SameSite cookie, and a redirect to next', async () => {
    const res = await form('/smas/signin', { ...alice, next: '/ems/mission-log' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ems/mission-log');
    const [cookie] = res.headers.getSetCookie();
    expect(cookie).toMatch(/^dpc_session=[\w-]{43}; Max-Age=28800; Path=\/; Expires=.*; HttpOnly; SameSite=Lax$/);
    const signedIn = await page('/ems/mission-log', cookie.split(';')[0]);
    expect(signedIn.status).toBe(200);
    expect(await signedIn.text()).toContain(`>${alice.username}</a>`);
    expect((await audited('signin')).at(-1)).toMatchObject({ username: alice.username, address: '127.0.0.1' });
  });

  test('the cookie is Secure behind a trusted proxy that says the request came over HTTPS', async () => {
    const res = await form('/smas/signin', alice, { 'x-forwarded-proto': 'https' });
    expect(res.headers.getSetCookie()[0]).toMatch(/; Secure; SameSite=Lax$/);
  });

  test('a wrong password, or a user that does not exist, is refused with the same message, and audited', async () => {
    for (const fields of [{ username: alice.username, password: 'not the password' }, { username: 'nobody', password: 'whatever it is' }]) {
      const res = await form('/smas/signin', fields);
      expect(res.status).toBe(401);
      expect(sessionCookieOf(res)).toBeUndefined();
      const html = await res.text();
      expect(html).toContain('wrong user name or password');
      expect(html).toContain(`value="${fields.username}"`);
    }
    expect((await audited('signin.failed')).map((a) => a.username)).toEqual([alice.username, 'nobody']);
    // The right password resets the count.
    await signIn(app.base, alice.username, alice.password);
  });
});

describe('session fixation', () => {
  test('a session token the client brings is never adopted: signing in sets a new one, and the one it had ends', async () => {
    const planted = 'dpc_session=chosen-by-an-attacker';
    const res = await form('/smas/signin', alice, { cookie: planted });
    const given = sessionCookieOf(res)!;
    expect(given).not.toBe(planted);
    expect((await page('/', planted)).status).toBe(303);

    const first = await signIn(app.base, alice.username, alice.password);
    const again = await form('/smas/signin', alice, { cookie: first.cookie });
    const second = sessionCookieOf(again)!;
    expect(second).not.toBe(first.cookie);
    expect((await page('/', first.cookie)).status).toBe(303);
    expect((await page('/', second)).status).toBe(200);
  });
});

describe('open redirect on ?next=', () => {
  test.each([
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['javascript:alert(1)', '/'],
    ['/rms/workflows?status=FAILED', '/rms/workflows?status=FAILED'],
  ])('next=%s goes to %s', async (next, location) => {
    const res = await form('/smas/signin', { ...alice, next });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(location);
    const signinPage = await (await page(`/smas/signin?next=${encodeURIComponent(next)}`)).text();
    if (location === '/') expect(signinPage).toContain('<input type="hidden" name="next" value="">');
  });
});

describe('expiry', () => {
  test('a session left idle past smas.session.idleMs is refused, and the page says why', async () => {
    const s = await signIn(app.base, alice.username, alice.password);
    clock.advance(IDLE_MS - 60_000);
    expect((await page('/', s.cookie)).status).toBe(200);
    clock.advance(IDLE_MS - 60_000);
    expect((await page('/', s.cookie)).status, 'a request within the idle time keeps it open').toBe(200);
    clock.advance(IDLE_MS + 1000);
    const res = await page('/ems/mission-log', s.cookie);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/smas/signin?next=%2Fems%2Fmission-log&ended=1');
    expect(await (await page('/smas/signin?ended=1')).text()).toContain('your session has ended');
    const api = await page('/api/rms/totals', s.cookie);
    expect(api.status).toBe(401);
    expect((await api.json()).error.code).toBe('DPC_SMAS_SIGN_IN');
  });

  test('a session in use ends all the same at smas.session.absoluteMs after signing in', async () => {
    const s = await signIn(app.base, alice.username, alice.password);
    for (let t = IDLE_MS / 2; t < ABSOLUTE_MS; t += IDLE_MS / 2) {
      clock.advance(IDLE_MS / 2);
      expect((await page('/', s.cookie)).status).toBe(200);
    }
    clock.advance(IDLE_MS / 2 + 1000);
    expect((await page('/', s.cookie)).status).toBe(303);
  });

  test('a forged session token is refused like none', async () => {
    expect((await page('/api/rms/totals', 'dpc_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(401);
  });
});

describe('signing out', () => {
  test('sign-out ends this session only; sign out everywhere ends every session of the user', async () => {
    const a = await signIn(app.base, alice.username, alice.password);
    const b = await signIn(app.base, alice.username, alice.password);
    const out = await form('/smas/signout', { _csrf: a.csrf }, { cookie: a.cookie });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/smas/signin');
    expect(out.headers.getSetCookie()[0]).toMatch(/^dpc_session=;/);
    expect((await page('/', a.cookie)).status).toBe(303);
    expect((await page('/', b.cookie)).status).toBe(200);

    const c = await signIn(app.base, alice.username, alice.password);
    const account = await (await page('/smas/account', c.cookie)).text();
    expect(await form('/smas/signout', { _csrf: csrfOf(account)!, everywhere: '1' }, { cookie: c.cookie }).then((r) => r.status)).toBe(303);
    expect((await page('/', b.cookie)).status).toBe(303);
    expect((await page('/', c.cookie)).status).toBe(303);
    expect((await audited('signout')).at(-1)?.username).toBe(alice.username);
    expect((await audited('signout.everywhere')).at(-1)?.username).toBe(alice.username);
  });
});
