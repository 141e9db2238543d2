import { randomBytes } from 'node:crypto';
import type { Config } from '../../config/schema.js';
import type { Role } from '../../core/actor.js';
import type { Db } from '../../core/db.js';
import { loadConfig } from '../../server/config.js';
import { openDb } from '../../server/db.js';
import { CSRF_FIELD, openAccounts, SESSION_COOKIE } from '../../subsystems/smas/index.js';

const BY = { username: 'test-setup' };

/** A new user of `role` with a password, straight in the database (as `dpc user add` does). */
export async function addUser(db: Db, config: Config, role: Role = 'operator', username = `${role}-${randomBytes(3).toString('hex')}`): Promise<{ username: string; password: string }> {
  const password = `pw-${randomBytes(12).toString('hex')}`;
  await openAccounts(db, config).create({ username, role, password }, BY);
  return { username, password };
}

/** An API token of a new user of `role` who has no password (it cannot sign in to the console). */
export async function apiToken(db: Db, config: Config, role: Role = 'operator'): Promise<string> {
  const accounts = openAccounts(db, config);
  const username = `${role}-${randomBytes(3).toString('hex')}`;
  await accounts.create({ username, role }, BY);
  return (await accounts.createToken(username, 'test', BY)).token;
}

/** An API token of a new operator in the database of a server started with `env` (after it migrated it). */
export async function apiTokenFor(env: Record<string, string>, role: Role = 'operator'): Promise<string> {
  const config = loadConfig({ env });
  const db = await openDb(config);
  try {
    return await apiToken(db, config, role);
  } finally {
    await db.knex.destroy();
  }
}

/** `fetch` with `Authorization: Bearer <token>` added. */
export function withToken(token: string): typeof fetch {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
}

export interface Session {
  /** The Cookie header that carries the session. */
  cookie: string;
  /** The session's CSRF token, as the pages' forms carry it. */
  csrf: string;
  /** Headers for a request of this session: the cookie, and the CSRF token for a state-changing one. */
  headers(extra?: Record<string, string>): Record<string, string>;
}

/** The Set-Cookie value of the session cookie in a response, or undefined. */
export function sessionCookieOf(res: Response): string | undefined {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  return cookie?.split(';')[0];
}

/** Signs in through the sign-in form as a browser does, and reads the CSRF token from a page. */
export async function signIn(base: string, username: string, password: string): Promise<Session> {
  const res = await fetch(`${base}/smas/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString(),
    redirect: 'manual',
  });
  const cookie = sessionCookieOf(res);
  if (res.status !== 303 || !cookie || cookie === `${SESSION_COOKIE}=`) throw new Error(`sign-in of ${username} failed: ${res.status} ${await res.text()}`);
  const page = await (await fetch(`${base}/smas/account`, { headers: { cookie } })).text();
  const csrf = csrfOf(page);
  if (!csrf) throw new Error(`no CSRF token on the account page of ${username}`);
  return { cookie, csrf, headers: (extra = {}) => ({ cookie, 'x-csrf-token': csrf, ...extra }) };
}

/** The CSRF token of a page's forms. */
export function csrfOf(html: string): string | undefined {
  return new RegExp(`name="${CSRF_FIELD}" value="([^"]+)"`).exec(html)?.[1];
}
