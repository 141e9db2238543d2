import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'winston';
import type { Config } from '../../config/schema.js';
import { messageOf } from '../../core/errors.js';
import type { Accounts } from './accounts.js';
import { smasErrors } from './errors.js';
import { randomPassword } from './passwords.js';

export const FIRST_ADMIN = 'admin';

/** smas.firstAdminFile, or `first-admin-password` in the folder that holds log.dir. */
export function firstAdminFile(config: Config): string {
  return resolve(config.smas.firstAdminFile || join(dirname(resolve(config.log.dir)), 'first-admin-password'));
}

/**
 * On a database without accounts: the user `admin` with a random password, written once to a
 * file only this process's user can read (0600). The log says where, never what. Of
 * processes starting together on one database one creates it; the others find it exists.
 */
export async function ensureFirstAdmin(accounts: Accounts, config: Config, log: Logger): Promise<void> {
  if ((await accounts.count()) > 0) return;
  const file = firstAdminFile(config);
  const password = randomPassword();
  // Written beside it first and renamed into place once the account exists: a process that
  // lost the race to create it must not leave its password where the winner's should be.
  const pending = `${file}.${process.pid}.new`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    rmSync(pending, { force: true });
    writeFileSync(pending, `${password}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw smasErrors.firstAdmin(file, (err as NodeJS.ErrnoException).code ?? messageOf(err));
  }
  try {
    await accounts.create({ username: FIRST_ADMIN, role: 'admin', displayName: 'first administrator', password }, { username: 'dpc:first-start' });
  } catch (err) {
    rmSync(pending, { force: true });
    if (smasErrors.accountExists.is(err)) return;
    throw err;
  }
  try {
    renameSync(pending, file);
  } catch (err) {
    rmSync(pending, { force: true });
    throw smasErrors.firstAdmin(file, `${(err as NodeJS.ErrnoException).code ?? messageOf(err)}; the user ${FIRST_ADMIN} exists: give it a password with \`dpc user reset-password ${FIRST_ADMIN}\``);
  }
  log.info(`first start: created the user ${FIRST_ADMIN} (role admin); its password is in ${file} (readable only by this user): sign in with it, then set another on the Users page`, {
    file,
  });
}
