import type { Ddl } from '../ddl.js';

/**
 * Sign-in (issue 13): lock-out after wrong passwords, the CSRF secret of each session, and
 * per-user API tokens for scripts, stored like sessions as the SHA-256 of the token.
 * A session's idle expiry is its last_seen plus smas.session.idleMs, read at each request,
 * so a changed idle time applies to the sessions already open; `expires` is its absolute end.
 * The audit gets the indexes of its page's filters, each newest first by key.
 */
export const name = '0011_accounts';

export function up(ddl: Ddl): void {
  ddl.alter('smas_account', (c) => {
    c.int('failures').notNullable().defaultTo(0);
    c.big('locked_until');
    c.big('pw_changed');
  });
  ddl.alter('smas_session', (c) => {
    c.str('csrf', 64);
    c.index(['accountid'], 'account_ix');
  });
  ddl.table('smas_token', (c) => {
    c.id();
    c.ref('accountid', 'smas_account').notNullable();
    c.str('label', 100).notNullable();
    c.str('token_hash', 64).notNullable();
    c.unique(['token_hash'], 'hash_uq');
    c.big('created').notNullable();
    c.big('last_used');
    c.big('expires');
    c.big('revoked');
    c.index(['accountid'], 'account_ix');
  });
  ddl.index('smas_audit', 'user_ix', ['username', 'created', 'id']);
  ddl.index('smas_audit', 'action_ix', ['action', 'created', 'id']);
}
