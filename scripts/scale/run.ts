/**
 * The RMS at the DPCT's scale: fill a PostgreSQL schema with workflows and jobs, then time
 * the console's queries on it. Not part of `npm test`; see docs/scale.md.
 *
 *   npx tsx scripts/scale/run.ts fill --workflows 350000 --jobs 40000000 --schema dpc_scale
 *   npx tsx scripts/scale/run.ts queries --schema dpc_scale [--keep]
 *   npx tsx scripts/scale/run.ts all --workflows 35000 --jobs 4000000   (fill, then queries)
 *   npx tsx scripts/scale/run.ts drop --schema dpc_scale
 *
 * fill     [--workflows 350000] [--jobs 40000000] [--chunk 1000000] [--parallel 2] [--years 3]
 *          [--reset] [--force]   (--reset drops a filled schema first; --force skips the disk check)
 *          [--console --log-dir DIR [--audit 1000000] [--mission-log 1000000] [--alerts 10000] [--users 40]
 *           [--configs 24] [--monitor-days 365] [--long-log-mb 16]]
 *          --console also fills the other console pages' tables (fillConsole.ts); the log
 *          files that lie on disk go under --log-dir, the server's pfs.jobLog.dir.
 * queries  [--runs 5] [--budget-ms 100] [--plan-lines 8] [--json FILE] [--keep]
 *          The schema is dropped after the queries unless --keep. Exits 1 when a console
 *          query (not an "extra") takes more than --budget-ms warm.
 * Database: [--schema dpc_scale] [--host 127.0.0.1] [--port 5432] [--user postgres] [--database test]
 *          (defaults from DPC_TEST_PG_HOST, DPC_TEST_PG_PORT, DPC_TEST_PG_USER, DPC_TEST_PG_DATABASE).
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { BYTES_PER_JOB, checkDisk, checkSchema, CONSOLE_BYTES_PER_JOB, log, openScaleDb, PG_OPTIONS, positive } from './common.js';
import { fill } from './fill.js';
import { fillConsole } from './fillConsole.js';
import { queries } from './queries.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    workflows: { type: 'string', default: '350000' },
    jobs: { type: 'string', default: '40000000' },
    chunk: { type: 'string', default: '1000000' },
    parallel: { type: 'string', default: '2' },
    years: { type: 'string', default: '3' },
    reset: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
    console: { type: 'boolean', default: false },
    'log-dir': { type: 'string' },
    audit: { type: 'string', default: '1000000' },
    'mission-log': { type: 'string', default: '1000000' },
    alerts: { type: 'string', default: '10000' },
    users: { type: 'string', default: '40' },
    configs: { type: 'string', default: '24' },
    'monitor-days': { type: 'string', default: '365' },
    'long-log-mb': { type: 'string', default: '16' },
    runs: { type: 'string', default: '5' },
    'budget-ms': { type: 'string', default: '100' },
    'plan-lines': { type: 'string', default: '8' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    schema: { type: 'string', default: 'dpc_scale' },
    ...PG_OPTIONS,
  },
});

const command = positionals[0];
if (!command || !['fill', 'queries', 'all', 'drop'].includes(command) || positionals.length > 1) {
  process.stderr.write('usage: npx tsx scripts/scale/run.ts fill|queries|all|drop [options]  (see the head of this file)\n');
  process.exit(2);
}
const schema = checkSchema(values.schema);
const workflows = positive('workflows', values.workflows);
const jobs = positive('jobs', values.jobs);
if (jobs < 3 * workflows) throw new Error(`--jobs must be at least 3 per workflow (${3 * workflows} for ${workflows} workflows)`);
const parallel = positive('parallel', values.parallel);
const target = {
  host: values.host,
  port: positive('port', values.port),
  user: values.user,
  database: values.database,
  schema,
  poolMax: parallel + 2,
};

/** The console fill's options from the command line (shared with the console benchmark). */
function consoleOptions(logDir: string) {
  return {
    schema,
    logDir,
    audit: positive('audit', values.audit),
    missionLog: positive('mission-log', values['mission-log']),
    alerts: positive('alerts', values.alerts),
    users: positive('users', values.users),
    configs: positive('configs', values.configs),
    monitorDays: positive('monitor-days', values['monitor-days']),
    longLogMb: positive('long-log-mb', values['long-log-mb']),
    chunk: positive('chunk', values.chunk),
    parallel,
  };
}

const db = await openScaleDb(target);
try {
  log(`PostgreSQL ${target.user}@${target.host}:${target.port}/${target.database}, schema ${schema}; client ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
  if (command === 'drop') {
    await db.knex.raw('drop schema if exists ?? cascade', [schema]);
    log(`dropped schema ${schema}`);
  }
  if (command === 'fill' || command === 'all') {
    await checkDisk(db, jobs, values.console ? BYTES_PER_JOB + CONSOLE_BYTES_PER_JOB : BYTES_PER_JOB, values.force);
    await fill(db, {
      workflows,
      jobs,
      chunk: positive('chunk', values.chunk),
      parallel,
      years: positive('years', values.years),
      schema,
      reset: values.reset,
      solutions: values.console,
    });
    if (values.console) {
      if (!values['log-dir']) throw new Error('--console needs --log-dir: where the log files that lie on disk go (the server\'s pfs.jobLog.dir)');
      await fillConsole(db, consoleOptions(values['log-dir']));
    }
  }
  if (command === 'queries' || command === 'all') {
    const results = await queries(db, {
      runs: positive('runs', values.runs),
      budgetMs: positive('budget-ms', values['budget-ms']),
      planLines: positive('plan-lines', values['plan-lines']),
    });
    if (values.json) writeFileSync(values.json, JSON.stringify({ at: new Date().toISOString(), schema, results }, null, 2));
    // A console query over budget fails the run (the extras are there to be seen, not to pass).
    if (results.some((r) => r.slow && !r.extra)) process.exitCode = 1;
    if (values.keep) log(`kept schema ${schema} (drop it with: npx tsx scripts/scale/run.ts drop --schema ${schema})`);
    else {
      await db.knex.raw('drop schema if exists ?? cascade', [schema]);
      log(`dropped schema ${schema} (pass --keep to keep it)`);
    }
  }
} catch (err) {
  // Said before the pool closes: a connection still held would keep destroy() waiting.
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await db.knex.destroy();
}
