/**
 * The console benchmark (issue 13): the console's pages and their JSON twins on the scale
 * script's PostgreSQL database filled for every page, served by a real `dpc serve` in a
 * process of its own, loaded by autocannon on loopback at a fixed offered rate per page type,
 * signed in (a session cookie for pages, an API token for /api), warm, while a workflow
 * feeder keeps the queue running at a stated rate. See docs/scale.md, "The console benchmark".
 *
 *   npm run bench:console -- [--schema dpc_bench_console] [--workflows 350000] [--jobs 40000000]
 *                            [--no-fill] [--reset] [--rate 50] [--seconds 5] [--no-ramp]
 *                            [--ramp-seconds 3] [--ramp-max 3200] [--queue-rate 100]
 *                            [--deep-pages 1000] [--warmup-seconds 2] [--only REGEX]
 *                            [--dir DIR] [--keep] [--json FILE]
 *
 * The fill (scripts/scale/fill.ts, then fillConsole.ts) makes the schema anew unless
 * --no-fill, which reuses one filled before with --keep (its log files are under --dir). For
 * each target: one request (a 404 is "(not built)" and skipped), --warmup-seconds at the rate
 * untimed, --seconds at --rate timed, then the ramp: twice the rate, and again, for
 * --ramp-seconds each, up to --ramp-max, stopping at the first step that fails the goal. The
 * queue's rate is the jobs of the feeder's workflows that ended during each timed run.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../../server/config.js';
import { openAccounts } from '../../../subsystems/smas/index.js';
import { signIn } from '../../../test/helpers/auth.js';
import { serveDpc } from '../../../test/helpers/server.js';
import { BYTES_PER_JOB, checkDisk, checkSchema, CONSOLE_BYTES_PER_JOB, grouped, log, openScaleDb, PG_OPTIONS, positive } from '../../scale/common.js';
import { fill } from '../../scale/fill.js';
import { fillConsole } from '../../scale/fillConsole.js';
import { GOAL_P99_MS, offer, passes, type Load } from './load.js';
import { findKeys, TARGETS } from './targets.js';

const { values } = parseArgs({
  options: {
    schema: { type: 'string', default: 'dpc_bench_console' },
    workflows: { type: 'string', default: '350000' },
    jobs: { type: 'string', default: '40000000' },
    'no-fill': { type: 'boolean', default: false },
    reset: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
    chunk: { type: 'string', default: '1000000' },
    parallel: { type: 'string', default: '2' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
    ramp: { type: 'boolean', default: true },
    'no-ramp': { type: 'boolean', default: false },
    'ramp-seconds': { type: 'string', default: '3' },
    'ramp-max': { type: 'string', default: '3200' },
    'queue-rate': { type: 'string', default: '100' },
    'deep-pages': { type: 'string', default: '1000' },
    'warmup-seconds': { type: 'string', default: '2' },
    only: { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    json: { type: 'string' },
    ...PG_OPTIONS,
  },
});

const schema = checkSchema(values.schema);
const workflows = positive('workflows', values.workflows);
const jobs = positive('jobs', values.jobs);
const parallel = positive('parallel', values.parallel);
const rate = positive('rate', values.rate);
const seconds = positive('seconds', values.seconds);
const ramp = values.ramp && !values['no-ramp'];
const rampSeconds = positive('ramp-seconds', values['ramp-seconds']);
const rampMax = positive('ramp-max', values['ramp-max']);
const queueRate = positive('queue-rate', values['queue-rate']);
const deepPages = positive('deep-pages', values['deep-pages']);
const warmupSeconds = positive('warmup-seconds', values['warmup-seconds']);
const only = values.only === undefined ? undefined : new RegExp(values.only, 'i');
const dir = values.dir ?? join(tmpdir(), `dpc-${schema}`);
const segments = join(dir, 'segments');
const pg = { host: values.host, port: positive('port', values.port), user: values.user, database: values.database };
// The feeder's workflow: one step of no-op jobs (the queue benchmark's).
const benchWorkflows = fileURLToPath(new URL('../queue/bench-workflows.ts', import.meta.url));

/** One measured target: a page or its API twin. */
interface Result {
  target: string;
  kind: 'page' | 'api';
  path: string;
  status: 'measured' | 'not built';
  load?: Load;
  /** Jobs per second the queue ended during the timed run. */
  queueJobsPerSec?: number;
  ramp: Load[];
  /** The highest rate offered whose step passed (0: not even --rate). */
  maxRate?: number;
  /** The first answer's status and text when it was not a 2xx. */
  problem?: string;
}

const db = await openScaleDb({ ...pg, schema, poolMax: parallel + 2 });
let server: Awaited<ReturnType<typeof serveDpc>> | undefined;
let feeder: NodeJS.Timeout | undefined;
try {
  log(`PostgreSQL ${pg.user}@${pg.host}:${pg.port}/${pg.database}, schema ${schema}; this machine ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
  if (!values['no-fill']) {
    await checkDisk(db, jobs, BYTES_PER_JOB + CONSOLE_BYTES_PER_JOB, values.force);
    rmSync(segments, { recursive: true, force: true });
    await fill(db, { workflows, jobs, chunk: positive('chunk', values.chunk), parallel, years: 3, schema, reset: values.reset, solutions: true });
    await fillConsole(db, { schema, logDir: segments, audit: 1_000_000, missionLog: 1_000_000, alerts: 10_000, users: 40, configs: 24, monitorDays: 365, longLogMb: 16, chunk: positive('chunk', values.chunk), parallel });
  }
  const scale = ((await db.knex.raw('select (select count(*) from rms_workflow) as w, (select max(id) from rms_job) as j')) as { rows: { w: string; j: string }[] }).rows[0];

  // The server: its own process, its own configuration (no retention: it would start deleting the filled past).
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      http: { host: '127.0.0.1', port: 0 },
      db: { client: 'postgresql', postgresql: { ...pg, schema } },
      log: { dir: join(dir, 'log'), console: false, level: 'info' },
      rms: { demo: false, descriptors: [benchWorkflows], retention: { enabled: false } },
      pfs: { jobLog: { dir: segments } },
      dss: { root: join(dir, 'dss'), minFreeMb: 0 },
      smas: { monitor: { diskMinFreeMb: 0, diskMinFreePercent: 0 } },
    }),
  );
  const env = { DPC_CONFIG: configFile, DPC_LOG__DIR: join(dir, 'log') };
  server = await serveDpc(env, { timeoutMs: 120_000 });
  const base = server.url.replace(/\/$/, '');
  log(`dpc serve (pid ${server.child.pid}) at ${base}`);

  // Signed in twice: a session for the pages, an API token for the twins.
  const config = loadConfig({ env });
  const accounts = openAccounts(db, config);
  const username = `bench-${randomBytes(3).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  await accounts.create({ username, role: 'operator', password }, { username: 'console-benchmark' });
  const token = (await accounts.createToken(username, 'console benchmark', { username: 'console-benchmark' })).token;
  const session = await signIn(base, username, password);
  const apiHeaders = { authorization: `Bearer ${token}` };
  const pageHeaders = { cookie: session.cookie };
  const getJson = async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers: apiHeaders });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return res.json() as Promise<unknown>;
  };

  const now = Date.now();
  log(`finding the keys (deep pages ${deepPages} pages of 50 in) …`);
  const keys = await findKeys(db.knex, getJson, deepPages, now);
  log(`keys: ${JSON.stringify(keys)}`);

  // The queue, at a stated rate: a workflow of queueRate no-op jobs started every second.
  const started: number[] = [];
  const startOne = async () => {
    const res = await fetch(`${base}/api/rms/workflows`, { method: 'POST', headers: { ...apiHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', params: { jobs: queueRate } }) });
    if (res.status !== 201) throw new Error(`starting a feeder workflow: ${res.status} ${await res.text()}`);
    started.push(((await res.json()) as { id: number }).id);
  };
  await startOne();
  feeder = setInterval(() => void startOne().catch((err: unknown) => log(`feeder: ${String(err)}`)), 1000);
  const ended = async () =>
    Number(
      ((await db.knex.raw(
        `select coalesce(sum(c.jobs), 0) as n from rms_job_count c join rms_workflow w on w.id = c.workflowid where w.name = 'bench' and c.status in ('SUCCESS', 'FAILED', 'CANCELLED')`,
      )) as { rows: { n: string }[] }).rows[0].n,
    );

  const results: Result[] = [];
  for (const t of TARGETS) {
    if (only && !only.test(t.name)) continue;
    for (const kind of ['page', 'api'] as const) {
      const build = kind === 'page' ? t.page : t.api;
      if (!build) continue;
      const path = build(keys);
      const headers = kind === 'page' ? pageHeaders : apiHeaders;
      const probe = await fetch(`${base}${path}`, { headers, redirect: 'manual' });
      const text = await probe.text();
      const label = `${t.name} [${kind}] ${path}`;
      if (probe.status === 404) {
        log(`${label}: (not built) 404 ${text.replace(/\s+/g, ' ').slice(0, 120)}`);
        results.push({ target: t.name, kind, path, status: 'not built', ramp: [] });
        continue;
      }
      const problem = probe.status >= 200 && probe.status < 300 ? undefined : `${probe.status} ${text.replace(/\s+/g, ' ').slice(0, 300)}`;
      if (problem) log(`${label}: answered ${problem}`);
      await offer(`${base}${path}`, headers, rate, warmupSeconds);
      const before = await ended();
      const t0 = Date.now();
      const load = await offer(`${base}${path}`, headers, rate, seconds);
      const queueJobsPerSec = Math.round(((await ended()) - before) / ((Date.now() - t0) / 1000));
      const steps: Load[] = [];
      let maxRate = passes(load) ? rate : 0;
      if (ramp && maxRate > 0) {
        for (let r = rate * 2; r <= rampMax; r *= 2) {
          const step = await offer(`${base}${path}`, headers, r, rampSeconds);
          steps.push(step);
          if (!passes(step)) break;
          maxRate = r;
        }
      }
      log(`${label}: p50 ${load.p50} ms, p99 ${load.p99} ms, ${load.errors + load.non2xx} errors/non-2xx${load.non2xx ? ` ${JSON.stringify(load.statuses)}` : ''}, ${load.achieved}/s; max ${maxRate === 0 ? `< ${rate}` : maxRate}/s with p99 < ${GOAL_P99_MS} ms; queue ${queueJobsPerSec} jobs/s`);
      results.push({ target: t.name, kind, path, status: 'measured', load, queueJobsPerSec, ramp: steps, maxRate, problem });
    }
  }
  clearInterval(feeder);
  feeder = undefined;

  const measured = results.filter((r) => r.status === 'measured');
  const failing = measured.filter((r) => !passes(r.load!));
  const queueRates = measured.map((r) => r.queueJobsPerSec!).sort((a, b) => a - b);
  const out = (s: string) => process.stdout.write(s);
  out(`\nThe console at ${grouped(Number(scale.w))} workflows, ${grouped(Number(scale.j))} jobs (schema ${schema}); ${rate} requests/s offered per target for ${seconds} s, warm, signed in, autocannon on loopback; server: dpc serve, pid ${server.child.pid}.\n`);
  out(`Queue: a workflow of ${queueRate} no-op jobs started every second (${queueRate} jobs/s offered); achieved during the timed runs: median ${queueRates[Math.floor(queueRates.length / 2)] ?? 0} jobs/s, ${queueRates[0] ?? 0}–${queueRates[queueRates.length - 1] ?? 0}.\n\n`);
  const w = Math.max(...results.map((r) => r.target.length + 7));
  out(`${'target'.padEnd(w)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)} ${'max rate p99<100ms'.padStart(19)} ${'queue jobs/s'.padStart(12)}\n`);
  for (const r of results) {
    const name = `${r.target} [${r.kind}]`.padEnd(w);
    if (r.status === 'not built') {
      out(`${name} (not built)\n`);
      continue;
    }
    const l = r.load!;
    const max = r.maxRate === 0 ? `< ${rate}` : `${r.maxRate}${ramp && r.ramp.length > 0 && passes(r.ramp[r.ramp.length - 1]) ? '+' : ''}`;
    out(`${name} ${String(l.p50).padStart(8)} ${String(l.p99).padStart(8)} ${String(l.errors + l.non2xx).padStart(7)} ${max.padStart(19)} ${String(r.queueJobsPerSec).padStart(12)}\n`);
  }
  out(`\nGoal: p99 < ${GOAL_P99_MS} ms at ${rate} requests/s, every answer a 2xx, at least 90 % of the offered rate answered. "+": the ramp stopped at --ramp-max.\n`);
  for (const r of failing) out(`  fails: ${r.target} [${r.kind}] ${r.path}: p99 ${r.load!.p99} ms, ${r.load!.achieved}/s answered, statuses ${JSON.stringify(r.load!.statuses)}${r.problem ? `, first answer ${r.problem}` : ''}\n`);
  out(`Verdict: ${failing.length === 0 ? 'PASS' : 'FAIL'} (${measured.length - failing.length} of ${measured.length} measured targets meet the goal; ${results.length - measured.length} not built)\n`);
  if (failing.length > 0) process.exitCode = 1;

  if (values.json) {
    writeFileSync(
      values.json,
      `${JSON.stringify({ date: new Date().toISOString(), schema, workflows: Number(scale.w), jobs: Number(scale.j), rate, seconds, rampSeconds, rampMax, queueRate, goalP99Ms: GOAL_P99_MS, keys, results, verdict: failing.length === 0 ? 'PASS' : 'FAIL' }, null, 2)}\n`,
    );
    log(`figures written to ${values.json}`);
  }
} catch (err) {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
} finally {
  if (feeder) clearInterval(feeder);
  if (server) await server.stop();
  if (!values.keep) {
    await db.knex.raw('drop schema if exists ?? cascade', [schema]);
    rmSync(dir, { recursive: true, force: true });
    log(`dropped schema ${schema} and ${dir} (pass --keep to keep them, then --no-fill to run again)`);
  }
  await db.knex.destroy();
}
