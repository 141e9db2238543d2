#!/usr/bin/env node
import { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { Db } from '../core/db.js';
import { coreErrors, DpcError, messageOf } from '../core/errors.js';
import { isMigrated, migrate, unlockMigrations } from '../sql/migrate.js';
import { clusterStates } from '../subsystems/smas/index.js';
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

addOperatorCommands(program, () => {
  const url = program.opts<{ url?: string }>().url;
  if (url) return url;
  const { host, port } = config().http;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
});

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

program.parseAsync().catch((err: unknown) => {
  // One line an operator can act on; what its declaration says needs the configuration fixed exits 2.
  process.stderr.write(`dpc: ${messageOf(err)}\n`);
  process.exitCode = err instanceof DpcError && err.fixConfiguration ? EXIT_CONFIG : 1;
});
