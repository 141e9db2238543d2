import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../../core/clock.js';
import { isOutage, isUniqueViolation, type Db } from '../../core/db.js';
import { ROLES, type Actor, type Role, type SignedIn } from '../../core/actor.js';
import { insertedId } from '../../core/query.js';
import { smasErrors } from './errors.js';
import { hashPassword, NO_PASSWORD, passwordProblem, verifyPassword } from './passwords.js';
import { insertAudit } from './sql/audit.js';
import {
  addFailure,
  restartFailures,
  countAccounts,
  insertAccount,
  listAccounts,
  lockAccount,
  selectAccount,
  setDisabled,
  setPassword,
  setRole,
  signedIn,
  type AccountRow,
} from './sql/accounts.js';
import {
  deleteAccountSessions,
  deleteSession,
  insertSession,
  insertToken,
  listTokens,
  purgeSessions,
  revokeToken,
  selectSession,
  selectToken,
  touchSession,
  touchToken,
  type CredentialRow,
} from './sql/sessions.js';

const USERNAME = /^[a-z][a-z0-9._-]{1,63}$/;
/** What an API token starts with, so that one pasted where it should not be is recognisable. */
const TOKEN_PREFIX = 'dpc_';
/** A pw_hash that no password matches: an account that signs in with API tokens only. */
const NO_SIGN_IN = '!';

export interface SessionSettings {
  idleMs: number;
  absoluteMs: number;
}

export interface SignInSettings {
  maxFailures: number;
  lockMs: number;
}

/** A verified credential: the user, and for a session its key and CSRF secret. */
export interface Credential {
  user: SignedIn;
  /** The SHA-256 of the session's token (smas_session.id); absent for an API token. */
  session?: string;
  csrf?: string;
}

export type AccountView = Omit<AccountRow, 'pw_hash'>;

/** The SHA-256 of a secret, hex: what the database keeps of a session or API token. */
export function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Compares two texts in constant time (a CSRF token with the session's). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The row with its bigint columns as numbers (pg returns them as text). */
function num<T extends object>(row: T, ...keys: (keyof T)[]): T {
  const out = { ...row } as Record<keyof T, unknown>;
  for (const k of keys) if (out[k] !== null && out[k] !== undefined) out[k] = Number(out[k]);
  return out as T;
}

/**
 * Accounts, sessions and API tokens in smas_account, smas_session and smas_token. Sessions
 * and tokens are random secrets the database knows only by their SHA-256. Every change is
 * audited in the transaction that makes it.
 */
export class Accounts {
  /**
   * Credentials verified lately, by digest: while the database is unreachable a request with
   * one of them is let through (to be refused with a 503 by what it asks for, or answered from
   * memory as /api/smas/subsystems is), since nothing could have revoked it meanwhile either.
   */
  private readonly recent = new Map<string, CredentialRow>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly sessions: SessionSettings = { idleMs: 1_800_000, absoluteMs: 43_200_000 },
    private readonly signIns: SignInSettings = { maxFailures: 5, lockMs: 900_000 },
  ) {}

  async count(): Promise<number> {
    const [row] = (await countAccounts(this.db.knex, {})) as { n: number | string }[];
    return Number(row?.n ?? 0);
  }

  async list(): Promise<AccountView[]> {
    return ((await listAccounts(this.db.knex, {})) as AccountView[]).map((r) => num(r, 'id', 'disabled', 'created', 'last_login', 'failures', 'locked_until', 'pw_changed'));
  }

  async find(username: string): Promise<AccountRow | undefined> {
    const [row] = (await selectAccount(this.db.knex, { username })) as AccountRow[];
    return row && num(row, 'id', 'disabled', 'created', 'last_login', 'failures', 'locked_until', 'pw_changed');
  }

  private async get(username: string): Promise<AccountRow> {
    const row = await this.find(username);
    if (!row) throw smasErrors.unknownAccount(username);
    return row;
  }

  /** A new account; `password` undefined: one that signs in with API tokens only. */
  async create(a: { username: string; role: string; displayName?: string; password?: string }, by: Actor): Promise<number> {
    if (!USERNAME.test(a.username)) throw smasErrors.badAccount(`a user name is 2 to 64 of a-z 0-9 . _ -, starting with a letter; got ${JSON.stringify(a.username)}`);
    if (!ROLES.includes(a.role as Role)) throw smasErrors.badAccount(`role must be one of ${ROLES.join(', ')}; got ${JSON.stringify(a.role)}`);
    if (a.password !== undefined) {
      const problem = passwordProblem(a.password);
      if (problem) throw smasErrors.badAccount(problem);
    }
    const pw_hash = a.password === undefined ? NO_SIGN_IN : await hashPassword(a.password);
    try {
      return await this.db.knex.transaction(async (trx) => {
        const id = insertedId(
          await insertAccount(trx, { username: a.username, display_name: a.displayName?.trim().slice(0, 200) || null, role: a.role, pw_hash, created: this.clock.now() }),
        );
        await this.audit(trx, { ...by, action: 'user.add', target: `user ${a.username}`, detail: { role: a.role } });
        return id;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw smasErrors.accountExists(a.username);
      throw err;
    }
  }

  /** A new password; the account's sessions end and its lock-out with them. */
  async resetPassword(username: string, password: string, by: Actor): Promise<void> {
    const problem = passwordProblem(password);
    if (problem) throw smasErrors.badAccount(problem);
    const account = await this.get(username);
    const pw_hash = await hashPassword(password);
    await this.db.knex.transaction(async (trx) => {
      await setPassword(trx, { id: account.id, pw_hash, now: this.clock.now() });
      await deleteAccountSessions(trx, { accountid: account.id });
      await this.audit(trx, { ...by, action: 'user.password', target: `user ${username}` });
    });
    this.forget(account.id);
  }

  /** Disables (its sessions end, its tokens stop working) or enables an account. */
  async setDisabled(username: string, disabled: boolean, by: Actor): Promise<void> {
    const account = await this.get(username);
    await this.db.knex.transaction(async (trx) => {
      await setDisabled(trx, { id: account.id, disabled: disabled ? 1 : 0 });
      if (disabled) await deleteAccountSessions(trx, { accountid: account.id });
      await this.audit(trx, { ...by, action: disabled ? 'user.disable' : 'user.enable', target: `user ${username}` });
    });
    this.forget(account.id);
  }

  async setRole(username: string, role: string, by: Actor): Promise<void> {
    if (!ROLES.includes(role as Role)) throw smasErrors.badAccount(`role must be one of ${ROLES.join(', ')}; got ${JSON.stringify(role)}`);
    const account = await this.get(username);
    await this.db.knex.transaction(async (trx) => {
      await setRole(trx, { id: account.id, role });
      await this.audit(trx, { ...by, action: 'user.role', target: `user ${username}`, detail: { from: account.role, to: role } });
    });
    this.forget(account.id);
  }

  /**
   * Checks a user name and password and opens a new session (a new token whatever the client
   * sent: no fixation). Wrong passwords are counted in the account; the one that reaches
   * smas.signin.maxFailures locks it for lockMs. Each outcome is audited.
   */
  async signIn(username: string, password: string, address: string | undefined): Promise<{ token: string; credential: Credential }> {
    const now = this.clock.now();
    const account = USERNAME.test(username) ? await this.find(username) : undefined;
    const ok = await verifyPassword(password, account && account.pw_hash !== NO_SIGN_IN ? account.pw_hash : NO_PASSWORD);
    const who = { username: username.slice(0, 64) || '(none)', address };
    if (account && account.locked_until !== null && account.locked_until > now) {
      await this.audit(this.db.knex, { ...who, action: 'signin.locked', target: `user ${account.username}` });
      throw smasErrors.locked(account.username, account.failures, account.locked_until);
    }
    if (!account || !ok) {
      if (!account) {
        await this.audit(this.db.knex, { ...who, action: 'signin.failed', detail: { why: 'no such user' } });
        throw smasErrors.badCredentials();
      }
      const locked = await this.db.knex.transaction(async (trx) => {
        // A lock that lapsed starts the count again.
        const failures = account.locked_until !== null ? 1 : account.failures + 1;
        if (account.locked_until !== null) await restartFailures(trx, { id: account.id });
        else await addFailure(trx, { id: account.id });
        await this.audit(trx, { ...who, action: 'signin.failed', target: `user ${account.username}`, detail: { failures } });
        if (failures < this.signIns.maxFailures) return undefined;
        const until = now + this.signIns.lockMs;
        await lockAccount(trx, { id: account.id, until });
        await this.audit(trx, { ...who, action: 'user.locked', target: `user ${account.username}`, detail: { failures, until } });
        return { failures, until };
      });
      if (locked) throw smasErrors.locked(account.username, locked.failures, locked.until);
      throw smasErrors.badCredentials();
    }
    if (account.disabled) {
      await this.audit(this.db.knex, { ...who, action: 'signin.disabled', target: `user ${account.username}` });
      throw smasErrors.disabled(account.username);
    }
    const token = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const id = digest(token);
    await this.db.knex.transaction(async (trx) => {
      await purgeSessions(trx, { now });
      await insertSession(trx, { id, accountid: account.id, created: now, expires: now + this.sessions.absoluteMs, last_seen: now, address: address?.slice(0, 64) ?? null, csrf });
      await signedIn(trx, { id: account.id, now });
      await this.audit(trx, { ...who, username: account.username, action: 'signin', target: `user ${account.username}` });
    });
    return { token, credential: { user: userOf(account.id, account, 'session'), session: id, csrf } };
  }

  /** The user of a session token, if the session is open: not idle past idleMs, not past its absolute end, its account enabled. */
  async session(token: string): Promise<Credential | undefined> {
    const id = digest(token);
    const row = await this.lookup(id, () => selectSession(this.db.knex, { id }));
    if (!row) return undefined;
    const now = this.clock.now();
    if (Number(row.expires) <= now || Number(row.last_seen) + this.sessions.idleMs <= now || Number(row.disabled)) {
      this.recent.delete(id);
      await deleteSession(this.db.knex, { id }).catch(() => undefined);
      return undefined;
    }
    // Written at most every twentieth of the idle time (and a minute), not at every request.
    if (now - Number(row.last_seen) >= Math.min(this.sessions.idleMs / 20, 60_000)) {
      row.last_seen = now;
      await touchSession(this.db.knex, { id, now }).catch((err: unknown) => {
        if (!isOutage(err)) throw err;
      });
    }
    return { user: userOf(Number(row.accountid), row, 'session'), session: id, csrf: row.csrf ?? undefined };
  }

  async signOut(credential: Credential, address: string | undefined, everywhere: boolean): Promise<void> {
    const { user } = credential;
    await this.db.knex.transaction(async (trx) => {
      if (everywhere) await deleteAccountSessions(trx, { accountid: user.id });
      else if (credential.session) await deleteSession(trx, { id: credential.session });
      await this.audit(trx, { username: user.username, address, action: everywhere ? 'signout.everywhere' : 'signout', target: `user ${user.username}` });
    });
    if (everywhere) this.forget(user.id);
    else if (credential.session) this.recent.delete(credential.session);
  }

  /** A new API token of an account: returned once, kept only as its SHA-256. */
  async createToken(username: string, label: string, by: Actor, expires?: number): Promise<{ id: number; token: string }> {
    const account = await this.get(username);
    const name = label.trim();
    if (name === '' || name.length > 100) throw smasErrors.badAccount('an API token needs a label of 1 to 100 characters: what it is for');
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const id = await this.db.knex.transaction(async (trx) => {
      const id = insertedId(await insertToken(trx, { accountid: account.id, label: name, token_hash: digest(token), created: this.clock.now(), expires: expires ?? null }));
      await this.audit(trx, { ...by, action: 'token.add', target: `user ${username}`, detail: { token: id, label: name } });
      return id;
    });
    return { id, token };
  }

  async tokens(accountid: number): Promise<{ id: number; label: string; created: number; last_used: number | null; expires: number | null; revoked: number | null }[]> {
    return ((await listTokens(this.db.knex, { accountid })) as Record<string, unknown>[]).map(
      (r) => num(r, 'id', 'created', 'last_used', 'expires', 'revoked') as { id: number; label: string; created: number; last_used: number | null; expires: number | null; revoked: number | null },
    );
  }

  async revokeToken(user: SignedIn, id: number, by: Actor): Promise<void> {
    await this.db.knex.transaction(async (trx) => {
      if (Number(await revokeToken(trx, { id, accountid: user.id, now: this.clock.now() })) === 0) throw smasErrors.tokenNotFound(id);
      await this.audit(trx, { ...by, action: 'token.revoke', target: `user ${user.username}`, detail: { token: id } });
    });
    this.forget(user.id);
  }

  /** The user of an API token, if it is not revoked, not expired and its account is enabled. */
  async token(token: string): Promise<Credential | undefined> {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const hash = digest(token);
    const row = await this.lookup(hash, () => selectToken(this.db.knex, { token_hash: hash }));
    const now = this.clock.now();
    if (!row || Number(row.disabled) || (row.expires !== null && Number(row.expires) <= now)) return undefined;
    if (row.last_seen === null || now - Number(row.last_seen) >= 60_000) {
      row.last_seen = now;
      await touchToken(this.db.knex, { id: Number(row.id), now }).catch((err: unknown) => {
        if (!isOutage(err)) throw err;
      });
    }
    return { user: userOf(Number(row.accountid), row, 'token') };
  }

  /** Records an action in smas_audit (SmasService.audit). */
  async audit(trx: Knex | Knex.Transaction, e: Actor & { action: string; target?: string; detail?: unknown }): Promise<void> {
    await insertAudit(trx, {
      created: this.clock.now(),
      username: e.username.slice(0, 64),
      action: e.action,
      target: e.target?.slice(0, 200) ?? null,
      reason: e.reason?.slice(0, 1000) || null,
      detail: e.detail === undefined ? null : JSON.stringify(e.detail),
      address: e.address?.slice(0, 64) ?? null,
    });
  }

  private async lookup(key: string, query: () => Promise<unknown>): Promise<CredentialRow | undefined> {
    try {
      const [row] = (await query()) as CredentialRow[];
      if (!row) {
        this.recent.delete(key);
        return undefined;
      }
      // Bounded: a flood of distinct tokens must not grow it without end.
      if (this.recent.size >= 10_000) this.recent.clear();
      this.recent.set(key, row);
      return row;
    } catch (err) {
      const known = this.recent.get(key);
      if (known && isOutage(err)) return known;
      throw err;
    }
  }

  private forget(accountid: number): void {
    for (const [key, row] of this.recent) if (Number(row.accountid) === accountid) this.recent.delete(key);
  }
}

function userOf(id: number, row: { username: string; display_name: string | null; role: string }, via: SignedIn['via']): SignedIn {
  return { id, username: row.username, displayName: row.display_name, role: row.role as Role, via };
}
