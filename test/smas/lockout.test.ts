import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openAccounts } from '../../subsystems/smas/index.js';
import { addUser, sessionCookieOf } from '../helpers/auth.js';
import { movableClock, startApp, type App } from '../helpers/app.js';

const LOCK_MS = 15 * 60_000;
const clock = movableClock();
let app: App;
beforeAll(async () => {
  app = await startApp(
    {
      DPC_SMAS__SIGNIN__MAXFAILURES: '3',
      DPC_SMAS__SIGNIN__LOCKMS: String(LOCK_MS),
      DPC_SMAS__SIGNIN__PERACCOUNT: '6',
      DPC_SMAS__SIGNIN__PERADDRESS: '8',
      // The limit per address is tested from addresses a trusted proxy names.
      DPC_HTTP__TRUSTPROXY: 'loopback',
    },
    { clock },
  );
});
afterAll(async () => {
  await app?.close();
});

let address = 0;
/** Each test signs in from an address of its own (X-Forwarded-For, from the trusted proxy on loopback). */
const from = () => `10.0.0.${++address}`;

function signInAs(username: string, password: string, ip: string) {
  return fetch(`${app.base}/smas/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
    body: new URLSearchParams({ username, password }).toString(),
    redirect: 'manual',
  });
}

describe('lock-out', () => {
  test('the third wrong password in a row locks the account for smas.signin.lockMs, with a clear message, even for the right password; audited', async () => {
    const u = await addUser(app.dpc.db, app.t.config, 'operator');
    const ip = from();
    expect((await signInAs(u.username, 'wrong password 1', ip)).status).toBe(401);
    expect((await signInAs(u.username, 'wrong password 2', ip)).status).toBe(401);
    const third = await signInAs(u.username, 'wrong password 3', ip);
    expect(third.status).toBe(423);
    expect(await third.text()).toMatch(new RegExp(`the account ${u.username} is locked after 3 wrong passwords until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC; an admin can unlock it`));
    const right = await signInAs(u.username, u.password, ip);
    expect(right.status).toBe(423);
    expect(sessionCookieOf(right)).toBeUndefined();
    const actions = (await app.dpc.db.knex('smas_audit').where('target', `user ${u.username}`).orderBy('id').select('action')).map((a) => a.action);
    expect(actions).toEqual(['user.add', 'signin.failed', 'signin.failed', 'signin.failed', 'user.locked', 'signin.locked']);

    clock.advance(LOCK_MS + 1000);
    const after = await signInAs(u.username, u.password, ip);
    expect(after.status).toBe(303);
    expect(sessionCookieOf(after)).toBeDefined();
  });

  test('a right password between wrong ones starts the count again', async () => {
    const u = await addUser(app.dpc.db, app.t.config, 'operator');
    const ip = from();
    for (let round = 0; round < 2; round++) {
      expect((await signInAs(u.username, 'wrong', ip)).status).toBe(401);
      expect((await signInAs(u.username, 'wrong', ip)).status).toBe(401);
      expect((await signInAs(u.username, u.password, ip)).status).toBe(303);
    }
  });

  test('a new password from an admin lifts the lock', async () => {
    const u = await addUser(app.dpc.db, app.t.config, 'operator');
    const ip = from();
    for (let i = 0; i < 3; i++) await signInAs(u.username, 'wrong', ip);
    expect((await signInAs(u.username, u.password, ip)).status).toBe(423);
    await openAccounts(app.dpc.db, app.t.config).resetPassword(u.username, 'a brand new password', { username: 'admin' });
    expect((await signInAs(u.username, 'a brand new password', ip)).status).toBe(303);
  });
});

describe('rate limits', () => {
  test('guessing many passwords of one user name from many addresses is cut at smas.signin.perAccount attempts', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await signInAs('ghost', `guess ${i}`, from())).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429]);
    const res = await signInAs('ghost', 'guess 8', from());
    expect(await res.text()).toContain('too many sign-in attempts for this user name; try again in 5 min');
  });

  test('guessing many user names from one address is cut at smas.signin.perAddress attempts', async () => {
    const ip = from();
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await signInAs(`name${i}`, 'guess', ip)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 401, 401, 429]);
    const u = await addUser(app.dpc.db, app.t.config, 'operator');
    expect((await signInAs(u.username, u.password, ip)).status, 'even with a right password, until the window passes').toBe(429);
    expect((await signInAs(u.username, u.password, from())).status).toBe(303);
  });
});
