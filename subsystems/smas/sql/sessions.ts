import { defineQuery } from '../../../core/query.js';

/** A session or a token with the account it belongs to: what each request is checked against. */
export interface CredentialRow {
  id: number | string;
  accountid: number;
  created: number;
  expires: number | null;
  last_seen: number | null;
  csrf: string | null;
  username: string;
  display_name: string | null;
  role: string;
  disabled: number;
}

const ACCOUNT = ['a.username', 'a.display_name', 'a.role', 'a.disabled'];
const sessionExample = { id: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' };

export const insertSession = defineQuery(
  'smas.insertSession',
  { ...sessionExample, accountid: 1, created: 1767225600000, expires: 1767268800000, last_seen: 1767225600000, address: '10.0.0.7' as string | null, csrf: 'k3J…' },
  (knex, p) => knex('smas_session').insert(p),
);

export const selectSession = defineQuery('smas.selectSession', sessionExample, (knex, p) =>
  knex('smas_session as s')
    .join('smas_account as a', 'a.id', 's.accountid')
    .select('s.id', 's.accountid', 's.created', 's.expires', 's.last_seen', 's.csrf', ...ACCOUNT)
    .where('s.id', p.id),
);

export const touchSession = defineQuery('smas.touchSession', { ...sessionExample, now: 1767225600000 }, (knex, p) => knex('smas_session').update({ last_seen: p.now }).where('id', p.id));

export const deleteSession = defineQuery('smas.deleteSession', sessionExample, (knex, p) => knex('smas_session').where('id', p.id).del());

/** "Sign out everywhere", and what disabling an account or resetting its password does. */
export const deleteAccountSessions = defineQuery('smas.deleteAccountSessions', { accountid: 1 }, (knex, p) => knex('smas_session').where('accountid', p.accountid).del());

export const purgeSessions = defineQuery('smas.purgeSessions', { now: 1767225600000 }, (knex, p) => knex('smas_session').where('expires', '<', p.now).del());

export const insertToken = defineQuery(
  'smas.insertToken',
  { accountid: 1, label: 'nightly backfill script', token_hash: sessionExample.id, created: 1767225600000, expires: null as number | null },
  (knex, p) => knex('smas_token').insert(p).returning('id'),
);

/** A token not revoked, with its account. */
export const selectToken = defineQuery('smas.selectToken', { token_hash: sessionExample.id }, (knex, p) =>
  knex('smas_token as t')
    .join('smas_account as a', 'a.id', 't.accountid')
    .select('t.id', 't.accountid', 't.created', 't.expires', { last_seen: 't.last_used' }, knex.raw('null as csrf'), ...ACCOUNT)
    .where('t.token_hash', p.token_hash)
    .whereNull('t.revoked'),
);

export const listTokens = defineQuery('smas.listTokens', { accountid: 1 }, (knex, p) =>
  knex('smas_token').select('id', 'label', 'created', 'last_used', 'expires', 'revoked').where('accountid', p.accountid).orderBy('id', 'desc'),
);

export const revokeToken = defineQuery('smas.revokeToken', { id: 1, accountid: 1, now: 1767225600000 }, (knex, p) =>
  knex('smas_token').update({ revoked: p.now }).where({ id: p.id, accountid: p.accountid }).whereNull('revoked'),
);

export const touchToken = defineQuery('smas.touchToken', { id: 1, now: 1767225600000 }, (knex, p) => knex('smas_token').update({ last_used: p.now }).where('id', p.id));
