import { defineQuery } from '../../../core/query.js';

export interface AccountRow {
  id: number;
  username: string;
  display_name: string | null;
  role: string;
  pw_hash: string;
  disabled: number;
  created: number;
  last_login: number | null;
  failures: number;
  locked_until: number | null;
  pw_changed: number | null;
}

/** What lists and pages show of an account: never its password hash. */
const SHOWN = ['id', 'username', 'display_name', 'role', 'disabled', 'created', 'last_login', 'failures', 'locked_until', 'pw_changed'];

export const insertAccount = defineQuery(
  'smas.insertAccount',
  { username: 'jdoe', display_name: 'Jane Doe' as string | null, role: 'operator', pw_hash: 'scrypt$…', created: 1767225600000 },
  (knex, p) => knex('smas_account').insert({ ...p, pw_changed: p.created }).returning('id'),
);

export const selectAccount = defineQuery('smas.selectAccount', { username: 'jdoe' }, (knex, p) => knex('smas_account').select('*').where('username', p.username));

export const countAccounts = defineQuery('smas.countAccounts', {}, (knex) => knex('smas_account').count({ n: '*' }));

export const listAccounts = defineQuery('smas.listAccounts', {}, (knex) => knex('smas_account').select(SHOWN).orderBy('username'));

/** A new password: the lock-out and its count of wrong passwords end with it. */
export const setPassword = defineQuery('smas.setPassword', { id: 1, pw_hash: 'scrypt$…', now: 1767225600000 }, (knex, p) =>
  knex('smas_account').update({ pw_hash: p.pw_hash, pw_changed: p.now, failures: 0, locked_until: null }).where('id', p.id),
);

export const setDisabled = defineQuery('smas.setDisabled', { id: 1, disabled: 1 as 0 | 1 }, (knex, p) => knex('smas_account').update({ disabled: p.disabled }).where('id', p.id));

export const setRole = defineQuery('smas.setRole', { id: 1, role: 'operator' }, (knex, p) => knex('smas_account').update({ role: p.role }).where('id', p.id));

/** One more wrong password, counted in the database so that every process sharing it counts the same. */
export const addFailure = defineQuery('smas.addFailure', { id: 1 }, (knex, p) => knex('smas_account').increment('failures', 1).where('id', p.id));

/** The first wrong password after a lock that lapsed. */
export const restartFailures = defineQuery('smas.restartFailures', { id: 1 }, (knex, p) => knex('smas_account').update({ failures: 1, locked_until: null }).where('id', p.id));

export const lockAccount = defineQuery('smas.lockAccount', { id: 1, until: 1767226500000 }, (knex, p) => knex('smas_account').update({ locked_until: p.until }).where('id', p.id));

export const signedIn = defineQuery('smas.signedIn', { id: 1, now: 1767225600000 }, (knex, p) =>
  knex('smas_account').update({ failures: 0, locked_until: null, last_login: p.now }).where('id', p.id),
);
