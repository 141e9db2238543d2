import type { Knex } from 'knex';
import type { Dialect } from '../core/db.js';

/**
 * The lock a migration holds from its first statement to its commit, one that dies with its
 * holder: Knex's own lock is a row (`dpc_migration_lock.is_locked`) that names no holder
 * and stays set when its process is killed after committing it (on Oracle every DDL
 * statement commits), and migrations run before a process registers in `smas_process`.
 *
 * - PostgreSQL: the transaction-level advisory lock (MIGRATION_LOCK_CLASS, hashtext(schema))
 *   on the connection that runs the migrations; in `pg_locks` it is locktype `advisory`,
 *   classid 1146110797 ('DPCM'), objid the hash of the schema name.
 * - Oracle: the user lock ora_hash('DPC_MIGRATION.<schema>', 1073741823) of DBMS_LOCK in
 *   exclusive mode, held by the session past the commits of the DDL (release_on_commit
 *   false) and released before its connection goes back to the pool. The DPC user needs
 *   EXECUTE on SYS.DBMS_LOCK.
 * - SQLite: the database's write lock (BEGIN IMMEDIATE).
 */
export const MIGRATION_LOCK_CLASS = 0x4450434d;

/** Oracle's answer when another session holds the lock (raise_application_error). */
const ORACLE_BUSY = 20_001;

const oracleLockId = "select ora_hash('DPC_MIGRATION.' || sys_context('USERENV', 'CURRENT_SCHEMA'), 1073741823) into lockid from dual;";

/**
 * Takes the migration lock in `trx` without waiting for it; false when another process
 * holds it. `schema` is the PostgreSQL schema migrated (the lock is per schema).
 */
export async function tryMigrationLock(trx: Knex.Transaction, dialect: Dialect, schema: string): Promise<boolean> {
  switch (dialect) {
    case 'postgresql': {
      const result = (await trx.raw('select pg_try_advisory_xact_lock(?, hashtext(?)) as taken', [MIGRATION_LOCK_CLASS, schema])) as { rows: { taken: boolean }[] };
      return result.rows[0].taken;
    }
    case 'sqlite': {
      // Knex opened a deferred transaction that has touched nothing yet: reopened IMMEDIATE,
      // it holds the write lock from now on, before anything is read. Tried without the
      // connection's busy wait, which would block the process: the caller polls.
      const [{ timeout }] = (await trx.raw('pragma busy_timeout')) as { timeout: number }[];
      await trx.raw('rollback');
      await trx.raw('pragma busy_timeout = 0');
      try {
        await trx.raw('begin immediate');
        return true;
      } catch (err) {
        // Knex ends the transaction it believes open: give it one to end.
        await trx.raw('begin');
        if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) return false;
        throw err;
      } finally {
        await trx.raw(`pragma busy_timeout = ${Number(timeout)}`);
      }
    }
    case 'oracle':
      try {
        await trx.raw(
          `declare lockid integer; begin ${oracleLockId} ` +
            `if dbms_lock.request(lockid, dbms_lock.x_mode, 0, false) not in (0, 4) then ` +
            `raise_application_error(-${ORACLE_BUSY}, 'the DPC migration lock is held by another session'); end if; end;`,
        );
        return true;
      } catch (err) {
        if ((err as { errorNum?: number }).errorNum === ORACLE_BUSY) return false;
        throw err;
      }
  }
}

/**
 * Releases what the commit does not: Oracle's session lock, whose connection returns to the
 * pool. The others end with the transaction.
 */
export async function releaseMigrationLock(trx: Knex.Transaction, dialect: Dialect): Promise<void> {
  if (dialect === 'oracle') await trx.raw(`declare lockid integer; status integer; begin ${oracleLockId} status := dbms_lock.release(lockid); end;`);
}

/** The names of what holds the lock, for messages. */
export function migrationLockName(dialect: Dialect): string {
  switch (dialect) {
    case 'postgresql':
      return `PostgreSQL advisory lock (${MIGRATION_LOCK_CLASS}, hashtext(schema))`;
    case 'sqlite':
      return 'SQLite write lock';
    case 'oracle':
      return 'DBMS_LOCK DPC_MIGRATION';
  }
}
