#!/usr/bin/env node
import { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { Db } from '../core/db.js';
import { coreErrors, DpcError, messageOf } from '../core/errors.js';
import { isMigrated, migrate, unlockMigrations } from '../sql/migrate.js';
import { clusterStates, openAccounts, randomPassword } from '../subsystems/smas/index.js';
import { hostname, userInfo } from 'node:os';
import { loadConfig, maskSecrets } from './config.js';
import { describeTarget, migrationOptions, openDb } from './db.js';
import { addOperatorCommands } from './cliApi.js';
import { serve } from './serve.js';
import { softwareVersion } from './paths.js';

/** Configuration problems and an unopenable database end the process with this code. */
const EXIT_CONFIG = 2;

const program = new Command()
  .name('dpc')
  .description('DPC: data processing centre server')
  .version(softwareVersion)
  .option('-c, --config <file>', 'a JSON configuration file (or DPC_CONFIG)')
  .option('-u, --url <url>', 'the running server, for workflow, job and pool commands (default: from http.host and http.port)');

addOperatorCommands(
  program,
  () => {
    const url = program.opts<{ url?: string }>().url;
    if (url) return url;
    const { host, port, basePath } = config().http;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}${basePath}/`;
  },
  () => process.env.DPC_TOKEN || undefined,
);

function config(): Config {
  return loadConfig({ file: program.opts<{ config?: string }>().config });
}

/** Runs a command against the configured database, closing it however the command ends. */
async function withDb(action: (db: Db, cfg: Config) => Promise<void>): Promise<void> {
  const cfg = config();
  const db = await openDb(cfg);
  try {
    await action(db, cfg);
  } finally {
    await db.knex.destroy();
  }
}

program
  .command('serve')
  .description('start the server: migrations, the seven subsystems, the console and API')
  .action(async () => {
    await serve(config());
  });

program
  .command('migrate')
  .description('apply the database migrations not yet applied, and stop')
  .option('--unlock', "free the migration lock left by a killed migration (refused while one runs), and stop")
  .action(async (opts: { unlock?: boolean }) => {
    await withDb(async (db, cfg) => {
      if (opts.unlock) {
        const outcome = await unlockMigrations(db, migrationOptions(cfg));
        process.stdout.write(outcome === 'freed' ? `${describeTarget(cfg)}: freed the migration lock\n` : `${describeTarget(cfg)}: the migration lock was not set\n`);
        return;
      }
      const log = { info: (m: string) => process.stderr.write(`dpc: ${m}\n`), warn: (m: string) => process.stderr.write(`dpc: warning: ${m}\n`) };
      const ran = await migrate(db, { ...migrationOptions(cfg), log });
      process.stdout.write(ran.length ? `applied: ${ran.join(', ')}\n` : `${describeTarget(cfg)} is up to date\n`);
    });
  });

program
  .command('config')
  .description('configuration')
  .command('show')
  .description('print the effective configuration, secrets masked')
  .action(() => {
    process.stdout.write(`${JSON.stringify(maskSecrets(config()), null, 2)}\n`);
  });

program
  .command('status')
  .description('subsystem states of every running DPC process, from the database')
  .action(async () => {
    await withDb(async (db, cfg) => {
      // A database no DPC has used yet would otherwise answer with a failed SQL statement.
      if (!(await isMigrated(db))) {
        throw coreErrors.dbStart(`${describeTarget(cfg)} has no DPC schema yet: run \`dpc migrate\` or start the server`);
      }
      const rows = await clusterStates(db, Date.now(), cfg.smas.healthIntervalMs);
      process.stdout.write(`${describeTarget(cfg)}\n`);
      if (rows.length === 0) process.stdout.write('no DPC process is running\n');
      for (const r of rows) {
        const since = new Date(r.changed).toISOString().replace('T', ' ').slice(0, 19);
        process.stdout.write(`${r.processid.padEnd(32)} ${r.name.toUpperCase().padEnd(5)} ${r.state.padEnd(9)} ${since}  ${r.detail ?? ''}\n`);
      }
    });
  });

/** Runs a `dpc user` command on a migrated database, audited as the system user who ran it. */
async function withAccounts(action: (accounts: ReturnType<typeof openAccounts>, by: { username: string; address: string }) => Promise<void>): Promise<void> {
  await withDb(async (db, cfg) => {
    if (!(await isMigrated(db))) throw coreErrors.dbStart(`${describeTarget(cfg)} has no DPC schema yet: run \`dpc migrate\` or start the server`);
    await action(openAccounts(db, cfg), { username: `cli:${userInfo().username}`.slice(0, 64), address: hostname() });
  });
}

/** A password from standard input (its first line), or a random one that is printed once. */
async function newPassword(fromStdin: boolean | undefined): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: randomPassword(), generated: true };
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return { password: text.split(/\r?\n/)[0], generated: false };
}

const user = program
  .command('user')
  .description('accounts of the console and API (bootstrap: acts on the database directly, audited as the system user running it)');
user
  .command('add <username>')
  .description('add a user; prints a random password once unless --password-stdin')
  .requiredOption('--role <role>', 'scientist (reads), operator (also steers workflows, jobs, pools) or admin (also users)')
  .option('--name <full name>', 'the name shown beside the user name')
  .option('--password-stdin', 'read the password from the first line of standard input')
  .action(async (username: string, o: { role: string; name?: string; passwordStdin?: boolean }) => {
    const { password, generated } = await newPassword(o.passwordStdin);
    await withAccounts(async (accounts, by) => {
      await accounts.create({ username, role: o.role, displayName: o.name, password }, by);
      process.stdout.write(generated ? `added ${username} (${o.role}); password: ${password}\n` : `added ${username} (${o.role})\n`);
    });
  });
user
  .command('reset-password <username>')
  .description('a new password (prints a random one once unless --password-stdin); ends the user\'s sessions and lifts a lock-out')
  .option('--password-stdin', 'read the password from the first line of standard input')
  .action(async (username: string, o: { passwordStdin?: boolean }) => {
    const { password, generated } = await newPassword(o.passwordStdin);
    await withAccounts(async (accounts, by) => {
      await accounts.resetPassword(username, password, by);
      process.stdout.write(generated ? `new password of ${username}: ${password}\n` : `password of ${username} changed\n`);
    });
  });
for (const [action, disabled] of [['disable', true], ['enable', false]] as const) {
  user
    .command(`${action} <username>`)
    .description(disabled ? "disable a user: its sessions end, its API tokens stop working" : 'enable a disabled user')
    .action(async (username: string) => {
      await withAccounts(async (accounts, by) => {
        await accounts.setDisabled(username, disabled, by);
        process.stdout.write(`${username} ${disabled ? 'disabled' : 'enabled'}\n`);
      });
    });
}
user
  .command('list')
  .description('the users, their roles and states')
  .action(async () => {
    await withAccounts(async (accounts) => {
      const now = Date.now();
      for (const a of await accounts.list()) {
        const state = a.disabled ? 'disabled' : a.locked_until !== null && a.locked_until > now ? 'locked' : 'active';
        const last = a.last_login === null ? 'never signed in' : `last sign-in ${new Date(a.last_login).toISOString().replace('T', ' ').slice(0, 19)}`;
        process.stdout.write(`${a.username.padEnd(24)} ${a.role.padEnd(10)} ${state.padEnd(9)} ${last}\n`);
      }
    });
  });
user
  .command('token <username>')
  .description('a new API token of the user, for scripts and for `dpc` operator commands (DPC_TOKEN); printed once')
  .requiredOption('--label <what for>', 'what the token is for, shown in its owner\'s list')
  .action(async (username: string, o: { label: string }) => {
    await withAccounts(async (accounts, by) => {
      const { id, token } = await accounts.createToken(username, o.label, by);
      process.stdout.write(`API token ${id} of ${username}: ${token}\n`);
    });
  });

program.parseAsync().catch((err: unknown) => {
  // One line an operator can act on; what its declaration says needs the configuration fixed exits 2.
  process.stderr.write(`dpc: ${messageOf(err)}\n`);
  process.exitCode = err instanceof DpcError && err.fixConfiguration ? EXIT_CONFIG : 1;
});
