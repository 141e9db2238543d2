import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Db } from '../../core/db.js';
import { openDb } from '../../server/db.js';
import { compileMigrations, MIGRATION_TABLE } from '../../sql/migrate.js';
import { tryMigrationLock } from '../../sql/migrationLock.js';
import { testDialect, testEnv, type TestEnv } from '../helpers/env.js';
import { killChildren, readLog, runCli, serveDpc, spawnTs, until } from '../helpers/server.js';

const LOCK_TABLE = `${MIGRATION_TABLE}_lock`;
const ALL = compileMigrations(testDialect).map((m) => m.name);

let t: TestEnv;
let db: Db;
beforeEach(async () => {
  t = await testEnv();
  db = await openDb(t.config);
});
afterEach(async () => {
  await killChildren();
  await db.knex.destroy();
  await t.cleanup();
});

/** Starts test/fixtures/migrate-pause.ts and resolves once it stopped midway, holding the migration lock. */
async function pausedMigration(): Promise<ChildProcess> {
  const child = spawnTs('test/fixtures/migrate-pause.ts', [], t.env);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (out += s));
  await until(() => out.includes('paused') || child.exitCode !== null, 20_000, 'the fixture migration to pause');
  expect(out).toBe('paused\n');
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  const gone = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await gone;
}

async function ledger(): Promise<string[]> {
  return db.knex(MIGRATION_TABLE).orderBy('id').pluck('name');
}

async function lockRowSet(): Promise<boolean> {
  if (!(await db.knex.schema.hasTable(LOCK_TABLE))) return false;
  const rows: { is_locked: number }[] = await db.knex(LOCK_TABLE).select('is_locked');
  return rows.some((r) => Number(r.is_locked) === 1);
}

/** Sets Knex's lock row as a migration killed after committing it leaves it (on Oracle every DDL commits; or an earlier DPC). */
async function leaveLockRowSet(): Promise<void> {
  expect((await runCli(['migrate'], t.env)).code).toBe(0);
  await db.knex(LOCK_TABLE).update({ is_locked: 1 });
}

describe('a migration killed midway', () => {
  test('leaves nothing applied and nothing locked: the next dpc migrate applies every migration at once, with no warning', async () => {
    await kill9(await pausedMigration());
    expect(await lockRowSet()).toBe(false);
    expect(await db.knex.schema.hasTable(MIGRATION_TABLE)).toBe(false);
    // Knex's wait for a stale lock was two minutes: runCli gives up long before.
    const result = await runCli(['migrate'], t.env);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`applied: ${ALL.join(', ')}\n`);
    expect(result.code).toBe(0);
    expect(await ledger()).toEqual(ALL);
  });

  test('holds the migration lock while it runs: dpc migrate gives up after db.migrationWaitMs with exit 2 naming it, and runs once it was killed', async () => {
    const paused = await pausedMigration();
    const refused = await runCli(['migrate'], { ...t.env, DPC_DB__MIGRATIONWAITMS: '500' });
    expect(refused.stderr).toMatch(/^dpc: waiting for another process's migration: it holds the .+\n/);
    expect(refused.stderr.split('\n')[1]).toMatch(/^dpc: database: another process is migrating it \(it holds the (SQLite write lock|PostgreSQL advisory lock .+)\); gave up after \d+ ms \(db\.migrationWaitMs\)/);
    expect(refused.code).toBe(2);
    await kill9(paused);
    const result = await runCli(['migrate'], { ...t.env, DPC_DB__MIGRATIONWAITMS: '500' });
    expect(result.stdout).toBe(`applied: ${ALL.join(', ')}\n`);
    expect(result.code).toBe(0);
  });
});

describe('a Knex lock row set while no process holds the migration lock', () => {
  test('is freed by the next dpc serve, which logs a warning saying so and comes up', async () => {
    await leaveLockRowSet();
    const served = await serveDpc(t.env);
    const warnings = served.logLines().filter((l) => l.level === 'warn' && l.subsystem === 'server');
    expect(warnings.map((l) => l.message)).toContainEqual(expect.stringMatching(/^the migration lock dpc_migration_lock was set while no process held the .+: left by a migration that was killed; freed it$/));
    expect(await lockRowSet()).toBe(false);
    expect(await served.stop()).toEqual({ code: 0, signal: null });
  });

  test('is freed by the next dpc migrate, which says so on stderr', async () => {
    await leaveLockRowSet();
    const result = await runCli(['migrate'], t.env);
    expect(result.stderr).toMatch(/^dpc: warning: the migration lock dpc_migration_lock was set while no process held the .+; freed it\n$/);
    expect(result.stdout).toMatch(/ is up to date\n$/);
    expect(result.code).toBe(0);
    expect(await lockRowSet()).toBe(false);
  });
});

describe('dpc migrate --unlock', () => {
  test('frees a lock row left set, then says there is none', async () => {
    await leaveLockRowSet();
    const freed = await runCli(['migrate', '--unlock'], t.env);
    expect(freed.stderr).toBe('');
    expect(freed.stdout).toMatch(/: freed the migration lock\n$/);
    expect(freed.code).toBe(0);
    expect(await lockRowSet()).toBe(false);
    const again = await runCli(['migrate', '--unlock'], t.env);
    expect(again.stdout).toMatch(/: the migration lock was not set\n$/);
    expect(again.code).toBe(0);
  });

  test('refuses with exit 2 while a migration runs, and leaves it to run', async () => {
    const paused = await pausedMigration();
    const refused = await runCli(['migrate', '--unlock'], t.env);
    expect(refused.stderr).toMatch(/^dpc: database: a migration is running \(its process holds the .+\): its migration lock is not stale; left it set\n$/);
    expect(refused.code).toBe(2);
    expect(paused.exitCode).toBeNull();
  });
});

describe('two servers started at once on a fresh database', () => {
  test('both come up once the migration lock is free, the schema migrated once by one of them', async () => {
    // The test holds the lock until both wait for it, so that they do start together.
    let release!: () => void;
    const released = new Promise<void>((done) => (release = done));
    const held = new Promise<void>((taken, failed) => {
      db.knex
        .transaction(async (trx: Knex.Transaction) => {
          expect(await tryMigrationLock(trx, testDialect, t.config.db.postgresql.schema)).toBe(true);
          taken();
          await released;
        })
        .catch(failed);
    });
    await held;
    const logDirs = ['a', 'b'].map((n) => join(t.dir, `log-${n}`));
    const starting = logDirs.map((dir) => serveDpc({ ...t.env, DPC_LOG__DIR: dir }, { timeoutMs: 60_000 }));
    const waits = (dir: string) => readLog(join(dir, 'dpc.log')).some((l) => l.message.startsWith("waiting for another process's migration"));
    await until(() => logDirs.every(waits), 20_000, 'both servers to wait for the migration lock');
    release();
    const served = await Promise.all(starting);
    expect(await ledger()).toEqual(ALL);
    const applied = served.map((s) => s.logLines().filter((l) => l.message.startsWith('migrations applied:')).length);
    expect(applied.sort()).toEqual([0, 1]);
    for (const s of served) expect(await s.stop()).toEqual({ code: 0, signal: null });
  });
});
